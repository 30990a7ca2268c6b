# Check intervals and timeouts below 1s are refused by Nomad; supd accepts
# them with a warning.
#
# expect: ok
# expect: 19:22 warning: check interval 500ms is below 1s, which Nomad refuses (supd accepts it)
# expect: 20:22 warning: check timeout 200ms is below 1s, which Nomad refuses (supd accepts it)

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/usr/local/bin/web"
      }
      service {
        port = 8080
        check {
          type     = "tcp"
          interval = "500ms"
          timeout  = "200ms"
        }
      }
    }
  }
}
