# References supd interpolates at start (${NOMAD_*}, ${attr.*}, ${node.*},
# ${meta.*}, ${env.*}), an escaped literal $${, heredocs and meta/env written
# as a map or a block.
#
# expect: ok

job "interp" {
  meta = {
    tier = "web"
  }

  group "g" {
    network {
      port "http" {}
    }

    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args = [
          "-c",
          "echo $${HOME} ${NOMAD_ALLOC_INDEX} ${attr.kernel.name} ${node.datacenter} ${meta.tier} ${env.PATH} ${NOMAD_PORT_http}",
        ]
        work_dir = "${NOMAD_TASK_DIR}"
      }
      env {
        ROLE = "${meta.tier}"
      }
      meta {
        note = <<EOT
multi-line
note
EOT
      }
    }
  }
}
