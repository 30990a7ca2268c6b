# Unknown keys with "did you mean" at job, group and task level.
#
# expect: 10:3 error: unknown key `datacenter` in job — did you mean `datacenters`?
# expect: 11:3 error: unknown key `tpye` in job — did you mean `type`?
# expect: 14:5 error: unknown key `cuont` in group — did you mean `count`?
# expect: 17:7 error: unknown key `drvier` in task — did you mean `driver`?
# expect: 22:7 error: unknown key `kill_timout` in task — did you mean `kill_timeout`?

job "web" {
  datacenter = ["dc1"]
  tpye       = "service"

  group "g" {
    cuont = 2

    task "t" {
      drvier = "exec"
      driver = "exec"
      config {
        command = "/bin/true"
      }
      kill_timout = "10s"
    }
  }
}
