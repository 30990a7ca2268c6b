# The smallest job supd runs: one group, one exec task. Defaults fill the rest.
#
# expect: ok

job "hello" {
  group "g" {
    task "sleep" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
    }
  }
}
