# Nomad group-, task-, config-, resources- and service-level fields supd does
# not act on load with a warning each, and the file stays valid.
#
# expect: ok
# expect: 24:7 warning: `size` in ephemeral_disk is ignored by supd — it loads, but has no effect here
# expect: 27:5 warning: `volume` in group is ignored by supd — it loads, but has no effect here
# expect: 32:5 warning: supd scales nothing: a group's `scaling` only gives its count where `count` is not written (`min`) and bounds it (`min` to `max`)
# expect: 37:5 warning: `update` in group is ignored by supd — it loads, but has no effect here
# (the group's shutdown_delay loads without a warning: supd waits it)
# expect: 48:9 warning: `oom_score_adj` in exec config is ignored by supd — it loads, but has no effect here
# (the template block loads without a warning: supd renders it)
# (the artifact block loads without a warning: supd fetches it)
# expect: 60:7 warning: `volume_mount` in task is ignored by supd — it loads, but has no effect here
# expect: 65:7 warning: `vault` in task is ignored by supd — it loads, but has no effect here
# expect: 69:7 warning: `identity` in task is ignored by supd — it loads, but has no effect here
# expect: 74:9 warning: `cores` in resources is ignored by supd — it loads, but has no effect here
# expect: 80:9 warning: `address_mode` in service is ignored by supd — it loads, but has no effect here
# expect: 81:9 warning: `meta` in service is ignored by supd — it loads, but has no effect here
# expect: 88:11 warning: `on_update` in check is ignored by supd — it loads, but has no effect here

job "web" {
  group "g" {
    ephemeral_disk {
      size = 500
    }

    volume "data" {
      type   = "host"
      source = "data"
    }

    scaling {
      min = 1
      max = 3
    }

    update {
      canary = 1
    }

    shutdown_delay = "5s"

    task "t" {
      driver = "exec"

      config {
        command = "/usr/local/bin/web"
        oom_score_adj = 100
      }

      template {
        data        = "port = 8080"
        destination = "local/web.conf"
      }

      artifact {
        source = "https://example.com/web.tar.gz"
      }

      volume_mount {
        volume      = "data"
        destination = "/data"
      }

      vault {
        policies = ["web"]
      }

      identity {
        env = true
      }

      resources {
        cores  = 1
        memory = 128
      }

      service {
        port         = 8080
        address_mode = "host"
        meta {
          version = "1"
        }
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
          on_update = "ignore_warnings"
        }
      }
    }
  }
}
