# A variable without a value, one whose default does not fit its type, and
# one that fails its validation.
#
# expect: 8:10 error: variable `image` has no value — give it a `default`, or set it with `--var image=VALUE`, a variable file (`--var-file`, or NAME.vars.hcl beside the job file in the job directory), or NOMAD_VAR_image in the environment
# expect: 12:10 error: variable `workers`: "many" is not a number — give a value of type number
# expect: 20:21 error: variable `mode` is not valid: mode must be slow or safe

variable "image" {
  type = string
}

variable "workers" {
  type    = number
  default = "many"
}

variable "mode" {
  default = "fast"
  validation {
    condition     = contains(["slow", "safe"], var.mode)
    error_message = "mode must be slow or safe"
  }
}

job "web" {
  task "t" {
    driver = "raw_exec"
    config {
      command = "/bin/${var.image}"
      args    = ["${var.workers}", var.mode]
    }
  }
}
