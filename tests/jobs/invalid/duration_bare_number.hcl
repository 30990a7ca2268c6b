# A bare number as a duration: Nomad would read nanoseconds, supd asks for a
# unit.
#
# expect: 12:18 error: `interval` = 1800 has no unit — write a unit, e.g. "1800s" (Nomad would read a bare number as nanoseconds)
# expect: 13:18 error: `delay` = 15 has no unit — write a unit, e.g. "15s" (Nomad would read a bare number as nanoseconds)
# expect: 18:22 error: `kill_timeout` = 30 has no unit — write a unit, e.g. "30s" (Nomad would read a bare number as nanoseconds)

job "web" {
  group "g" {
    restart {
      attempts = 2
      interval = 1800
      delay    = 15
    }

    task "t" {
      driver       = "exec"
      kill_timeout = 30
      config {
        command = "/bin/true"
      }
    }
  }
}
