# check_restart limit and grace must not be negative.
#
# expect: 20:21 error: `limit` must be between 0 and 4294967295, found -1
# expect: 21:21 error: `grace`: negative duration "-90s" — durations must be zero or positive

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
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
          check_restart {
            limit = -1
            grace = "-90s"
          }
        }
      }
    }
  }
}
