# version and semver constraints that do not parse; semver has no "~>".
#
# expect: 9:17 error: version constraint is invalid: malformed version: "banana"
# expect: 14:17 error: semver constraint is invalid: "~>" is not a semver operator in "~> 1.2.0" — use ">= x, < y"

job "web" {
  constraint {
    attribute = "${attr.kernel.version}"
    version   = ">= 1.2, < banana"
  }

  constraint {
    attribute = "${attr.os.version}"
    operator  = "semver"
    value     = "~> 1.2.0"
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
