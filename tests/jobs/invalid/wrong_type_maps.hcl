# Maps: env as a list, meta as a string, a header value that is not a list.
#
# expect: 8:10 error: `meta` must be a map such as { name = "value" }, found a string
# expect: 16:13 error: `env` must be a map such as { name = "value" }, found a list
# expect: 26:23 error: `header.X-Token` must be a list of strings — write ["secret"]

job "web" {
  meta = "tier=web"

  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      env = ["A=1"]
      service {
        port = 8080
        check {
          type     = "http"
          path     = "/health"
          interval = "10s"
          timeout  = "2s"
          header = {
            Accept = ["text/plain"]
            X-Token = "secret"
          }
        }
      }
    }
  }
}
