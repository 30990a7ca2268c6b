# An unknown function, a wrong number of arguments, a string variable used
# as a count, a `range` too large, and a list put into a string.
#
# expect: 17:13 error: `count` must be a number, found a string
# expect: 21:19 error: unknown function `uppercase` — did you mean `upper`? supd-job(5) lists the functions a job file may call
# expect: 22:20 error: join() takes 2 arguments, got 1
# expect: 22:34 error: range(): the range has 100000 elements; at most 10000
# expect: 22:64 error: a list cannot go into a string — use join() or jsonencode() to make it text

variable "n" {
  type    = string
  default = "three"
}

job "web" {
  group "g" {
    count = var.n
    task "t" {
      driver = "raw_exec"
      config {
        command = uppercase("x")
        args    = [join(","), "${length(range(100000))}", "a-${split(",", "x,y")}"]
      }
    }
  }
}
