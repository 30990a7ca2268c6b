# provider = "nomad" checks have no warning state: check_restart
# ignore_warnings = true is refused, and so are script checks.
#
# expect: 16:20 error: check_restart ignore_warnings = true cannot be used with provider = "nomad" (Nomad checks have no warning state) — remove one of them
# expect: 30:20 error: provider = "nomad" supports only http and tcp checks — remove `provider` to run script checks

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      service {
        name     = "web"
        provider = "nomad"
        port     = 8080
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
          check_restart {
            limit           = 3
            ignore_warnings = true
          }
        }
      }
      service {
        name     = "script"
        provider = "nomad"
        check {
          type     = "script"
          command  = "/usr/local/bin/healthy"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
