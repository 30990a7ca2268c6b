# A task without a driver, and one without a config block.
#
# expect: 8:5 error: task "a" has no driver — add `driver = "exec"` (or "raw_exec")
# expect: 14:5 warning: task "b" has no config block: its start will fail (a Driver Failure) — add `config { command = "…" }`

job "web" {
  group "g" {
    task "a" {
      config {
        command = "/bin/true"
      }
    }

    task "b" {
      driver = "exec"
    }
  }
}
