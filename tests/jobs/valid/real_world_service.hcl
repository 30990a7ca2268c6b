# A real-world-looking Nomad service job: exec and raw_exec tasks, static and
# dynamic ports, http and tcp checks, check_restart, restart and reschedule.
#
# expect: ok

job "api" {
  datacenters = ["dc1"]
  type        = "service"
  priority    = 60

  meta {
    team = "platform"
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "api" {
    count = 1

    network {
      port "http" {
        static = 18080
      }
      port "metrics" {}
    }

    restart {
      attempts = 3
      interval = "10m"
      delay    = "20s"
      mode     = "delay"
    }

    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "10m"
      unlimited      = true
    }

    service {
      name = "api-metrics"
      port = "metrics"
      tags = ["metrics"]

      check {
        type     = "tcp"
        interval = "15s"
        timeout  = "3s"
      }
    }

    task "server" {
      driver = "exec"

      config {
        command = "/usr/local/bin/api-server"
        args    = ["--listen", "0.0.0.0:${NOMAD_PORT_http}", "--metrics", ":${NOMAD_PORT_metrics}"]
      }

      env {
        LOG_LEVEL = "info"
        DC        = "${node.datacenter}"
      }

      user         = "nobody"
      kill_signal  = "SIGTERM"
      kill_timeout = "20s"

      logs {
        max_files     = 5
        max_file_size = 20
      }

      resources {
        cpu        = 500
        memory     = 256
        memory_max = 512
      }

      service {
        name = "api"
        port = "http"
        tags = ["http", "v1"]

        check {
          name     = "api-health"
          type     = "http"
          path     = "/healthz"
          method   = "GET"
          interval = "10s"
          timeout  = "2s"
        }

        check {
          name     = "api-port"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }

        check_restart {
          limit           = 3
          grace           = "90s"
          ignore_warnings = false
        }
      }
    }

    task "log-shipper" {
      driver = "raw_exec"

      lifecycle {
        hook    = "poststart"
        sidecar = true
      }

      config {
        command = "/usr/bin/tail"
        args    = ["-F", "${NOMAD_ALLOC_DIR}/logs/server.stdout.0"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
