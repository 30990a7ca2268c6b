# The classic typo: `atempts` in a restart block.
#
# expect: 8:7 error: unknown key `atempts` in restart — did you mean `attempts`?

job "web" {
  group "g" {
    restart {
      atempts = 3
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
