# A driver other than exec and raw_exec is refused at the driver's value;
# that driver's config keys are not judged.
#
# expect: 9:16 error: driver "docker" is not supported — supd runs tasks as host processes with driver "exec" or "raw_exec"; for a container image, run its entrypoint binary with one of them

job "web" {
  group "g" {
    task "redis" {
      driver = "docker"
      config {
        image = "redis:7"
        ports = ["db"]
      }
    }
  }
}
