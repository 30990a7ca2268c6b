# A missing `=`: `driver "exec"` reads as a block with a label, so `{` is
# expected right after the label.
#
# expect: 9:20 error: syntax error: expected `{` — check the brackets, quotes and `=` here

job "web" {
  group "g" {
    task "t" {
      driver "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
