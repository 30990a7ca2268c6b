# Unknown keys deep inside: config, resources, logs, lifecycle, reschedule,
# network/port, service, check, check_restart and constraint.
#
# expect: 19:7 error: unknown key `delay_fuction` in reschedule — did you mean `delay_function`?
# expect: 24:9 error: unknown key `statik` in port — did you mean `static`?
# expect: 32:9 error: unknown key `arg` in exec config — did you mean `args`?
# expect: 35:9 error: unknown key `cpus` in resources — did you mean `cpu`?
# expect: 38:9 error: unknown key `max_file` in logs — did you mean `max_files`?
# expect: 42:9 error: unknown key `sidcar` in lifecycle — did you mean `sidecar`?
# expect: 44:7 error: constraint has no `attribute` — add e.g. attribute = "${attr.kernel.name}"
# expect: 45:9 error: unknown key `atribute` in constraint — did you mean `attribute`?
# expect: 49:9 error: unknown key `prot` in service — did you mean `port`?
# expect: 53:11 error: unknown key `intervall` in check — did you mean `interval`?
# expect: 57:13 error: unknown key `limt` in check_restart — did you mean `limit`?

job "web" {
  group "g" {
    reschedule {
      delay_fuction = "constant"
    }

    network {
      port "http" {
        statik = 8080
      }
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
        arg     = ["x"]
      }
      resources {
        cpus = 100
      }
      logs {
        max_file = 3
      }
      lifecycle {
        hook   = "prestart"
        sidcar = true
      }
      constraint {
        atribute = "${attr.kernel.name}"
        value    = "linux"
      }
      service {
        prot = "http"
        check {
          type      = "tcp"
          port      = "http"
          intervall = "10s"
          interval  = "10s"
          timeout   = "2s"
          check_restart {
            limt = 3
          }
        }
      }
    }
  }
}
