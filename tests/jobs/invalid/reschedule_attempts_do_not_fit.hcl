# A limited reschedule policy whose attempts cannot fit in its interval given
# the delay progression (Nomad's viableAttempts), for each delay function.
#
# expect: 10:5 error: only 2 of 5 reschedule attempts fit in 1m0s with initial delay 30s, delay function "constant" — set interval to at least 2m30s
# expect: 27:5 error: only 3 of 5 reschedule attempts fit in 1m0s with initial delay 10s, delay function "exponential" and delay ceiling 1h0m0s — set interval to at least 2m40s
# expect: 45:5 error: only 7 of 10 reschedule attempts fit in 1m0s with initial delay 5s, delay function "fibonacci" and delay ceiling 30s — set interval to at least 2m30s

job "web" {
  group "constant" {
    reschedule {
      attempts       = 5
      interval       = "1m"
      delay          = "30s"
      delay_function = "constant"
      unlimited      = false
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }

  group "exponential" {
    reschedule {
      attempts       = 5
      interval       = "1m"
      delay          = "10s"
      delay_function = "exponential"
      max_delay      = "1h"
      unlimited      = false
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }

  group "fibonacci" {
    reschedule {
      attempts       = 10
      interval       = "1m"
      delay          = "5s"
      delay_function = "fibonacci"
      max_delay      = "30s"
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
