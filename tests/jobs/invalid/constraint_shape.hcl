# A constraint without an attribute, and one that sets its operator twice.
#
# expect: 8:5 error: constraint has no `attribute` — add e.g. attribute = "${attr.kernel.name}"
# expect: 16:7 error: `regexp` sets the operator, which this constraint already sets — keep one of them

job "web" {
  group "g" {
    constraint {
      operator = "="
      value    = "linux"
    }

    constraint {
      attribute = "${attr.kernel.name}"
      operator  = "="
      regexp    = "^lin"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
