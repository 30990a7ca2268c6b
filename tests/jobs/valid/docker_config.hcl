# A docker task with every config key supd acts on; the other keys of
# Nomad's docker driver load with a warning naming them.
#
# expect: ok
# expect: 55:11 warning: `bind_options` in mount is ignored by supd — it loads, but has no effect here
# expect: 59:9 warning: `dns_servers` in docker config is ignored by supd — it loads, but has no effect here
# expect: 60:9 warning: `readonly_rootfs` in docker config is ignored by supd — it loads, but has no effect here
# expect: 61:9 warning: `logging` in docker config is ignored by supd — it loads, but has no effect here

job "cache" {
  group "db" {
    network {
      port "db" {
        to = 6379
      }
      port "admin" {
        static = 16380
      }
    }
    task "redis" {
      driver = "docker"
      user   = "redis"
      config {
        image              = "redis:3.2"
        command            = "redis-server"
        args               = ["--port", "6379", "--maxmemory", "${NOMAD_MEMORY_LIMIT}mb"]
        entrypoint         = ["/usr/local/bin/docker-entrypoint.sh"]
        ports              = ["db", "admin"]
        network_mode       = "bridge"
        volumes            = ["local/data:/data", "/etc/ssl/certs:/etc/ssl/certs:ro"]
        work_dir           = "/data"
        hostname           = "cache-${NOMAD_ALLOC_INDEX}"
        privileged         = false
        cap_add            = ["NET_ADMIN"]
        force_pull         = false
        image_pull_timeout = "10m"
        init               = true
        shm_size           = 67108864
        labels {
          team = "ops"
        }
        ulimit {
          nofile = "1024:4096"
          nproc  = "512"
        }
        mount {
          type     = "tmpfs"
          target   = "/scratch"
          readonly = false
        }
        mount {
          type   = "bind"
          source = "local/conf"
          target = "/conf"
          bind_options {
            propagation = "rshared"
          }
        }
        dns_servers     = ["1.1.1.1"]
        readonly_rootfs = true
        logging {
          type = "journald"
        }
      }
      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
