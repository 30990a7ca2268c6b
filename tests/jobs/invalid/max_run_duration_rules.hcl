# `max_run_duration` is refused where Nomad refuses it: on service and system
# jobs, at zero, and without a unit.
#
# expect: 11:5 error: `max_run_duration` is for batch and sysbatch jobs, and this is a service job — remove it, or set `type = "batch"` in the job
# expect: 24:24 error: `max_run_duration` must be greater than zero — write e.g. "30m", or remove it to let the task run as long as it needs
# expect: 33:24 error: `max_run_duration` = 60 has no unit — write a unit, e.g. "60s" (Nomad would read a bare number as nanoseconds)
# expect: 46:5 error: `max_run_duration` is for batch and sysbatch jobs, and this is a system job — remove it, or set `type = "batch"` in the job

job "web" {
  group "g" {
    max_run_duration = "1h"
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "once" {
  type = "batch"
  group "zero" {
    max_run_duration = "0s"
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
  group "bare" {
    max_run_duration = 60
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "agents" {
  type = "system"
  group "g" {
    max_run_duration = "5m"
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
