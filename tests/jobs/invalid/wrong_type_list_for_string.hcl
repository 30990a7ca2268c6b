# A list (or a map) where a string goes.
#
# expect: 11:12 error: `region` must be a string, found a list
# expect: 15:14 error: `mode` must be a string, found a list
# expect: 20:16 error: `user` must be a string, found a map
# expect: 22:19 error: `command` must be a string, found a list
# expect: 27:16 error: `driver` must be a string, found a list
# (a task whose driver is not known is not also warned of for its config)

job "web" {
  region = ["global"]

  group "g" {
    restart {
      mode = ["fail"]
    }

    task "t" {
      driver = "exec"
      user   = { name = "nobody" }
      config {
        command = ["/bin/sleep", "60"]
      }
    }

    task "u" {
      driver = ["exec"]
    }
  }
}
