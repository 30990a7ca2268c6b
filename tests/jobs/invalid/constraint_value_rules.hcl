# is_set and is_not_set take no value; set_contains* need one; comparisons
# need one.
#
# expect: 13:17 error: operator "is_set" takes no `value` — remove it
# expect: 19:17 error: operator "is_not_set" takes no `value` — remove it
# expect: 25:17 error: operator "set_contains" needs a `value` listing the items
# expect: 30:17 error: operator "set_contains_any" needs a `value` listing the items
# expect: 36:17 error: operator ">" needs a `value` to compare with

job "web" {
  constraint {
    attribute = "${meta.rack}"
    operator  = "is_set"
    value     = "r1"
  }

  constraint {
    attribute = "${meta.zone}"
    operator  = "is_not_set"
    value     = "z"
  }

  constraint {
    attribute = "${attr.cpu.flags}"
    operator  = "set_contains"
  }

  constraint {
    attribute = "${attr.cpu.flags}"
    operator  = "set_contains_any"
    value     = ""
  }

  constraint {
    attribute = "${attr.cpu.numcores}"
    operator  = ">"
  }

  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
