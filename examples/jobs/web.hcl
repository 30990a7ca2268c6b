# A small web service with an HTTP health check: Python's built-in file
# server on port 8088, checked every 5 seconds.
job "web" {
  type = "service"

  group "site" {
    network {
      port "http" {
        static = 8088
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "2s"
      mode     = "delay"
    }

    task "server" {
      driver = "raw_exec"

      config {
        command  = "/usr/bin/python3"
        args     = ["-m", "http.server", "${NOMAD_PORT_http}", "--bind", "127.0.0.1"]
        work_dir = "/tmp"
      }

      env {
        PYTHONUNBUFFERED = "1"
      }

      kill_timeout = "3s"
      kill_signal  = "SIGTERM"

      service {
        name = "web"
        port = "http"

        check {
          type     = "http"
          path     = "/"
          interval = "5s"
          timeout  = "1s"

          check_restart {
            limit = 3
            grace = "10s"
          }
        }
      }
    }
  }
}
