# A podman task by the key names of Nomad's podman driver; the other keys
# it knows load with a warning naming them.
#
# expect: ok
# expect: 27:9 warning: `tmpfs` in podman config is ignored by supd — it loads, but has no effect here
# expect: 28:9 warning: `tty` in podman config is ignored by supd — it loads, but has no effect here

job "cache" {
  group "db" {
    network {
      port "db" { to = 6379 }
    }
    task "redis" {
      driver = "podman"
      config {
        image              = "docker://docker.io/library/redis:7"
        command            = "redis-server"
        args               = ["--save", ""]
        entrypoint         = ["/usr/local/bin/docker-entrypoint.sh"]
        ports              = ["db"]
        volumes            = ["local/data:/data"]
        working_dir        = "/data"
        memory_reservation = "64m"
        shm_size           = "32m"
        ulimit             = { nofile = "1024:4096" }
        labels             = { team = "ops" }
        tmpfs              = ["/scratch"]
        tty                = true
      }
      resources {
        memory = 256
      }
    }
  }
}
