# A podman task with docker's names where podman's differ, and a size
# without its unit.
#
# expect: 14:9 error: unknown key `work_dir` in podman config — did you mean `working_dir`?
# expect: 15:30 error: memory_reservation "64" is not a size — write a number and a unit b, k, m or g, e.g. "64m"

job "cache" {
  group "db" {
    task "redis" {
      driver = "podman"
      config {
        image              = "redis:7"
        command            = "redis-server"
        work_dir           = "/data"
        memory_reservation = "64"
      }
    }
  }
}
