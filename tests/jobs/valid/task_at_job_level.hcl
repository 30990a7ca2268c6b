# A `task` directly in a `job` is a group of the task's name with one
# instance, as Nomad's parser makes it.
#
# expect: ok

job "solo" {
  type = "batch"
  task "once" {
    driver = "raw_exec"
    config {
      command = "/bin/true"
    }
  }
}
