# Script checks: a group service's script check must name a task, and a
# script check needs a command.
#
# expect: 11:7 error: script checks of a group service need `task` (in the check or its service) — name the task whose user and environment the script runs with
# expect: 26:9 error: script check has no `command` — add e.g. command = "/usr/local/bin/healthy"

job "web" {
  group "g" {
    service {
      name = "web"
      check {
        type     = "script"
        command  = "/usr/local/bin/healthy"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      service {
        name = "inner"
        check {
          type     = "script"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
