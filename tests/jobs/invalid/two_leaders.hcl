# Only one task of a group may be the leader.
#
# expect: 6:3 error: group "g" marks 2 tasks as leader (a, b) — only one task may be the leader

job "web" {
  group "g" {
    task "a" {
      driver = "exec"
      leader = true
      config {
        command = "/bin/true"
      }
    }

    task "b" {
      driver = "exec"
      leader = true
      config {
        command = "/bin/true"
      }
    }
  }
}
