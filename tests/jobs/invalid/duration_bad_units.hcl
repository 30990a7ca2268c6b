# Durations Go's grammar refuses: days, a space before the unit, an upper-case
# unit, a negative value, a malformed number, an empty string.
#
# expect: 14:18 error: `interval`: unknown unit "d" in duration "1d" — use ns, us, ms, s, m or h
# expect: 19:24 error: `kill_timeout`: unknown unit " h" in duration "1 h" — use ns, us, ms, s, m or h
# expect: 20:24 error: `shutdown_delay`: unknown unit "S" in duration "5S" — use ns, us, ms, s, m or h
# expect: 28:22 error: `interval`: invalid duration "1.5.2s" — write e.g. "30s" or "1h30m"
# expect: 29:22 error: `timeout`: negative duration "-1s" — durations must be zero or positive
# expect: 31:21 error: `grace`: empty duration — write a number with a unit, e.g. "30s"

job "web" {
  group "g" {
    restart {
      interval = "1d"
    }

    task "t" {
      driver         = "exec"
      kill_timeout   = "1 h"
      shutdown_delay = "5S"
      config {
        command = "/bin/true"
      }
      service {
        port = 8080
        check {
          type     = "tcp"
          interval = "1.5.2s"
          timeout  = "-1s"
          check_restart {
            grace = ""
          }
        }
      }
    }
  }
}
