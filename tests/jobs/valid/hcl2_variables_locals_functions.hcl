# HCL2: variables with types, defaults and validation, locals that refer to
# each other, functions, a `for` expression and a `dynamic` block; runtime
# references stay for the task's start.
#
# expect: ok

variable "port" {
  type        = number
  default     = 8080
  description = "where the server listens"
}

variable "name" {
  type    = string
  default = "world"
  validation {
    condition     = length(var.name) > 2
    error_message = "name must be longer than 2 characters"
  }
}

locals {
  greeting = "hello ${upper(var.name)}"
  args     = concat(["-c", local.greeting], [for i in range(2) : format("n%d", i)])
  ports    = { http = var.port, admin = var.port + 1 }
}

job "web" {
  group "g" {
    count = length(local.ports) - 1
    network {
      dynamic "port" {
        for_each = local.ports
        labels   = [port.key]
        content {
          static = port.value
        }
      }
    }
    task "echo" {
      driver = "raw_exec"
      config {
        command = "/bin/echo"
        args    = concat(local.args, ["${NOMAD_TASK_DIR}/x-${var.port}", jsonencode({ a = 1 })])
      }
      env {
        NAME = var.name
        DIR  = "${NOMAD_ALLOC_DIR}/${lower(var.name)}"
        HOST = "${attr.unique.hostname}"
        LIST = join(",", split(" ", "a b c"))
      }
    }
  }
}
