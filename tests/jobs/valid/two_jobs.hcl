# Several jobs in one file: a service and a batch job, each valid.
#
# expect: ok
# jobs: 2

job "web" {
  group "web" {
    task "server" {
      driver = "exec"
      config {
        command = "/usr/bin/python3"
        args    = ["-m", "http.server", "8080"]
      }
    }
  }
}

job "nightly" {
  type = "batch"

  group "report" {
    restart {
      attempts = 1
      interval = "1h"
      delay    = "30s"
    }

    task "build" {
      driver = "raw_exec"
      config {
        command  = "/usr/local/bin/build-report"
        work_dir = "/var/tmp"
      }
    }
  }
}
