# An exec task's config without `command`, and an empty command.
#
# expect: 10:7 error: task "a" config has no `command` — add e.g. `command = "/usr/bin/redis-server"`
# expect: 18:19 error: `command` is empty — name the program to run, e.g. "/usr/bin/redis-server"

job "web" {
  group "g" {
    task "a" {
      driver = "exec"
      config {
        args = ["--port", "8080"]
      }
    }

    task "b" {
      driver = "raw_exec"
      config {
        command = ""
      }
    }
  }
}
