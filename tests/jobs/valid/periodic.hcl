# `periodic` on batch jobs in every form Nomad's cron syntax takes: 5 fields,
# 6 with a trailing year, 7 with seconds first, shortcuts, names, the older
# single `cron`, a time zone, `prohibit_overlap` and `enabled`. Six fields
# whose year is `*` get a warning: they are often meant as seconds first.
#
# expect: ok
# expect: 46:14 warning: 6 fields are minute, hour, day of month, month, day of week and year in Nomad's syntax, so the first is minutes — if it is meant as seconds, write 7 fields: "*/2 * * * * * *"
# jobs: 3

job "backup" {
  type = "batch"
  periodic {
    crons            = ["30 2 * * MON-FRI", "0 4 1 * * 2099", "*/10 * * * * * *", "@weekly", "0 0 L * *"]
    prohibit_overlap = true
    time_zone        = "Europe/Berlin"
  }
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "report" {
  type = "sysbatch"
  periodic {
    cron    = "@daily"
    enabled = false
  }
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "sweep" {
  type = "batch"
  periodic {
    crons = ["*/2 * * * * *"]
  }
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
