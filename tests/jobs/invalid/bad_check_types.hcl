# Check types: a typo, grpc (not supported by supd), https (not supported),
# and a provider that is neither consul nor nomad.
#
# expect: 18:20 error: invalid provider "consol" — did you mean "consul"? (provider is one of "consul", "nomad")
# expect: 21:22 error: invalid check type "htp" — did you mean "http"? use "http", "tcp" or "script"
# expect: 27:22 error: check type "grpc" is not supported — supd runs "http", "tcp" and "script" checks; a script check can call grpc_health_probe
# expect: 35:22 error: https checks are not supported — check the plain-HTTP port, or use a script check with curl

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      service {
        port     = 8080
        provider = "consol"
        check {
          name     = "typo"
          type     = "htp"
          interval = "10s"
          timeout  = "2s"
        }
        check {
          name     = "grpc"
          type     = "grpc"
          interval = "10s"
          timeout  = "2s"
        }
        check {
          name     = "tls"
          type     = "http"
          path     = "/health"
          protocol = "https"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
