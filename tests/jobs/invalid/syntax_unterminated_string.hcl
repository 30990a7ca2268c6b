# An unterminated string is reported where it starts.
# expect: 9:19 error: unterminated string — close it with `"` on the same line

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true
      }
    }
  }
}
