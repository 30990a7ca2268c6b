# A driver supd does not have is refused at the driver's value; that
# driver's config keys are not judged.
#
# expect: 9:16 error: driver "podman" is not supported — supd runs tasks with driver "exec", "raw_exec", "java" or "docker"; for a container image, use driver "docker"

job "web" {
  group "g" {
    task "redis" {
      driver = "podman"
      config {
        image = "redis:7"
        ports = ["db"]
      }
    }
  }
}
