# logs max_files x max_file_size at or above the default ephemeral_disk
# (300 MB) would be refused by Nomad: a warning.
#
# expect: ok
# expect: 14:7 warning: logs may take 30 × 10 MB = 300 MB; Nomad refuses this unless the group's ephemeral_disk is larger (300 MB by default)

job "chatty" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/usr/local/bin/chatty"
      }
      logs {
        max_files     = 30
        max_file_size = 10
      }
    }
  }
}
