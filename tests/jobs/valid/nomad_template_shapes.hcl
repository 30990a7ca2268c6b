# Template and artifact shapes of Nomad's own e2e job files that need nothing
# but this host (consultemplate/template_paths, nomad_provider_service_lookup,
# update_triggers without its Consul templates; artifact/artifact_linux's
# raw_exec tasks without git): they load without a template or artifact warning.
#
# expect: ok

job "template-paths" {
  datacenters = ["dc1"]

  meta {
    ARTIFACT_DEST_DIR = "local/foo/src"
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "template-paths" {
    task "task" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 300"]
      }

      artifact {
        source      = "https://google.com"
        destination = "${NOMAD_META_ARTIFACT_DEST_DIR}"
      }

      template {
        source      = "${NOMAD_TASK_DIR}/foo/src"
        destination = "${NOMAD_SECRETS_DIR}/foo/dst"
      }

      template {
        destination = "${NOMAD_ALLOC_DIR}/shared.txt"
        data        = <<EOH
Data shared between all task in alloc dir.
EOH
      }
    }
  }

  group "nomad_provider_service_lookup" {
    task "test" {
      driver = "raw_exec"

      config {
        command = "bash"
        args    = ["-c", "sleep 15000"]
      }

      template {
        data = <<EOH
{{ range nomadServices }}
service {{ .Name }} {{ .Tags }}{{ end }}
EOH

        destination = "${NOMAD_TASK_DIR}/services.conf"
        change_mode = "restart"
      }

      template {
        data = <<EOH
{{ range nomadService "default-nomad-provider-service-primary" }}
service {{ .Name }} {{ .Tags }} {{ .Datacenter }} {{ .AllocID }}{{ end }}
EOH

        destination = "${NOMAD_TASK_DIR}/service.conf"
        change_mode = "noop"
      }
    }
  }

  group "exec_downstream" {
    task "task" {
      driver = "exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 300"]
      }

      template {
        data        = <<EOT
---
job: {{ env "NOMAD_JOB_NAME" }}
EOT
        destination = "${NOMAD_TASK_DIR}/kv.yml"
        change_mode = "restart"
      }
    }
  }

  group "rawexec" {
    task "rawexec_file_default" {
      artifact {
        source = "https://raw.githubusercontent.com/hashicorp/go-set/main/go.mod"
      }
      driver = "raw_exec"
      config {
        command = "cat"
        args    = ["local/go.mod"]
      }
    }

    task "rawexec_file_alloc_dots" {
      artifact {
        source      = "https://raw.githubusercontent.com/hashicorp/go-set/main/go.mod"
        destination = "../alloc/go.mod"
        mode        = "file"
      }
      driver = "raw_exec"
      config {
        command = "cat"
        args    = ["../alloc/go.mod"]
      }
    }

    task "rawexec_file_alloc_env" {
      artifact {
        source      = "https://raw.githubusercontent.com/hashicorp/go-set/main/go.mod"
        destination = "${NOMAD_ALLOC_DIR}/go.mod"
        mode        = "file"
      }
      driver = "raw_exec"
      config {
        command = "cat"
        args    = ["${NOMAD_ALLOC_DIR}/go.mod"]
      }
    }

    task "rawexec_zip_custom" {
      artifact {
        source      = "https://github.com/hashicorp/go-set/archive/refs/heads/main.zip"
        destination = "local/my/zip"
      }
      driver = "raw_exec"
      config {
        command = "cat"
        args    = ["local/my/zip/go-set-main/go.mod"]
      }
    }
  }
}
