# `max_run_duration` on the groups of batch and sysbatch jobs (Nomad 2.0):
# how long an instance may run before its tasks are stopped.
#
# expect: ok
# jobs: 2

job "nightly" {
  type = "batch"
  group "g" {
    max_run_duration = "2h30m"
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "everywhere" {
  type = "sysbatch"
  group "g" {
    max_run_duration = "10m"
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
