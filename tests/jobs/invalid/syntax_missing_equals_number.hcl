# A missing `=` before a number: the number is where the parser gives up.
#
# expect: 7:11 error: syntax error: invalid structure; expected `{`, `=`, `"` or identifier — check the brackets, quotes and `=` here

job "web" {
  group "g" {
    count 2
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
