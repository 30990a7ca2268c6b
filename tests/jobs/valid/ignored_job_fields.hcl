# Nomad job-level fields supd does not act on load with a warning each, and
# the file stays valid.
#
# expect: ok
# expect: 16:3 warning: `namespace` in job is ignored by supd — it loads, but has no effect here
# expect: 17:3 warning: `node_pool` in job is ignored by supd — it loads, but has no effect here
# expect: 18:3 warning: `all_at_once` in job is ignored by supd — it loads, but has no effect here
# expect: 20:3 warning: `update` in job is ignored by supd — it loads, but has no effect here
# expect: 25:3 warning: `migrate` in job is ignored by supd — it loads, but has no effect here
# expect: 29:3 warning: `affinity` in job is ignored by supd — it loads, but has no effect here
# expect: 35:3 warning: `spread` in job is ignored by supd — it loads, but has no effect here
# expect: 39:3 warning: `vault` in job is ignored by supd — it loads, but has no effect here
# expect: 43:3 warning: `consul` in job is ignored by supd — it loads, but has no effect here

job "web" {
  namespace = "default"
  node_pool = "default"
  all_at_once = false

  update {
    max_parallel = 1
    stagger      = "30s"
  }

  migrate {
    max_parallel = 1
  }

  affinity {
    attribute = "${node.datacenter}"
    value     = "dc1"
    weight    = 100
  }

  spread {
    attribute = "${node.datacenter}"
  }

  vault {
    policies = ["web"]
  }

  consul {
    namespace = "default"
  }

  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["60"]
      }
    }
  }
}
