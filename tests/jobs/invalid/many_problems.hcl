# Several unrelated problems in one file are all reported at once, in file
# order: a bad type, an unknown key, a bad duration, a bad enum, a missing
# command, an unsupported check type, and an ignored field's warning.
#
# expect: 15:10 error: invalid type "servise" — did you mean "service"? (type is one of "service", "batch", "system", "sysbatch")
# expect: 17:3 warning: `update` in job is ignored by supd — it loads, but has no effect here
# expect: 22:13 error: `count` must be between 0 and 10000, found -1
# expect: 25:7 error: unknown key `atempts` in restart — did you mean `attempts`?
# expect: 26:17 error: `delay` = 15 has no unit — write a unit, e.g. "15s" (Nomad would read a bare number as nanoseconds)
# expect: 27:17 error: invalid mode "fial" — did you mean "fail"? (mode is one of "fail", "delay")
# expect: 32:7 error: task "t" config has no `command` — add e.g. `command = "/usr/bin/redis-server"`
# expect: 38:22 error: check type "grpc" is not supported — supd runs "http", "tcp" and "script" checks; a script check can call grpc_health_probe

job "web" {
  type = "servise"

  update {
    max_parallel = 1
  }

  group "g" {
    count = -1

    restart {
      atempts = 2
      delay   = 15
      mode    = "fial"
    }

    task "t" {
      driver = "exec"
      config {
        args = ["x"]
      }
      service {
        port = 8080
        check {
          type     = "grpc"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
