# Nomad's documented block form of an http check's `header`, and SIGXFSZ.
# expect: ok

job "web" {
  group "g" {
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
        port = "http"
        check {
          type     = "http"
          path     = "/health"
          interval = "10s"
          timeout  = "2s"
          header {
            Accept = ["application/json"]
          }
        }
      }
      kill_signal = "SIGXFSZ"
    }
  }
}
