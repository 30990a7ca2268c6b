job "example" {
  datacenters = ["dc1"]
  type = "service"
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }
  group "cache" {
    count = 1
    restart {
      attempts = 2
      interval = "30m"
      delay = "15s"
      mode = "fail"
    }
    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "1hr"
      unlimited      = true
    }
    task "redis" {
      driver = "docker"
      config {
        image = "redis:3.2"
      }
      resources {
        cpu    = 500 # 500 MHz
        memory = 256 # 256MB
      }
      service {
        check_restart {
          limit = 3
          grace = "90s"
          ignore_warnings = false
        }
      }
    }
  }
}

# The source article's job (../shared/reference/000_0aa0e9b9e27e1184.txt) as
# assembled from its snippets, line for line. Its expectations follow the
# job, so that the job keeps the article's line numbers: the docker driver
# loads, and max_delay = "1hr" loads with a warning.
#
# expect: ok
# expect: 19:24 warning: `max_delay`: duration "1hr" uses the unit "hr", which Nomad refuses — write "h" (read here as hours)
# expect: 32:9 warning: check_restart has no effect: service "example-cache-redis" has no check — add a `check` block
