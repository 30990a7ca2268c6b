# A local that fails is said once, where it is defined: a string that
# interpolates it and a local that did evaluate says nothing more (the
# good local was not "undeclared").
#
# expect: 9:7 error: local `l`: log(): the result is not a finite number

locals {
  n = pow(2, 10)
  l = log(-1, 2)
}

job "calc" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ${local.n} ${local.l}"]
      }
    }
  }
}
