# The container example's job: Python's built-in file server on port 8080 of
# every interface (so that `docker run -p 8080:8080` reaches it), run as
# nobody, checked over HTTP every 5 seconds and restarted after 3 failed
# checks in a row. See supd-job(5) for every field.
job "web" {
  group "site" {
    network {
      port "http" {
        static = 8080
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "2s"
      mode     = "fail"
    }

    # raw_exec: it runs under Docker's default capabilities (exec would
    # need CAP_SYS_ADMIN and an unconfined seccomp profile).
    task "server" {
      driver = "raw_exec"
      user   = "nobody"

      config {
        command  = "/usr/bin/python3"
        args     = ["-m", "http.server", "${NOMAD_PORT_http}", "--bind", "0.0.0.0"]
        work_dir = "/tmp"
      }

      env {
        PYTHONUNBUFFERED = "1"
      }

      kill_signal  = "SIGTERM"
      kill_timeout = "5s"

      service {
        name = "web"
        port = "http"

        check {
          type     = "http"
          path     = "/"
          interval = "5s"
          timeout  = "2s"

          check_restart {
            limit = 3
            grace = "10s"
          }
        }
      }
    }
  }
}
