# A restart interval below 5s is refused by Nomad; supd accepts it with a
# warning (DESIGN §3), at group and at task level.
#
# expect: ok
# expect: 10:5 warning: restart interval 3s is below 5s, which Nomad refuses (supd accepts it)
# expect: 29:7 warning: restart interval 500ms is below 5s, which Nomad refuses (supd accepts it)

job "fast" {
  group "g" {
    restart {
      attempts = 2
      interval = "3s"
      delay    = "1s"
      mode     = "fail"
    }

    task "a" {
      driver = "exec"
      config {
        command = "/bin/false"
      }
    }

    task "b" {
      driver = "exec"
      config {
        command = "/bin/false"
      }
      restart {
        attempts = 0
        interval = "500ms"
      }
    }
  }
}
