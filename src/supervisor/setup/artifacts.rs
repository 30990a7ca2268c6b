//! A task's artifacts: fetched once, off the loop on `taskdir::Fetcher`'s
//! helper threads, the start made again once they are in.

use crate::supervisor::task::EventKind;
use crate::supervisor::{Supervisor, TaskKey, launch};
use crate::taskdir;
use std::collections::BTreeMap;

impl Supervisor {
    /// Starts the download of a task's artifacts, with `${...}` resolved in
    /// `env`; always false: the start is made again once they are in, or
    /// the failure has asked the restart policy.
    pub(super) fn start_fetch(&mut self, key: TaskKey, dir: &taskdir::TaskDir, env: &BTreeMap<String, String>) -> bool {
        let Some(t) = self.jobs.task(key) else { return false };
        let node = &self.cfg.node;
        let vars = |name: &str| launch::lookup_in(node, env, name);
        let prepared: Result<Vec<_>, _> =
            // Owned by supd's user, as Nomad's without `chown`.
            t.spec.artifacts.iter().map(|a| taskdir::artifact::prepare(a, dir, &vars, None)).collect();
        let generation = t.generation;
        let limits = self.cfg.artifact_limits.clone();
        // A file of this host only from the directories supd.toml lists.
        let prepared = prepared.and_then(|fetches| {
            for f in &fetches {
                taskdir::artifact::check_file_root(f, &limits.file_roots)?;
            }
            Ok(fetches)
        });
        let started = prepared.and_then(|fetches| {
            self.pending
                .setup
                .fetcher
                .start((key, generation), fetches, limits)
                .map_err(|e| taskdir::ArtifactError::Io(format!("cannot start a download thread: {e}")))
        });
        match started {
            Ok(handle) => {
                if let Some(t) = self.jobs.task_mut(key) {
                    t.push_event(EventKind::DownloadingArtifacts, "Client is downloading artifacts");
                    t.setup.fetching = Some(handle);
                }
            }
            Err(e) => {
                self.setup_failed(
                    key,
                    EventKind::FailedArtifactDownload,
                    format!("Failed to download artifacts: {e}"),
                    true,
                );
            }
        }
        false
    }

    /// Fetches that ended: the task starts, or its failure goes to the
    /// restart policy.
    pub(in crate::supervisor) fn on_fetched(&mut self) {
        while let Some(((key, generation), outcome)) = self.pending.setup.fetcher.try_recv() {
            let Some(t) = self.jobs.task_mut(key) else { continue };
            if t.generation != generation || t.setup.fetching.is_none() {
                continue; // cancelled: the task was stopped meanwhile
            }
            t.setup.fetching = None;
            match outcome {
                Ok(fetched) => {
                    t.setup.fetched = true;
                    let label = self.label(key);
                    for f in &fetched {
                        log::info!("{label}: fetched {} into {} ({} bytes)", f.source, f.path.display(), f.downloaded);
                    }
                    self.start_task(key);
                }
                Err(e) => self.setup_failed(
                    key,
                    EventKind::FailedArtifactDownload,
                    format!("Failed to download artifacts: {e}"),
                    true,
                ),
            }
        }
    }
}
