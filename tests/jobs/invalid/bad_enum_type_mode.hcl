# Bad enum values with a suggestion: job type and restart mode.
#
# expect: 7:10 error: invalid type "servce" — did you mean "service"? (type is one of "service", "batch", "system", "sysbatch")
# expect: 11:14 error: invalid mode "delya" — did you mean "delay"? (mode is one of "fail", "delay")

job "web" {
  type = "servce"

  group "g" {
    restart {
      mode = "delya"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
