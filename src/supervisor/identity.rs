//! Who a run is beyond its job: a periodic job's launch, a parameterized
//! job's dispatch ([`Launch`]), or work a peer handed in ([`HandedIn`]).
//! Each is made once, where its run is made (`periodic.rs`'s launch,
//! `dispatch.rs`'s dispatch, `handoff/receive.rs`), and carried on the run
//! (`JobRun::launch`, `JobRun::received`): what needs a run's parent or
//! launch time asks the run, never its ID.
//!
//! The IDs such runs go by (`JOB/periodic-<unix time>`,
//! `JOB/dispatch-<unix time>-<8 hex>`, `JOB@ORIGIN`) are written here, and
//! read back here only: [`Launch::parse`], once per run, when a previous
//! supd's state file names a launched or dispatched run (the file keeps the
//! ID and nothing more, and its format stays so). That reading is
//! unambiguous: no job ID may hold a `/` (`names::problem`; a handed-in
//! `JOB@ORIGIN` is checked as one too), so an ID that holds one was written
//! by [`Launch::id`], the job name before that one `/` its parent; and a job
//! cannot be both periodic and parameterized (`jobspec`'s `parameterized`
//! block refuses it), so a launch is never dispatched in turn.
//!
//! A leaf, as `task.rs` (which holds these on `JobRun`): it imports nothing
//! of the supervisor.

/// Between a periodic job's ID and the launch time (Nomad's
/// `PeriodicLaunchSuffix`, `/periodic-`).
const PERIODIC: &str = "periodic-";

/// Between a parameterized job's ID and the dispatch's time and nonce
/// (Nomad's `DispatchLaunchSuffix`, `/dispatch-`).
const DISPATCH: &str = "dispatch-";

/// A run a periodic job launched or a parameterized job's dispatch runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// `PARENT/periodic-AT`: the launch of periodic job `parent` for the
    /// instant `at` (unix seconds).
    Periodic { parent: String, at: u64 },
    /// `PARENT/dispatch-AT-NONCE`: a dispatch of parameterized job `parent`
    /// at `at` (unix seconds), told apart from others of that second by
    /// `nonce` (8 hex digits).
    Dispatch { parent: String, at: u64, nonce: String },
}

/// Which of the two a [`Launch`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchKind {
    Periodic,
    Dispatch,
}

impl Launch {
    /// The periodic or parameterized job it was launched or dispatched from.
    pub fn parent(&self) -> &str {
        match self {
            Launch::Periodic { parent, .. } | Launch::Dispatch { parent, .. } => parent,
        }
    }

    /// When it was launched or dispatched, in unix seconds.
    pub fn at(&self) -> u64 {
        match self {
            Launch::Periodic { at, .. } | Launch::Dispatch { at, .. } => *at,
        }
    }

    pub fn kind(&self) -> LaunchKind {
        match self {
            Launch::Periodic { .. } => LaunchKind::Periodic,
            Launch::Dispatch { .. } => LaunchKind::Dispatch,
        }
    }

    /// The job ID the run goes by (what users see, and what the state file
    /// keeps).
    pub fn id(&self) -> String {
        match self {
            Launch::Periodic { parent, at } => format!("{}{at}", LaunchKind::Periodic.id_prefix(parent)),
            Launch::Dispatch { parent, at, nonce } => format!("{}{at}-{nonce}", LaunchKind::Dispatch.id_prefix(parent)),
        }
    }

    /// The launch named by an ID that [`Launch::id`] wrote; `None` for any
    /// other ID, however alike (`a/periodic-01` is not `a/periodic-1`'s).
    /// Only for a run the state file names by its ID, once, as it is
    /// restored: every other question goes to the run's `launch`.
    pub fn parse(id: &str) -> Option<Launch> {
        let (parent, rest) = id.split_once('/')?;
        if parent.is_empty() {
            return None;
        }
        let launch = if let Some(secs) = rest.strip_prefix(PERIODIC) {
            Launch::Periodic { parent: parent.to_string(), at: secs.parse().ok()? }
        } else {
            let (secs, nonce) = rest.strip_prefix(DISPATCH)?.split_once('-')?;
            if nonce.is_empty() || nonce.contains('/') {
                return None;
            }
            Launch::Dispatch { parent: parent.to_string(), at: secs.parse().ok()?, nonce: nonce.to_string() }
        };
        // What the ID would be written as, exactly (no sign, no leading 0).
        (launch.id() == id).then_some(launch)
    }
}

