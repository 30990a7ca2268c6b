//! The `java` driver through the real supd: a class compiled by the test
//! with javac runs as an isolated task (its own root, nobody) and restarts
//! like any task; the node has `driver.java` (the job's constraint).

use crate::support::*;

const HELLO: &str = r#"public class Hello {
    public static void main(String[] args) throws Exception {
        java.nio.file.Files.writeString(java.nio.file.Path.of("/alloc/data/runs"), "run " + args[0] + " " + System.getProperty("user.name") + "\n",
            java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        Thread.sleep(300);
        System.exit(3);
    }
}
"#;

#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_java_class_runs_isolated_and_restarts_like_any_task() {
    let javac = require("javac", "default-jdk-headless");
    require("java", "default-jdk-headless");
    assert!(nix::unistd::geteuid().is_root(), "java tasks are isolated as exec ones: run as root");
    let s = Supd::new();
    let src = s.path("classes");
    std::fs::create_dir(&src).expect("a directory");
    std::fs::write(src.join("Hello.java"), HELLO).expect("the source");
    let out = std::process::Command::new(javac).arg("Hello.java").current_dir(&src).output().expect("javac");
    assert!(out.status.success(), "javac: {}", describe(&out));
    s.write_job(
        "hello.hcl",
        r#"job "hello" {
  group "g" {
    restart {
      attempts = 2
      interval = "1m"
      delay    = "100ms"
      mode     = "fail"
    }
    task "t" {
      driver = "java"
      constraint {
        attribute = "${attr.driver.java}"
        value     = "1"
      }
      artifact {
        source      = "@DIR@/classes/Hello.class"
        destination = "local/classes"
      }
      config {
        class       = "Hello"
        class_path  = "/local/classes"
        jvm_options = ["-Xmx32m", "-Xshare:off"]
        args        = ["${NOMAD_ALLOC_INDEX}"]
      }
    }
  }
}"#,
    );
    // The class is a file of this host: its directory is one the artifact
    // may copy from.
    let roots = format!("[artifact]\nfile_roots = [\"{}\"]\n", s.path("classes").display());
    let s = s.start_with_config(&roots);
    let t = s.wait_dead("hello/g/0/t");
    assert_eq!(restarts(&t), 2, "{}\n{}", pretty(&t), s.log());
    assert_eq!(count(&t, "Terminated", |m| m.contains("Exit Code: 3")), 3, "{}", pretty(&t));
    let st = s.status();
    let dir = instance(&st, "hello/g/0").and_then(|i| i["alloc_dir"].as_str()).expect("an allocation directory");
    let runs = std::fs::read_to_string(std::path::Path::new(dir).join("alloc/data/runs")).unwrap_or_default();
    assert_eq!(runs, "run 0 nobody\n".repeat(3), "three runs as nobody\n{}", s.log());
}

#[test]
fn a_java_task_needs_a_jar_or_a_class_and_knows_its_keys() {
    let s = Supd::new();
    let path = s.write_job(
        "j.hcl",
        r#"job "j" {
  group "g" {
    task "t" {
      driver = "java"
      config {
        jar_pth = "local/app.jar"
      }
    }
  }
}"#,
    );
    let out =
        std::process::Command::new(SUPCTL).args(["validate", path.to_str().unwrap_or("")]).output().expect("supctl");
    let text = describe(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("jar_pth") && text.contains("jar_path"), "did you mean: {text}");
    assert!(text.contains("neither `jar_path` nor `class`"), "{text}");
}

/// First task first: a JVM that takes 6 s to say its version does not hold
/// up a job that has nothing of Java, nor supd's readiness (it is asked
/// once the first tasks run); a job submitted meanwhile that places by
/// `driver.java` waits for the answer, and is placed by it.
#[test]
#[ignore = "needs root: scripts/test runs it (cargo test -- --ignored)"]
fn a_slow_jvm_holds_up_only_the_jobs_that_need_it() {
    assert!(nix::unistd::geteuid().is_root(), "supd probes the JVM when it can isolate tasks: run as root");
    let s = Supd::new();
    let bin = s.path("slow-java");
    std::fs::create_dir(&bin).expect("a directory");
    std::fs::write(bin.join("java"), "#!/bin/sh\nsleep 6\necho 'openjdk version \"17.0.9\" 2023-10-17' >&2\n")
        .expect("the fake java");
    std::process::Command::new("chmod").args(["755"]).arg(bin.join("java")).status().expect("chmod");
    s.write_job("plain.hcl", &sleep_job("plain"));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let launched = now_secs();
    let mut cmd = s.command(std::path::Path::new(SUPD), &[]);
    cmd.env("PATH", &path);
    let s = s.spawn_ready(cmd);
    let ready = now_secs();
    assert!(ready - launched < 4.0, "supd answered {:.2} s after its launch, while the JVM took 6 s", ready - launched);
    let t = s.wait_running("plain/g/0/t");
    let started = event_times(&t, "Started")[0];
    assert!(
        started - launched < 4.0,
        "the plain job started {:.2} s after supd was launched, while the JVM took 6 s",
        started - launched
    );
    let job = s.path("needs-java.hcl");
    std::fs::write(
        &job,
        sleep_job("needsjava").replacen(
            "group \"g\" {",
            "group \"g\" {\n    constraint {\n      attribute = \"${attr.driver.java.version}\"\n      value     = \"17.0.9\"\n    }",
            1,
        ),
    )
    .expect("the job file");
    let out = s.supctl(&["job", "run", job.to_str().expect("a path")]);
    assert!(out.status.success(), "the job that places by driver.java: {}", describe(&out));
    s.wait_running("needsjava/g/0/t");
}
