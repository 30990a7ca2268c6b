# A docker task's config: a misspelt key (with a suggestion), no image, an
# empty image, ports that are not the group's, malformed volumes, ulimits
# and mounts, and no config at all.
#
# expect: 26:7 error: task "redis" config has no `image` — add e.g. `image = "redis:7"`
# expect: 27:9 error: unknown key `imgae` in docker config — did you mean `image`?
# expect: 28:19 error: port "dbb" is not a port of the group's network — did you mean "db"?
# expect: 28:19 error: port "web" is not a port of the group's network — the group's ports are "db"
# expect: 29:19 error: volume "/data" is not `HOST_PATH:CONTAINER_PATH[:ro]` — e.g. "local/data:/data" (a relative host path is under the task's directory)
# expect: 29:19 error: volume "data:relative" is not `HOST_PATH:CONTAINER_PATH[:ro]` — e.g. "local/data:/data" (a relative host path is under the task's directory)
# expect: 30:9 error: ulimit nofile = "4096:1024" is not "SOFT:HARD" or "N" with soft at most hard (-1: unlimited) — e.g. nofile = "1024:4096"
# expect: 33:9 error: mount needs an absolute `target` — where it appears in the container, e.g. "/data"
# expect: 33:9 error: a volume mount needs a `source`
# expect: 41:17 error: `image` is empty — name the image to run, e.g. "redis:7"
# expect: 44:5 warning: task "none" has no config block: its start will fail (a Driver Failure) — add `config { image = "…" }`

job "cache" {
  group "db" {
    network {
      port "db" {
        to = 6379
      }
    }
    task "redis" {
      driver = "docker"
      config {
        imgae   = "redis:3.2"
        ports   = ["dbb", "web"]
        volumes = ["/data", "data:relative"]
        ulimit {
          nofile = "4096:1024"
        }
        mount {
          target = "data"
        }
      }
    }
    task "empty" {
      driver = "docker"
      config {
        image = ""
      }
    }
    task "none" {
      driver = "docker"
    }
  }
}
