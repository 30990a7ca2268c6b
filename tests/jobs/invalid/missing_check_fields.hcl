# Checks missing required fields: interval, timeout, an http check's path,
# the type itself.
#
# expect: 19:9 error: check has no `interval` — add e.g. interval = "10s"
# expect: 19:9 error: check has no `timeout` — add e.g. timeout = "2s"
# expect: 19:9 error: http check has no `path` — add e.g. path = "/health"
# expect: 23:9 error: check has no `timeout` — add e.g. timeout = "2s"
# expect: 28:9 error: check has no `type` — add type = "http", "tcp" or "script"

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      service {
        port = 8080
        check {
          name = "bare-http"
          type = "http"
        }
        check {
          name     = "no-timeout"
          type     = "tcp"
          interval = "5s"
        }
        check {
          name     = "no-type"
          interval = "5s"
          timeout  = "1s"
        }
      }
    }
  }
}
