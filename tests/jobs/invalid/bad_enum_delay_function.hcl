# A bad reschedule delay_function, with a suggestion, at job and group level.
#
# expect: 8:22 error: invalid delay_function "exponentail" — did you mean "exponential"? (delay_function is one of "constant", "exponential", "fibonacci")
# expect: 13:24 error: invalid delay_function "linear" — use one of "constant", "exponential", "fibonacci"

job "web" {
  reschedule {
    delay_function = "exponentail"
  }

  group "g" {
    reschedule {
      delay_function = "linear"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
