# Shapes of Nomad's own e2e job files that need Consul (consultemplate/
# update_triggers' service template) are refused at validation with the
# reason; a git artifact (artifact_linux's) loads, and so does a template
# source outside the task directory (bad_template_paths), which fails at task
# start as in Nomad's sandbox.
#
# expect: 31:10 error: template line 1, column 10: supd has no Consul: `service` cannot be rendered — keep the value in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), write it into the template or the task's env, or use nomadService for supd's own services

job "bad-template-paths" {
  group "template-paths" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "task" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 300"]
      }
      template {
        source      = "/etc/passwd"
        destination = "${NOMAD_SECRETS_DIR}/foo/dst"
      }
      artifact {
        source      = "git::https://github.com/hashicorp/go-set"
        destination = "local/repository"
      }
      template {
        data = <<EOT
{{ range service "upstream-service" }}
server {{ .Name }} {{ .Address }}:{{ .Port }}{{ end }}
EOT
        destination = "${NOMAD_TASK_DIR}/services.conf"
        change_mode = "noop"
      }
    }
  }
}
