# Template functions that need Consul, Vault or Nomad variables are refused with
# the reason, each at its place; so are consul-template helpers supd does not
# render and unknown functions (with a suggestion).
#
# expect: 24:19 error: template line 1, column 9: supd has no Consul: `key` cannot be rendered — keep the value in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), write it into the template or the task's env, or use nomadService for supd's own services
# expect: 25:20 error: template line 2, column 10: supd has no Consul: `service` cannot be rendered — keep the value in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), write it into the template or the task's env, or use nomadService for supd's own services
# expect: 26:19 error: template line 3, column 9: supd has no Vault: `secret` cannot be rendered — keep the secret in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), or read it from a file on this host with `file`
# expect: 27:14 error: template line 4, column 4: supd has no Vault: `pkiCert` cannot be rendered — keep the secret in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), or read it from a file on this host with `file`
# (nomadVar, line 28, is rendered: Nomad Variables on this host.)
# expect: 29:14 error: template line 6, column 4: supd does not render the consul-template function `toYAML` — supd-job(5) lists the functions it renders
# expect: 29:29 error: template line 6, column 19: unknown function `envv` — did you mean `env`?
# expect: 30:14 error: template line 7, column 4: supd has no Consul: `keyOrDefault` cannot be rendered — keep the value in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), write it into the template or the task's env, or use nomadService for supd's own services

job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/usr/local/bin/web"
      }

      template {
        data        = <<-EOT
          db = {{ key "service/db/addr" }}
          {{ range service "redis" }}{{ .Address }}{{ end }}
          {{ with secret "kv/data/web" }}{{ .Data.data.password }}{{ end }}
          {{ pkiCert "pki/issue/web" "common_name=web" }}
          {{ nomadVar "nomad/jobs/web" }}
          {{ toYAML 1 }} {{ envv "HOME" }}
          {{ keyOrDefault "a" "b" | toUpper }}
        EOT
        destination = "local/web.conf"
      }
    }
  }
}
