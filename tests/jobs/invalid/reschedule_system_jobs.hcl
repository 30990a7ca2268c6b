# System and sysbatch jobs run on every node and cannot have a reschedule
# policy, at job or group level.
#
# expect: 11:3 error: system jobs cannot have a reschedule policy — they run on every node; remove the `reschedule` block
# expect: 16:5 error: system jobs cannot have a reschedule policy — they run on every node; remove the `reschedule` block
# expect: 34:5 error: sysbatch jobs cannot have a reschedule policy — they run on every node; remove the `reschedule` block

job "agent" {
  type = "system"

  reschedule {
    delay = "30s"
  }

  group "g" {
    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "sweep" {
  type = "sysbatch"

  group "g" {
    reschedule {}

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
