# Bools: a word that is not true/false, and a number.
#
# expect: 11:19 error: `unlimited` must be true or false, found a string
# expect: 16:16 error: `leader` must be true or false, found a number
# expect: 22:19 error: `sidecar` must be true or false, found a string
# expect: 27:29 error: `ignore_warnings` must be true or false, found a string

job "web" {
  group "g" {
    reschedule {
      unlimited = "yes"
    }

    task "t" {
      driver = "exec"
      leader = 1
      config {
        command = "/bin/true"
      }
      lifecycle {
        hook    = "prestart"
        sidecar = "no"
      }
      service {
        port = 8080
        check_restart {
          ignore_warnings = "off"
        }
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
