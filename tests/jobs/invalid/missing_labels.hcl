# Missing, empty and extra names on job, group, task and port blocks.
#
# expect: 13:1 error: job block has no name — write job "NAME" { … }
# expect: 24:5 error: the job name is empty — write job "NAME" { … }
# expect: 36:3 error: this group has no task — add `task "NAME" { driver = "exec" config { command = "…" } }`
# expect: 36:13 error: group block takes one name, found 2 — write group "NAME" { … }
# expect: 39:3 error: group block has no name — write group "NAME" { … }
# expect: 39:3 error: this group has no task — add `task "NAME" { driver = "exec" config { command = "…" } }`
# expect: 44:7 error: port block has no name — write port "http" { static = 8080 }
# expect: 49:5 error: task block has no name — write task "NAME" { … }
# expect: 49:5 warning: this task has no config block: its start will fail (a Driver Failure) — add `config { command = "…" }`

job {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "web" {
  group "a" "b" {
  }

  group {
  }

  group "g" {
    network {
      port {
        static = 8080
      }
    }

    task {
      driver = "exec"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
