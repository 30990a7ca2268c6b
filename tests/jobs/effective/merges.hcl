job "web" {
  datacenters = ["dc1"]
  group "site" {
    count = 2
    restart {
      attempts = 5
      delay    = "5s"
    }
    task "app" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      kill_timeout = "10s"
      resources {
        memory = 64
      }
      service {
        name = "web"
        port = 8080
        check {
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
          check_restart { limit = 3 }
        }
      }
    }
    task "side" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      restart { mode = "delay" }
    }
  }
}
