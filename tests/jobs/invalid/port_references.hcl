# A service or check port must name a port the group declares (with a
# suggestion), or be a number; checks need a port from somewhere.
#
# expect: 24:16 error: unknown port label "htp" — did you mean "http"?
# expect: 28:16 error: unknown port label "metrics" — the group declares "http", "admin"
# expect: 32:16 error: `port` 0 is not a port — use 1 to 65535 or a port label
# expect: 36:9 error: tcp check "no-port" has no port — set `port` on the check or on its service (a number or a label from the group's network block)
# expect: 53:16 error: unknown port label "web" — declare it in the group: network { port "web" { static = 8080 } }

job "web" {
  group "g" {
    network {
      port "http" {}
      port "admin" {}
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      service {
        name = "a"
        port = "htp"
      }
      service {
        name = "b"
        port = "metrics"
      }
      service {
        name = "zero"
        port = "0"
      }
      service {
        name = "c"
        check {
          name     = "no-port"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }

  group "h" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      service {
        port = "web"
      }
    }
  }
}
