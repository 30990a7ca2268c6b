# Locals that refer to each other in a cycle: the chain is named.
#
# expect: 6:7 error: locals refer to each other in a cycle: local.a → local.b → local.c → local.a — break the cycle

locals {
  a = "${local.b}-x"
  b = local.c
  c = upper(local.a)
}

job "web" {
  task "t" {
    driver = "raw_exec"
    config {
      command = local.a
    }
  }
}
