# For exponential and fibonacci, max_delay must not be below delay; constant
# ignores max_delay.
#
# expect: 9:5 error: reschedule max_delay 1m0s is below delay 2m0s — raise max_delay
# expect: 24:5 error: reschedule max_delay 1h0m0s is below delay 2h0m0s — raise max_delay

job "web" {
  group "fib" {
    reschedule {
      delay          = "2m"
      max_delay      = "1m"
      delay_function = "fibonacci"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }

  group "exp" {
    reschedule {
      delay = "2h"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }

  group "const" {
    reschedule {
      delay          = "2m"
      max_delay      = "1m"
      delay_function = "constant"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
