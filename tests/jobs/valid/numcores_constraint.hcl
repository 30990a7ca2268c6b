# A constraint on a host-specific attribute: the warning's tail names this
# host's core count, so only its fixed prefix is asserted.
#
# expect: ok
# expect-prefix: 14:7 warning: this node does not satisfy the constraint `${attr.cpu.numcores} >= 100000` (${attr.cpu.numcores} is "

job "big-iron" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      constraint {
        attribute = "${attr.cpu.numcores}"
        operator  = ">="
        value     = "100000"
      }
    }
  }
}
