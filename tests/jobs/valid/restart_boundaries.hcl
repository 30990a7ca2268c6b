# Restart rules at their limits, all legal: attempts x delay equal to the
# interval, a zero delay, attempts = 0 with mode "fail" at task level, and the
# article's own restart block.
#
# expect: ok

job "edge" {
  group "exact" {
    restart {
      attempts = 2
      interval = "30s"
      delay    = "15s"
      mode     = "delay"
    }

    task "a" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }

    task "b" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      restart {
        attempts = 0
        mode     = "fail"
      }
    }
  }

  group "article" {
    restart {
      attempts = 2
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    task "c" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      restart {
        delay = "0s"
      }
    }
  }
}
