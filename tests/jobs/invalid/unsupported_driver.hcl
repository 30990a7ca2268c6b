# A driver supd does not have is refused at the driver's value; that
# driver's config keys are not judged.
#
# expect: 9:16 error: driver "containerd-driver" is not supported — supd runs tasks with driver "exec", "raw_exec", "java", "docker" or "podman"; for a container image, use driver "docker"

job "web" {
  group "g" {
    task "redis" {
      driver = "containerd-driver"
      config {
        image = "redis:7"
        ports = ["db"]
      }
    }
  }
}
