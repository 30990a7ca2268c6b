# A UTF-8 byte-order mark is accepted; columns on line 1 stay as shown.
# expect: 11:16 error: `leader` must be true or false, found a string

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      leader = "yes"
    }
  }
}
