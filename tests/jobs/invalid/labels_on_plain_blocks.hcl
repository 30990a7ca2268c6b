# Blocks that take no name given one, a block written as an attribute and an
# attribute written as a block, and a repeated single block.
#
# expect: 12:13 error: `restart` block takes no name — write `restart { … }`
# expect: 18:7 error: `config` in task is a block, not an attribute — write `config { … }`
# expect: 24:7 error: only one `config` block is allowed in a task (the first is at 21:7) — merge them
# expect: 27:7 error: `user` in task is an attribute, not a block — write `user = …`
# expect: 30:17 error: `lifecycle` block takes no name — write `lifecycle { … }`

job "web" {
  group "g" {
    restart "fast" {
      attempts = 1
    }

    task "t" {
      driver = "exec"
      config = {
        command = "/bin/true"
      }
      config {
        command = "/bin/true"
      }
      config {
        command = "/bin/false"
      }
      user {
        name = "nobody"
      }
      lifecycle "pre" {
        hook = "prestart"
      }
    }
  }
}
