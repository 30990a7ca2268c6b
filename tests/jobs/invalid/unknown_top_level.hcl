# Outside job blocks: a misspelt `job`, an attribute, and HCL variables,
# which supd does not evaluate.
#
# expect: 8:1 error: `variable` blocks are not supported — supd evaluates no HCL variables; write the values in place
# expect: 12:1 error: unexpected attribute `region` outside a job — a job file holds `job "NAME" { … }` blocks
# expect: 14:1 error: unknown block `jbo` — did you mean `job`? a job file holds `job "NAME" { … }` blocks

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
