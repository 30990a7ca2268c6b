# A job-level reschedule that alone would be ambiguous, made limited by the group:
# Nomad checks the policy each group ends up with.
# expect: ok

job "web" {
  reschedule {
    attempts = 3
    interval = "1h"
  }

  group "g" {
    reschedule {
      unlimited = false
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
