# attempts = 0 with unlimited = false disables rescheduling: no further rules
# apply. A batch job's defaults (1 attempt in 24h) and a limited fibonacci
# policy that fits its interval are valid too.
#
# expect: ok
# jobs: 2

job "once" {
  group "g" {
    reschedule {
      attempts  = 0
      unlimited = false
      delay     = "1ms"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }

  group "fib" {
    reschedule {
      attempts       = 4
      interval       = "2m"
      delay          = "10s"
      delay_function = "fibonacci"
      max_delay      = "1m"
      unlimited      = false
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "batch" {
  type = "batch"

  reschedule {
    attempts = 3
    interval = "1h"
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
