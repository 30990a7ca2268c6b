# The fields of a template block, checked as Nomad checks them: a destination
# outside the task directory, perms, change_mode with env, script without its
# block, data and source together, neither of them, no destination.
#
# expect: 29:23 error: destination "../../etc/passwd" is outside the task directory — write a path under local/, secrets/ or tmp/ (or ${NOMAD_ALLOC_DIR}/ for the group's shared alloc/)
# expect: 30:23 error: `perms` "999" is not an octal file mode — write e.g. "0640"
# expect: 37:23 error: env templates cannot use change_mode "signal" — a running task does not re-read its environment; use "restart"
# expect: 41:9 error: a template has `data` or `source`, not both — remove one of them
# expect: 44:25 error: change_mode "script" needs a change_script block — add change_script { command = "/path/to/script" }
# expect: 45:25 error: unknown signal "SIGHUPP" — did you mean "SIGHUP"?
# expect: 48:7 error: template has neither `data` nor `source` — add data = <<EOT … EOT, or source = "path/to/file.tpl"
# expect: 48:7 error: template has no `destination` — add e.g. destination = "local/app.conf"
# expect: 49:23 error: invalid change_mode "reload" — use one of "noop", "restart", "signal", "script"
# expect: 54:23 error: destination "${NOMAD_ALLOC_DIR}/../other/x" is outside the task directory — write a path under local/, secrets/ or tmp/ (or ${NOMAD_ALLOC_DIR}/ for the group's shared alloc/)
# expect: 55:23 error: `uid` must be between 0 and 4294967295, found -1
# expect: 56:23 error: `splay` = 5 has no unit — write a unit, e.g. "5s" (Nomad would read a bare number as nanoseconds)
# expect: 58:9 error: change_script has no `command` — add e.g. command = "/usr/local/bin/reload"

job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/usr/local/bin/web"
      }

      template {
        data        = "x"
        destination = "../../etc/passwd"
        perms       = "999"
      }

      template {
        data        = "A=1"
        destination = "secrets/a.env"
        env         = true
        change_mode = "signal"
      }

      template {
        source        = "local/in.tpl"
        data          = "x"
        destination   = "local/x"
        change_mode   = "script"
        change_signal = "SIGHUPP"
      }

      template {
        change_mode = "reload"
      }

      template {
        data        = "x"
        destination = "${NOMAD_ALLOC_DIR}/../other/x"
        uid         = -1
        splay       = 5
        change_mode = "script"
        change_script {
          args = ["x"]
        }
      }
    }
  }
}
