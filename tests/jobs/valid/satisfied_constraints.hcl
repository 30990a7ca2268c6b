# Constraints every Linux host running supd satisfies, one per operator
# family: no warnings.
#
# expect: ok

job "anywhere" {
  datacenters = ["dc*"]

  constraint {
    attribute = "${attr.kernel.name}"
    operator  = "=="
    value     = "linux"
  }

  constraint {
    attribute = "${attr.kernel.name}"
    regexp    = "^lin"
  }

  constraint {
    attribute = "${meta.not_there}"
    operator  = "!="
    value     = "x"
  }

  constraint {
    attribute = "${meta.not_there}"
    operator  = "is_not_set"
  }

  constraint {
    attribute = "${attr.driver.exec}"
    operator  = "is_set"
  }

  constraint {
    attribute = "${attr.cpu.numcores}"
    operator  = ">="
    value     = "1"
  }

  constraint {
    attribute = "${node.datacenter}"
    operator  = "set_contains_any"
    value     = "dc1,dc2"
  }

  group "g" {
    constraint {
      distinct_hosts = true
    }

    constraint {
      attribute = "${attr.kernel.name}"
      set_contains = "linux"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
