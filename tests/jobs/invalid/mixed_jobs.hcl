# One valid and one invalid job in a file: the file is invalid; the valid
# job's own warnings are still reported.
#
# expect: 7:1 warning: job "good" runs in datacenters ["eu-west"] but this node is in "dc1" — add "dc1" to `datacenters`
# expect: 28:18 error: `memory` must be between 10 and 4294967295, found 5

job "good" {
  datacenters = ["eu-west"]

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
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      resources {
        memory = 5
      }
    }
  }
}
