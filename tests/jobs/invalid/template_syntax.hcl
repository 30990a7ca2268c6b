# Template syntax errors are reported at their place in the job file (heredoc,
# `<<-` heredoc and quoted string alike) with their line and column inside the
# template: an unclosed action, a block never closed, a stray {{end}} or {{else}},
# also with other delimiters.
#
# expect: 22:23 error: template line 3, column 1: unclosed action
# expect: 28:31 error: template line 1, column 8: {{if}} is never closed — add {{end}} after its body
# expect: 35:4 error: template line 2, column 4: unexpected {{end}} — no {{if}}, {{range}}, {{with}} or {{define}} is open here
# expect: 41:45 error: template line 1, column 18: unexpected [[else]] — it belongs inside [[if]], [[range]] or [[with]]

job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/usr/local/bin/web"
      }

      template {
        data        = <<-EOT
          port = {{ env "NOMAD_PORT_http" }}
          name = {{ .X
        EOT
        destination = "local/web.conf"
      }

      template {
        data        = "a = {{ if true }}x"
        destination = "local/b.conf"
      }

      template {
        data        = <<EOT
ok
{{ end }}
EOT
        destination = "local/c.conf"
      }

      template {
        data            = "{{ literal }} [[ else ]]"
        left_delimiter  = "[["
        right_delimiter = "]]"
        destination     = "local/d.conf"
      }
    }
  }
}
