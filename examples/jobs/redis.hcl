# The source article's redis job ("Resilient infrastructure with Nomad:
# restarting tasks"), run as a host process: driver "exec" starts the
# system's redis-server instead of the docker image.
job "example" {
  datacenters = ["dc1"]
  type        = "service"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "cache" {
    count = 1

    network {
      port "db" {
        static = 6399
      }
    }

    # At most 2 restarts in 30 minutes, 15s apart; then give up.
    restart {
      attempts = 2
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    # Then hand the group to a peer host, backing off from 30s to an hour.
    # "1hr" is the article's own spelling: supd reads it as 1h and warns
    # that Nomad itself would want "1h".
    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "1hr"
      unlimited      = true
    }

    task "redis" {
      driver = "exec"

      config {
        command = "/usr/bin/redis-server"
        args    = ["--port", "${NOMAD_PORT_db}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
      }

      resources {
        cpu    = 500 # 500 MHz
        memory = 256 # 256MB
      }

      service {
        port = "db"

        # Restart redis after 3 consecutive failed checks, waiting 90s after
        # each start before counting.
        check_restart {
          limit           = 3
          grace           = "90s"
          ignore_warnings = false
        }

        check {
          name     = "redis-tcp"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
