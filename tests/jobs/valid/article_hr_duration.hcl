# The source article's reschedule block with its max_delay = "1hr": supd reads
# it as one hour and warns that Nomad would refuse the unit. Also a compound
# "1hr30m". Warnings never make a file invalid.
#
# expect: ok
# expect: 14:24 warning: `max_delay`: duration "1hr" uses the unit "hr", which Nomad refuses — write "h" (read here as hours)
# expect: 20:22 warning: `kill_timeout`: duration "1hr30m" uses the unit "hr", which Nomad refuses — write "h" (read here as hours)

job "example" {
  group "cache" {
    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "1hr"
      unlimited      = true
    }

    task "redis" {
      driver = "exec"
      kill_timeout = "1hr30m"
      config {
        command = "/usr/bin/redis-server"
      }
    }
  }
}
