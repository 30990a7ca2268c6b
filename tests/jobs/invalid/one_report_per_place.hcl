# A service-level problem shared by two checks is reported once.
# expect: 12:20 error: check_restart ignore_warnings = true cannot be used with provider = "nomad" (Nomad checks have no warning state) — remove one of them

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      service {
        provider = "nomad"
        port     = 8080
        check_restart {
          ignore_warnings = true
        }
        check {
          name     = "a"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
        check {
          name     = "b"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
