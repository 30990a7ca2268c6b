# Reschedule delays below Nomad's minimums (delay and max_delay 5s, limited
# interval 15s) are accepted with warnings (DESIGN §3).
#
# expect: ok
# expect: 12:5 warning: reschedule delay 1s is below 5s, which Nomad refuses (supd accepts it)
# expect: 12:5 warning: reschedule interval 10s is below 15s, which Nomad refuses (supd accepts it)
# expect: 29:5 warning: reschedule delay 1s is below 5s, which Nomad refuses (supd accepts it)
# expect: 29:5 warning: reschedule max_delay 2s is below 5s, which Nomad refuses (supd accepts it)

job "quick" {
  group "constant" {
    reschedule {
      attempts       = 3
      interval       = "10s"
      delay          = "1s"
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
      delay          = "1s"
      max_delay      = "2s"
      delay_function = "exponential"
      unlimited      = true
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
