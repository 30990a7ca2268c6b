# A single string where a list of strings goes: the message shows the fix.
#
# expect: 8:17 error: `datacenters` must be a list of strings — write ["dc1"]
# expect: 15:19 error: `args` must be a list of strings — write ["3600"]
# expect: 19:16 error: `tags` must be a list of strings — write ["web"]

job "web" {
  datacenters = "dc1"

  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = "3600"
      }
      service {
        port = 8080
        tags = "web"
      }
    }
  }
}
