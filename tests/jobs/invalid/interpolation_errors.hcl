# References to undeclared variables or locals are refused where they are
# written; `user` takes no interpolation. Any other name (`${foo.bar}`) is
# left as written, for the task's start, as Nomad's parser leaves it.
#
# expect: 20:41 error: undefined var.flags — declare it with `variable "NAME" { … }` at the top of the file
#
# expect: 23:14 error: `user` cannot use ${...} interpolation — write a plain value
# expect: 23:17 error: undefined local.user — define it in a `locals { … }` block
# expect: 24:22 error: undefined var.timeout — declare it with `variable "NAME" { … }` at the top of the file

locals {
  port = 8080
}

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/usr/local/bin/web ${var.flags}"
        args    = ["--workers", "${2 * 4}", "--name", "${foo.bar}"]
      }
      user = "${local.user}"
      kill_timeout = var.timeout
    }
  }
}
