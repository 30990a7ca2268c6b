# One mistake, one report: no rule checks on a block with a bad field, no
# "has no port" after a bad port label, no interval rules after a missing interval.
# expect: 12:18 error: `delay`: unknown unit " s" in duration "5 s" — use ns, us, ms, s, m or h
# expect: 15:5 error: reschedule attempts = 2 needs an interval — set e.g. interval = "1h"
# expect: 32:16 error: unknown port label "htp" — did you mean "http"?

job "web" {
  group "g" {
    restart {
      attempts = 3
      interval = "30s"
      delay    = "5 s"
    }

    reschedule {
      attempts  = 2
      unlimited = false
    }

    network {
      port "http" {
        static = 8080
      }
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      service {
        port = "htp"
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
