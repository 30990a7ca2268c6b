# A missing closing brace: reported at the end of the file, where `}` was
# expected. (This file deliberately has no final newline.)
#
# expect: 14:4 error: unexpected end of file — a block is not closed; add the missing `}`

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }