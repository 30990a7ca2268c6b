# A string (or a bool) where a number goes.
#
# expect: 11:14 error: `priority` must be a number, found a string
# expect: 14:13 error: `count` must be a number, found a string
# expect: 17:18 error: `attempts` must be a number, found a string
# expect: 26:18 error: `cpu` must be a number, found a bool
# expect: 27:18 error: `memory` must be a number, found a string
# expect: 30:21 error: `max_files` must be a number, found a string

job "web" {
  priority = "high"

  group "g" {
    count = "two"

    restart {
      attempts = "3x"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      resources {
        cpu    = true
        memory = "lots"
      }
      logs {
        max_files = "ten"
      }
    }
  }
}
