# Bad lifecycle hook and check initial_status, with suggestions.
#
# expect: 14:16 error: invalid hook "prestrat" — did you mean "prestart"? (hook is one of "prestart", "poststart", "poststop")
# expect: 22:28 error: invalid initial_status "passng" — did you mean "passing"? (initial_status is one of "passing", "warning", "critical", "")

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      lifecycle {
        hook = "prestrat"
      }
      service {
        port = 8080
        check {
          type           = "tcp"
          interval       = "10s"
          timeout        = "2s"
          initial_status = "passng"
        }
      }
    }
  }
}
