# A job without groups and a group without tasks.
#
# expect: 6:1 error: job "empty" has no group — add `group "NAME" { task "NAME" { … } }`
# expect: 11:3 error: group "g" has no task — add `task "NAME" { driver = "exec" config { command = "…" } }`

job "empty" {
  datacenters = ["dc1"]
}

job "hollow" {
  group "g" {
    count = 1
  }
}
