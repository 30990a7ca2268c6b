# Restart mode "delay" with 0 attempts is ambiguous (Nomad's rule), at group
# level and at task level over the group's policy.
#
# expect: 9:5 error: restart mode "delay" with 0 attempts is ambiguous — set attempts above 0, or use mode = "fail" to stop after the first failure
# expect: 32:7 error: restart mode "delay" with 0 attempts is ambiguous — set attempts above 0, or use mode = "fail" to stop after the first failure

job "web" {
  group "g" {
    restart {
      attempts = 0
      mode     = "delay"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }

  group "h" {
    restart {
      mode = "delay"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      restart {
        attempts = 0
      }
    }
  }
}
