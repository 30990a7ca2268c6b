//! `supctl import`: systemd units, supervisord files and runit service
//! directories converted into job files, printed or written to a directory.

use std::path::PathBuf;
use std::process::ExitCode;

/// `supctl import`: each source converted, printed or written.
pub(super) fn import(sources: &[PathBuf], out: Option<&std::path::Path>) -> ExitCode {
    let mut failed = false;
    for src in sources {
        let shown = src.display().to_string();
        match convert_source(src, &shown) {
            Ok(jobs) => {
                for c in jobs {
                    if !emit_converted(&c, &shown, out) {
                        failed = true;
                    }
                }
            }
            Err(e) => {
                eprintln!("supctl: {e}");
                failed = true;
            }
        }
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// One source of `supctl import` converted, by what it is: a runit service
/// directory, a systemd unit (with its drop-ins) or a supervisord file.
fn convert_source(src: &std::path::Path, shown: &str) -> Result<Vec<supd::import::Converted>, String> {
    use supd::import;
    let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    if src.is_dir() {
        let run = read(&src.join("run"))?;
        let finish = read(&src.join("finish")).ok();
        let name = src.file_name().map_or(shown.to_string(), |n| n.to_string_lossy().into_owned());
        return import::runit::convert(&name, &run, finish.as_deref()).map(|c| vec![c]).map_err(|e| e.to_string());
    }
    if std::fs::read_link(src).is_ok_and(|t| t == std::path::Path::new("/dev/null")) {
        return Err(format!("{shown}: masked (a link to /dev/null): nothing to convert"));
    }
    let text = read(src)?;
    let name = src.file_name().map_or(shown.to_string(), |n| n.to_string_lossy().into_owned());
    if name.ends_with(".service") {
        // Its drop-ins (NAME.service.d/*.conf) apply over it, in order.
        let mut text = text;
        if let Ok(dir) = std::fs::read_dir(src.with_file_name(format!("{name}.d"))) {
            let mut confs: Vec<PathBuf> =
                dir.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "conf")).collect();
            confs.sort();
            for c in confs {
                text.push('\n');
                text.push_str(&read(&c)?);
            }
        }
        return import::systemd::convert(&name, &text).map(|c| vec![c]).map_err(|e| e.to_string());
    }
    if text.contains("[program:") {
        return import::supervisord::convert(shown, &text).map_err(|e| e.to_string());
    }
    Err(format!(
        "{shown}: not a systemd .service unit, a supervisord file with [program:…] sections, or a runit service directory"
    ))
}

/// One converted job's notes on stderr, then the job printed, or written
/// to DIR/NAME.hcl with --out; false when it could not be written.
fn emit_converted(c: &supd::import::Converted, shown: &str, out: Option<&std::path::Path>) -> bool {
    for n in &c.notes {
        eprintln!("supctl: {shown}: {}: {n}", c.name);
    }
    let Some(dir) = out else {
        print!("{}", c.hcl);
        return true;
    };
    // A name from the source: joined the one safe way.
    let path = match supd::names::beneath(dir, &[&format!("{}.hcl", c.name)]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("supctl: {shown}: {e}");
            return false;
        }
    };
    // It may hold what the source kept from others
    // (an Environment= secret): the owner's alone.
    use std::os::unix::fs::OpenOptionsExt;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, c.hcl.as_bytes()));
    match written {
        Ok(()) => {
            println!("{}", path.display());
            true
        }
        Err(e) => {
            eprintln!("supctl: {}: {e}", path.display());
            false
        }
    }
}
