# A misspelt kill_signal: the suggestion, then every signal name supd knows.
#
# expect: 9:21 error: invalid kill_signal "SIGTREM" — did you mean "SIGTERM"?

job "web" {
  group "g" {
    task "t" {
      driver      = "exec"
      kill_signal = "SIGTREM"
      config {
        command = "/bin/true"
      }
    }
  }
}
