# A service-level check_restart with no check to watch has no effect: a
# warning, as in the source article's own service block.
#
# expect: ok
# expect: 15:9 warning: check_restart has no effect: service "web-g-t" has no check — add a `check` block

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/usr/local/bin/web"
      }
      service {
        check_restart {
          limit = 3
          grace = "90s"
        }
      }
    }
  }
}
