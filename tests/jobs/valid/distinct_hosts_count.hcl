# distinct_hosts (and distinct_property) hold trivially on one host, but a
# count above what they allow per host cannot be placed here: a warning.
#
# expect: ok
# expect: 12:5 warning: distinct_hosts allows 1 instance(s) of group "web" per host, but count = 2: only 1 can be placed on this host
# expect: 28:5 warning: distinct_property allows 2 instance(s) of group "db" per host, but count = 3: only 2 can be placed on this host

job "spread-out" {
  group "web" {
    count = 2

    constraint {
      distinct_hosts = true
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["60"]
      }
    }
  }

  group "db" {
    count = 3

    constraint {
      distinct_property = "${node.datacenter}"
      value             = "2"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["60"]
      }
    }
  }
}
