# http checks: the path must be relative, the method a plain word; a zero
# interval is refused.
#
# expect: 20:22 error: http check path "http://localhost:8080/health" must be relative to the task's address — write just the path, e.g. "/health"
# expect: 28:22 error: invalid HTTP method "GET /" — use e.g. "GET" or "POST"
# expect: 35:22 error: check interval must be longer than 0 — e.g. "10s"

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
          name     = "absolute"
          type     = "http"
          path     = "http://localhost:8080/health"
          interval = "10s"
          timeout  = "2s"
        }
        check {
          name     = "method"
          type     = "http"
          path     = "/health"
          method   = "GET /"
          interval = "10s"
          timeout  = "2s"
        }
        check {
          name     = "zero"
          type     = "tcp"
          interval = "0s"
          timeout  = "2s"
        }
      }
    }
  }
}
