# Network settings supd does not act on: a non-host mode and `mbits` warn
# (a port's `to` is where a container task listens); the file stays valid.
#
# expect: ok
# expect: 12:15 warning: network mode "bridge" is ignored by supd — tasks use the host's network
# expect: 13:7 warning: `mbits` in network is ignored by supd — it loads, but has no effect here
#

job "web" {
  group "g" {
    network {
      mode  = "bridge"
      mbits = 10
      port "http" {
        to = 8080
      }
    }

    task "t" {
      driver = "exec"
      config {
        command = "/usr/local/bin/web"
        args    = ["--port", "${NOMAD_PORT_http}"]
      }
    }
  }
}
