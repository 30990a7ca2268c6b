# Outside job blocks: a misspelt `job` and an attribute (a `variable`
# block is fine there).
#
# expect: 11:1 error: unexpected attribute `region` outside a job — a job file holds `job "NAME" { … }` blocks
# expect: 13:1 error: unknown block `jbo` — did you mean `job`? a job file holds `job "NAME" { … }` blocks

variable "image" {
  default = "redis"
}

region = "global"

jbo "web" {
}

job "ok" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
