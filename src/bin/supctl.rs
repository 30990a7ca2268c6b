//! supctl: the operator's command line for supd.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use supd::jobspec::{self, Diagnostic};
use supd::node::Node;

#[derive(Parser)]
#[command(name = "supctl", version, about = "Drive supd, the process supervisor that runs Nomad job files")]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check job files without a daemon: syntax, types, Nomad's rules, and
    /// whether this host can run them. Exit 0 when every file is valid, 1
    /// when any is not (warnings never fail), 2 on a usage error.
    Validate {
        /// Job files (HCL).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { files } => validate(&files, cli.json),
    }
}

fn validate(files: &[PathBuf], json: bool) -> ExitCode {
    let node = Node::detect();
    let mut all: Vec<Diagnostic> = Vec::new();
    let mut invalid = false;
    for path in files {
        let mut parsed = jobspec::parse_file(path);
        let name = path.display().to_string();
        parsed.diagnostics.extend(jobspec::placement_warnings(&name, &parsed.jobs, &node));
        jobspec::sort(&mut parsed.diagnostics);
        invalid |= !parsed.is_valid();
        if json {
            all.extend(parsed.diagnostics);
            continue;
        }
        for d in &parsed.diagnostics {
            println!("{d}");
        }
        if parsed.is_valid() {
            let n = parsed.jobs.len();
            let w = parsed.warnings();
            let warnings =
                if w > 0 { format!(", {w} warning{}", if w == 1 { "" } else { "s" }) } else { String::new() };
            println!("{name}: ok ({n} job{}{warnings})", if n == 1 { "" } else { "s" });
        } else {
            let e = parsed.errors();
            println!("{name}: invalid ({e} error{})", if e == 1 { "" } else { "s" });
        }
    }
    if json {
        match serde_json::to_string_pretty(&all) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("supctl: cannot encode the result as JSON: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if invalid { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
