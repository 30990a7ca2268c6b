# An unknown key with no near match lists the keys the block accepts.
#
# expect: 15:9 error: unknown key `colour` in lifecycle — lifecycle accepts `hook`, `sidecar`
# expect: 18:9 error: unknown key `backoff` in restart — restart accepts `attempts`, `interval`, `delay`, `mode`

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      lifecycle {
        hook   = "poststart"
        colour = "blue"
      }
      restart {
        backoff = "exponential"
      }
    }
  }
}
