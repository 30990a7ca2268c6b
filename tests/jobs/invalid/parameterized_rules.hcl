# `parameterized` as Nomad refuses it, and as supd refuses beside: a service
# job, an unknown payload rule, a key both required and optional, a job that
# is also periodic, and a payload file that leaves the task's directory.
#
# expect: 13:3 error: `parameterized` is for batch and sysbatch jobs, and this is a service job — set `type = "batch"` in the job, or remove the `parameterized` block
# expect: 27:21 error: invalid payload "sometimes" — use one of "optional", "required", "forbidden"
# expect: 29:21 error: meta key "b" is both required and optional — list it in `meta_required` or in `meta_optional`, not both
# expect: 35:16 error: `file` "../../etc/passwd" must be a relative path inside the task's `local/` directory — write e.g. "input.json" or "in/data.json"
# expect: 43:7 error: `dispatch_payload` has no `file` — add e.g. `file = "input.json"`
# expect: 53:3 error: a job cannot be both `periodic` and `parameterized` here — keep one of the two blocks, or launch the dispatches from a periodic job's task with `supctl job dispatch`

job "web" {
  parameterized {}
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "rules" {
  type = "batch"
  parameterized {
    payload       = "sometimes"
    meta_required = ["a", "b"]
    meta_optional = ["b"]
  }
  group "g" {
    task "t" {
      driver = "exec"
      dispatch_payload {
        file = "../../etc/passwd"
      }
      config {
        command = "/bin/true"
      }
    }
    task "u" {
      driver = "exec"
      dispatch_payload {}
      config {
        command = "/bin/true"
      }
    }
  }
}

job "both" {
  type = "batch"
  periodic {
    crons = ["@daily"]
  }
  parameterized {}
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