impl LaunchKind {
    /// What the IDs of every run of this kind from job `parent` begin with,
    /// and no other job's (job IDs hold no `/`): where a range of IDs in
    /// order starts.
    pub fn id_prefix(self, parent: &str) -> String {
        match self {
            LaunchKind::Periodic => format!("{parent}/{PERIODIC}"),
            LaunchKind::Dispatch => format!("{parent}/{DISPATCH}"),
        }
    }
}

/// Work a peer handed to this host: the job as the peer names it and the
/// peer (the hand-off's origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedIn {
    pub job: String,
    pub origin: String,
}

impl HandedIn {
    pub fn new(job: &str, origin: &str) -> HandedIn {
        HandedIn { job: job.to_string(), origin: origin.to_string() }
    }

    /// The ID it runs under here, `JOB@ORIGIN`: two origins never share one.
    pub fn id(&self) -> String {
        format!("{}@{}", self.job, self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launched_run_names_its_parent_and_its_time() {
        let l = Launch::parse("backup/periodic-1796403600").expect("a launch");
        assert_eq!(l, Launch::Periodic { parent: "backup".into(), at: 1_796_403_600 });
        assert_eq!((l.parent(), l.at(), l.kind()), ("backup", 1_796_403_600, LaunchKind::Periodic));
        assert_eq!(l.id(), "backup/periodic-1796403600");
        assert_eq!(Launch::parse("backup"), None);
    }

    #[test]
    fn a_dispatched_run_names_its_parent_its_time_and_its_nonce() {
        let d = Launch::parse("j/dispatch-1796403600-0a1b2c3d").expect("a dispatch");
        assert_eq!(d, Launch::Dispatch { parent: "j".into(), at: 1_796_403_600, nonce: "0a1b2c3d".into() });
        assert_eq!((d.parent(), d.at(), d.kind()), ("j", 1_796_403_600, LaunchKind::Dispatch));
        assert_eq!(d.id(), "j/dispatch-1796403600-0a1b2c3d");
    }

    #[test]
    fn what_id_writes_parse_reads_back() {
        for l in [
            Launch::Periodic { parent: "a.b-c_d".into(), at: 0 },
            Launch::Periodic { parent: "x".into(), at: u64::MAX },
            Launch::Dispatch { parent: "render".into(), at: 1, nonce: "ffffffff".into() },
        ] {
            assert_eq!(Launch::parse(&l.id()), Some(l.clone()), "{}", l.id());
        }
        let (periodic, dispatch) = (LaunchKind::Periodic.id_prefix("b"), LaunchKind::Dispatch.id_prefix("b"));
        let launch = Launch::Periodic { parent: "b".into(), at: 7 }.id();
        let dispatched = Launch::Dispatch { parent: "b".into(), at: 7, nonce: "0a".into() }.id();
        assert!(launch.starts_with(&periodic) && !launch.starts_with(&dispatch), "{launch}");
        assert!(dispatched.starts_with(&dispatch) && !dispatched.starts_with(&periodic), "{dispatched}");
    }

    #[test]
    fn ids_that_merely_look_alike_are_not_launches() {
        for id in [
            "periodic-1796403600",
            "backup-periodic-1796403600",
            "backup/periodic-",
            "backup/periodic-x",
            "backup/periodic-+1",
            "backup/periodic-01",
            "j/dispatch-01-0a1b2c3d",
            "backup/periodic-1796403600-0a1b2c3d",
            "backup/periodic-1/x",
            "backup/periodic-99999999999999999999",
            "/periodic-1796403600",
            "j/dispatch-1796403600",
            "j/dispatch-1796403600-",
            "j/dispatch-x-0a1b2c3d",
            "j/dispatch-1-0a/1b",
            "j/other-1796403600",
            "web@n1",
            "",
        ] {
            assert_eq!(Launch::parse(id), None, "{id}");
        }
        // Why no job of its own can be taken for one: its name holds no `/`.
        assert!(crate::names::problem(crate::names::Kind::Job, "a/periodic-1").is_some());
    }

    #[test]
    fn a_handed_in_run_goes_by_job_at_origin() {
        assert_eq!(HandedIn::new("web", "n1").id(), "web@n1");
    }
}
