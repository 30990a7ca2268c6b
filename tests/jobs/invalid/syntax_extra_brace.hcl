# One closing brace too many.
#
# expect: 15:1 error: syntax error: unexpected token — check the brackets, quotes and `=` here

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
}
