# A service job's reschedule with attempts but without unlimited = false
# inherits unlimited = true and is ambiguous (Nomad's rule, GH-5274).
#
# expect: 8:5 error: reschedule policy with attempts = 3, interval = 1h0m0s and unlimited = true is ambiguous — add `unlimited = false` to limit attempts (service jobs default to unlimited), or remove attempts

job "web" {
  group "g" {
    reschedule {
      attempts = 3
      interval = "1h"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
