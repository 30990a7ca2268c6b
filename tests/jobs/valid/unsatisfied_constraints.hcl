# Constraints this node does not satisfy load with a warning naming the
# attribute's value here (an unset attribute says so); the file stays valid.
#
# expect: ok
# expect: 10:3 warning: this node does not satisfy the constraint `${attr.kernel.name} = windows` (${attr.kernel.name} is "linux"); group "g" would not be placed here
# expect: 16:5 warning: this node does not satisfy the constraint `${meta.rack} = r1` (${meta.rack} is unset); group "g" would not be placed here
# expect: 27:7 warning: this node does not satisfy the constraint `${node.class} = gpu` (${node.class} is unset); group "g" would not be placed here

job "elsewhere" {
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "windows"
  }

  group "g" {
    constraint {
      attribute = "${meta.rack}"
      operator  = "="
      value     = "r1"
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      constraint {
        attribute = "${node.class}"
        value     = "gpu"
      }
    }
  }
}
