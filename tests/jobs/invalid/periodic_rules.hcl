# `periodic` as Nomad refuses it, and what supd refuses beside: a service job,
# no schedule, `cron` and `crons` together, an expression that does not parse
# or never fires, an unknown time zone.
#
# expect: 19:3 error: `periodic` is for batch and sysbatch jobs, and this is a service job — set `type = "batch"` in the job, or remove the `periodic` block
# expect: 34:3 error: `periodic` has no schedule — add e.g. `crons = ["0 3 * * *"]`
# expect: 50:5 error: `cron` and `crons` are both set — move this expression into `crons` and remove `cron`
# expect: 66:14 error: cron expression "61 * * * *" is invalid: the minute field "61": number out of bounds — write 5 fields (minute hour day-of-month month day-of-week), e.g. "*/15 * * * *", 6 with a year last, 7 with seconds first and a year last, or a shortcut such as "@daily"
# expect: 66:28 error: cron expression "* * *" is invalid: it has 3 fields — write 5 fields (minute hour day-of-month month day-of-week), e.g. "*/15 * * * *", 6 with a year last, 7 with seconds first and a year last, or a shortcut such as "@daily"
# expect: 66:37 error: cron expression "0 0 30 2 *" never fires — check that the day of month exists in the month, and that the year is not past
# expect: 66:51 error: cron expression "0 0 1 1 * 2001" never fires — check that the day of month exists in the month, and that the year is not past
# expect: 66:69 error: cron expression "@sometimes" is invalid: unknown shortcut — use one of @yearly, @annually, @monthly, @weekly, @daily, @hourly
# expect: 66:83 error: cron expression "" is invalid: it is empty — write 5 fields (minute hour day-of-month month day-of-week), e.g. "*/15 * * * *", 6 with a year last, 7 with seconds first and a year last, or a shortcut such as "@daily"
# expect: 82:17 error: unknown time zone "Europe/Berln" — did you mean "Europe/Berlin"? write an IANA name from the system's time zone database (/usr/share/zoneinfo), e.g. "Europe/Berlin" or "America/New_York", or "UTC"
# expect: 98:17 error: unknown time zone "Mars/Olympus_Mons" — write an IANA name from the system's time zone database (/usr/share/zoneinfo), e.g. "Europe/Berlin" or "America/New_York", or "UTC"
# expect: 113:13 error: `crons` is empty — list at least one, e.g. ["0 3 * * *"]

job "web" {
  periodic {
    crons = ["@daily"]
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

job "empty" {
  type = "batch"
  periodic {
    prohibit_overlap = true
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

job "both" {
  type = "batch"
  periodic {
    cron  = "@daily"
    crons = ["@hourly"]
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

job "bad" {
  type = "batch"
  periodic {
    crons = ["61 * * * *", "* * *", "0 0 30 2 *", "0 0 1 1 * 2001", "@sometimes", ""]
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

job "zone" {
  type = "batch"
  periodic {
    crons     = ["@daily"]
    time_zone = "Europe/Berln"
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

job "mars" {
  type = "batch"
  periodic {
    crons     = ["@daily"]
    time_zone = "Mars/Olympus_Mons"
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

job "list" {
  type = "batch"
  periodic {
    crons = []
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
