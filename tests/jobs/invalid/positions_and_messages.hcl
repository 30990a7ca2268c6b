# Positions at the offending value, and messages for numbers, durations,
# regexps, group check tasks and non-container drivers.
# expect: 14:25 error: distinct_property value "two" must be a count, e.g. "2"
# expect: 18:17 error: regular expression "linux(" does not compile: unclosed group
# expect: 22:13 error: `count` must be between 0 and 10000, found 99999999999999999999
# expect: 25:18 error: `interval`: duration "10" has no unit — write a unit, e.g. "10s"
# expect: 26:18 error: `delay` must not be negative — write e.g. "30s"
# expect: 34:20 error: the group has no task "servr" — did you mean "server"?
# expect: 41:16 error: driver "rkt" is not supported — supd runs tasks with driver "exec", "raw_exec", "java", "docker" or "podman"

job "web" {
  constraint {
    distinct_property = "${meta.rack}"
    value             = "two"
  }
  constraint {
    attribute = "${attr.kernel.name}"
    regexp    = "linux("
  }

  group "g" {
    count = 99999999999999999999

    restart {
      interval = "10"
      delay    = -5
    }

    service {
      name = "grp"
      check {
        type     = "script"
        command  = "/bin/true"
        task     = "servr"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "server" {
      driver = "rkt"
      config {
        class = "Main"
      }
    }
  }
}
