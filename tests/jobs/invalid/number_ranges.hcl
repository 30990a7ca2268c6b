# Numbers out of range or not whole: priority 1-100, memory at least 10,
# static ports 1-65535, memory_max not below memory, whole attempts.
#
# expect: 11:14 error: `priority` must be between 1 and 100, found 101
# expect: 15:18 error: `attempts` must be a whole number, found 1.5
# expect: 20:18 error: `static` must be between 1 and 65535, found 70000
# expect: 31:22 error: `memory_max` (128 MB) is below `memory` (256 MB) — it is the hard limit, so make it at least 256, or -1 for none
# expect: 34:21 error: `max_files` must be between 1 and 10000, found 0

job "web" {
  priority = 101

  group "g" {
    restart {
      attempts = 1.5
    }

    network {
      port "http" {
        static = 70000
      }
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      resources {
        memory     = 256
        memory_max = 128
      }
      logs {
        max_files = 0
      }
    }
  }
}
