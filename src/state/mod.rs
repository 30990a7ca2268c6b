//! What survives a restart of supd: the jobs submitted with `supctl job
//! run` (their source) and the jobs the operator stopped. Written
//! atomically — a temporary file, fsync, rename, fsync of the directory —
//! so that a crash leaves either the old state or the new one, never half.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub version: u32,
    /// Jobs submitted through the control socket, in submission order.
    #[serde(default)]
    pub submitted: Vec<Submitted>,
    /// IDs of jobs stopped with `job stop`: they stay stopped.
    #[serde(default)]
    pub stopped: Vec<String>,
    /// Per task: its restart budget and the process it was running.
    #[serde(default)]
    pub tasks: Vec<TaskSaved>,
    /// Instances with a hand-off history, or handed off to a peer.
    #[serde(default)]
    pub instances: Vec<InstanceSaved>,
    /// Instances peers handed to this host, as they arrived (with the
    /// history as it is now).
    #[serde(default)]
    pub received: Vec<crate::handoff::Envelope>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceSaved {
    pub job: String,
    pub group: String,
    pub index: u32,
    /// As in [`TaskSaved`]: it applies to the same job only.
    pub source_digest: u64,
    #[serde(default)]
    pub history: Vec<crate::handoff::HistoryEntry>,
    /// The peer that took it: it is not run here again until an operator
    /// says so.
    #[serde(default)]
    pub handed_off_to: Option<String>,
    #[serde(default)]
    pub handed_off_at: Option<String>,
    #[serde(default)]
    pub received_from: Option<String>,
}

impl InstanceSaved {
    /// An instance's history and origin, not handed off.
    pub fn new(
        job: &str,
        group: &str,
        index: u32,
        source_digest: u64,
        history: Vec<crate::handoff::HistoryEntry>,
        received_from: Option<String>,
    ) -> InstanceSaved {
        InstanceSaved {
            job: job.to_string(),
            group: group.to_string(),
            index,
            source_digest,
            history,
            handed_off_to: None,
            handed_off_at: None,
            received_from,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSaved {
    pub job: String,
    pub group: String,
    pub index: u32,
    pub task: String,
    /// A digest of the job's source: the history only applies to the same job.
    pub source_digest: u64,
    /// Wall-clock times (Unix milliseconds) of the policy restarts in the window.
    pub restart_times: Vec<u64>,
    /// Total restarts shown in status.
    pub restarts: u32,
    /// The process running when this was written, with its start time
    /// (clock ticks since boot, /proc/PID/stat field 22) to tell it from a
    /// later process with the same pid.
    pub pid: Option<i32>,
    pub start_ticks: Option<u64>,
    /// The task had ended for good (`dead`), and whether it failed: it is
    /// not started again.
    #[serde(default)]
    pub dead: bool,
    #[serde(default)]
    pub failed: bool,
}

/// A digest of a job's source text.
pub fn digest(source: &str) -> u64 {
    // FNV-1a: stable across builds, unlike std's hasher.
    source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// The name the job was submitted under, for messages.
    pub file: String,
    /// The job's HCL, as submitted.
    pub source: String,
}

fn path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// Reads the saved state; none yet is an empty state. A file that cannot be
/// read as state is moved aside (`state.json.bad`), so that it can be
/// examined, and the error says so.
pub fn load(dir: &Path) -> Result<Saved, String> {
    let p = path(dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Saved::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", p.display())),
    };
    match serde_json::from_str::<Saved>(&text) {
        Ok(s) if s.version <= VERSION => Ok(s),
        Ok(s) => Err(format!("{} is of a newer supd (version {}); starting without it", p.display(), s.version)),
        Err(e) => {
            let bad = dir.join("state.json.bad");
            let _ = std::fs::rename(&p, &bad);
            Err(format!("{} is not valid ({e}); moved to {} and starting without it", p.display(), bad.display()))
        }
    }
}

/// Writes the state atomically.
pub fn save(dir: &Path, state: &Saved) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("state.json.tmp");
    let data = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path(dir))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_empty_start() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), Saved::default());
        let s = Saved {
            version: VERSION,
            submitted: vec![Submitted { file: "web.hcl".into(), source: "job \"web\" {}\n".into() }],
            stopped: vec!["old".into()],
            tasks: vec![TaskSaved {
                job: "web".into(),
                group: "g".into(),
                index: 0,
                task: "t".into(),
                source_digest: digest("job \"web\" {}\n"),
                restart_times: vec![1_800_000_000_000],
                restarts: 3,
                pid: Some(42),
                start_ticks: Some(1234),
                dead: false,
                failed: false,
            }],
            instances: vec![InstanceSaved {
                job: "web".into(),
                group: "g".into(),
                index: 1,
                source_digest: 7,
                history: vec![crate::handoff::HistoryEntry::new(
                    std::time::UNIX_EPOCH,
                    "a",
                    Some("b"),
                    std::time::Duration::from_secs(5),
                    "task \"t\" failed",
                )],
                handed_off_to: Some("b".into()),
                handed_off_at: Some("2026-11-28T00:00:00.000Z".into()),
                received_from: None,
            }],
            received: Vec::new(),
        };
        save(dir.path(), &s).unwrap();
        assert_eq!(load(dir.path()).unwrap(), s);
        assert!(!dir.path().join("state.json.tmp").exists());
    }

    #[test]
    fn digests_differ() {
        assert_ne!(digest("a"), digest("b"));
    }

    #[test]
    fn a_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), "{ not json").unwrap();
        let e = load(dir.path()).unwrap_err();
        assert!(e.contains("moved to"), "{e}");
        assert!(dir.path().join("state.json.bad").exists());
        assert_eq!(load(dir.path()).unwrap(), Saved::default());
    }
}
