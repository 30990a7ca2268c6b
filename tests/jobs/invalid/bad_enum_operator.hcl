# A bad constraint operator, with a suggestion.
#
# expect: 9:19 error: invalid operator "regex" — did you mean "regexp"?

job "web" {
  group "g" {
    constraint {
      attribute = "${attr.kernel.name}"
      operator  = "regex"
      value     = "^linux$"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
