# Nomad job-level fields supd does not act on load with a warning each, and
# the file stays valid.
#
# expect: ok
# expect: 18:3 warning: `namespace` in job is ignored by supd — it loads, but has no effect here
# expect: 19:3 warning: `node_pool` in job is ignored by supd — it loads, but has no effect here
# expect: 20:3 warning: `all_at_once` in job is ignored by supd — it loads, but has no effect here
# expect: 22:3 warning: `update` in job is ignored by supd — it loads, but has no effect here
# expect: 27:3 warning: `migrate` in job is ignored by supd — it loads, but has no effect here
# expect: 31:3 warning: `affinity` in job is ignored by supd — it loads, but has no effect here
# expect: 37:3 warning: `spread` in job is ignored by supd — it loads, but has no effect here
# expect: 41:3 warning: `periodic` in job is ignored by supd — it loads, but has no effect here
# expect: 45:3 warning: `parameterized` in job is ignored by supd — it loads, but has no effect here
# expect: 49:3 warning: `vault` in job is ignored by supd — it loads, but has no effect here
# expect: 53:3 warning: `consul` in job is ignored by supd — it loads, but has no effect here

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

  periodic {
    crons = ["*/15 * * * *"]
  }

  parameterized {
    payload = "optional"
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
