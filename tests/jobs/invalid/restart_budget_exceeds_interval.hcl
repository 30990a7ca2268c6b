# attempts x delay must fit in the interval (Nomad's rule), at group level,
# and at task level where the task's block is merged over the group's.
#
# expect: 9:5 error: Nomad can't restart the task group 3 times in an interval of 30s with a delay of 15s — set interval to at least 45s, or lower attempts or delay
# expect: 34:7 error: Nomad can't restart the task 4 times in an interval of 1m0s with a delay of 20s — set interval to at least 1m20s, or lower attempts or delay

job "web" {
  group "g" {
    restart {
      attempts = 3
      delay    = "15s"
      interval = "30s"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }

  group "h" {
    restart {
      interval = "1m"
      delay    = "20s"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      restart {
        attempts = 4
      }
    }
  }
}
