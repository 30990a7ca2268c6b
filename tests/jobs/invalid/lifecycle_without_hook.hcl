# A lifecycle block must say which hook it is.
#
# expect: 12:7 error: lifecycle block has no `hook` — add hook = "prestart", "poststart" or "poststop"

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      lifecycle {
        sidecar = true
      }
    }
  }
}
