# `parameterized` on a batch job and `dispatch_payload` on its task: each
# `supctl job dispatch` runs a copy with its meta and payload.
#
# expect: ok

job "render" {
  type = "batch"
  parameterized {
    payload       = "required"
    meta_required = ["scene"]
    meta_optional = ["quality"]
  }
  group "g" {
    task "t" {
      driver = "exec"
      dispatch_payload {
        file = "in/scene.json"
      }
      config {
        command = "/bin/true"
      }
    }
  }
}
