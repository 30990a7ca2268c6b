# A job whose datacenters do not match this node's (dc1 without supd.toml)
# validates, with a warning that it would not run here.
#
# expect: ok
# expect: 7:1 warning: job "eu-only" runs in datacenters ["eu-*", "us-east-1"] but this node is in "dc1" — add "dc1" to `datacenters`

job "eu-only" {
  datacenters = ["eu-*", "us-east-1"]

  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
