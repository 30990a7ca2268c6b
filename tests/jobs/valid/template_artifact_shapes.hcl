# Shapes of template and artifact blocks from Nomad's own job files (e2e
# consultemplate/template_shared_alloc, artifact/artifact_linux) that use only
# this host: they load without a warning (supd renders and fetches them).
#
# expect: ok

job "template-shared-alloc" {
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "template-paths" {
    task "raw_exec" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 300"]
      }

      artifact {
        source      = "https://example.com/index.html"
        destination = "../alloc/page.html"
        mode        = "file"
      }

      artifact {
        source = "https://releases.example.com/tool/${NOMAD_META_version}/tool_linux_amd64.zip"
        options {
          checksum = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        }
      }

      # git repositories, cloned by the git program (artifact_linux's form,
      # and go-getter's scp-like address with a directory and options).
      artifact {
        source      = "git::https://github.com/hashicorp/go-set"
        destination = "local/repository"
      }

      artifact {
        source      = "git@github.com:hashicorp/go-set.git//internal?ref=main"
        destination = "local/internal"
        options {
          depth  = 1
          sshkey = "c3NoLWtleQ=="
        }
      }

      template {
        destination = "${NOMAD_ALLOC_DIR}/${NOMAD_TASK_NAME}.env"
        data        = <<EOH
{{env "NOMAD_ALLOC_DIR"}}
EOH
      }

      template {
        destination = "${NOMAD_SECRETS_DIR}/hello.env"
        data        = <<EOH
HELLO_FROM={{env "NOMAD_TASK_NAME"}}
EOH
        env         = true
      }

      template {
        data          = <<-EOT
          {{- range nomadService "redis" }}
          redis {{ .Address }}:{{ .Port }}
          {{- end }}
        EOT
        destination   = "local/upstreams.conf"
        change_mode   = "signal"
        change_signal = "sighup"
        splay         = "1s"
        perms         = "0640"
      }

      template {
        source      = "local/app.conf.tpl"
        destination = "local/app.conf"
        change_mode = "script"
        change_script {
          command       = "/usr/local/bin/reload"
          args          = ["--quick"]
          timeout       = "10s"
          fail_on_error = true
        }
      }
    }
  }
}
