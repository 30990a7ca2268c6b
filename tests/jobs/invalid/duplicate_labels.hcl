# Duplicate names: two groups, two tasks, a static port reserved twice, and
# two jobs with one ID.
#
# expect: 16:18 error: static port 8080 is already reserved by port "http" — use another port number
# expect: 27:10 error: duplicate task "t" in group "g" (first defined at 20:10) — give each task its own name
# expect: 35:9 error: duplicate group "g" in job "web" (first defined at 10:9) — give each group its own name
# expect: 45:5 error: duplicate job "web" (first defined at 9:5) — give each job its own name

job "web" {
  group "g" {
    network {
      port "http" {
        static = 8080
      }
      port "admin" {
        static = 8080
      }
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }

    task "t" {
      driver = "exec"
      config {
        command = "/bin/false"
      }
    }
  }

  group "g" {
    task "x" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}

job "web" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
