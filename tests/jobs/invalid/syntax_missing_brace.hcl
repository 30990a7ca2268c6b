# A missing closing brace: reported at the end of the file, where `}` was
# expected. (This file deliberately has no final newline.)
#
# expect: 14:4 error: syntax error: invalid block body; expected `}`, newline or identifier — check the brackets, quotes and `=` here

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }