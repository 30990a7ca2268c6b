# supd interpolates references at start but evaluates no HCL: variables,
# locals, expressions and unknown roots are refused.
#
# expect: 11:1 error: `locals` blocks are not supported — supd evaluates no HCL variables; write the values in place
# expect: 20:41 error: in `command`: `${var.flags}` refers to an input variable; supd evaluates no HCL variables — write the value itself
# expect: 21:36 error: in `args`: `${2 * 4}` is an expression; supd interpolates only references such as ${attr.kernel.name}, ${node.datacenter}, ${meta.key} and ${NOMAD_ALLOC_INDEX} — to write a literal ${ use $${
# expect: 21:58 error: in `args`: unknown reference `${foo.bar}` — supd interpolates ${attr.*}, ${node.*}, ${meta.*}, ${env.*} and ${NOMAD_*}; to write a literal ${ use $${
# expect: 23:14 error: `user` cannot use ${...} interpolation — write a plain value
# expect: 24:22 error: `kill_timeout` must be a string, found an input variable — supd reads literal values and evaluates no HCL variables, expressions or functions; write the value itself

locals {
  port = 8080
}

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/usr/local/bin/web ${var.flags}"
        args    = ["--workers", "${2 * 4}", "--name", "${foo.bar}"]
      }
      user = "${local.user}"
      kill_timeout = var.timeout
    }
  }
}
