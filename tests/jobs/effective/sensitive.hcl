variable "token" {
  type      = string
  default   = "hunter2"
  sensitive = true
}

variable "port" {
  type    = number
  default = 9090
}

locals {
  flag = "--listen=:${var.port}"
}

job "api" {
  type = "batch"
  task "server" {
    driver = "raw_exec"
    config {
      command = "/bin/echo"
      args    = [local.flag, "--token=${var.token}"]
    }
    env {
      API_TOKEN = var.token
      MODE      = upper("prod")
    }
    kill_signal = "SIGTERM"
  }
}
