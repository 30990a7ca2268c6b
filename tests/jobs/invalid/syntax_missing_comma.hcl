# A list missing its comma: `]` is expected where the second item starts.
#
# expect: 11:24 error: syntax error: expected `]` — check the brackets, quotes and `=` here

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/echo"
        args    = ["a" "b"]
      }
    }
  }
}
