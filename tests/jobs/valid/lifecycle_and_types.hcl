# A system job (no reschedule), a sysbatch job, lifecycle hooks, a leader,
# kill settings, and quoted numbers and bools that HCL converts.
#
# expect: ok
# jobs: 2

job "agent" {
  type     = "system"
  priority = "70"

  group "g" {
    count = "1"

    task "init" {
      driver = "exec"
      lifecycle {
        hook    = "prestart"
        sidecar = false
      }
      config {
        command = "/bin/mkdir"
        args    = ["-p", "/tmp/agent"]
      }
    }

    task "main" {
      driver         = "exec"
      leader         = "true"
      kill_signal    = "SIGTERM"
      kill_timeout   = "10s"
      shutdown_delay = "2s"
      user           = "nobody"
      config {
        command = "/usr/local/bin/agent"
      }
    }

    task "cleanup" {
      driver = "exec"
      lifecycle {
        hook = "poststop"
      }
      config {
        command = "/bin/rm"
        args    = ["-rf", "/tmp/agent"]
      }
    }
  }
}

job "sweep" {
  type = "sysbatch"

  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/usr/local/bin/sweep"
      }
    }
  }
}
