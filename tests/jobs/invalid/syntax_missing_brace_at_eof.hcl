# A missing closing brace in a file that ends with a newline.
# expect: 13:1 error: unexpected end of file — a block is not closed; add the missing `}`

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
