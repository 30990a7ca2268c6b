//! What a task's event says happened: one name per kind, as Nomad's task
//! events type them (`Received`, `Task Setup`, `Started`, `Terminated`…)
//! and supd's own where Nomad has none (`Engine Unreachable`, `Handed
//! Off`…). A leaf: the model (`task.rs`) keeps an event's kind as this
//! one byte, and the protocol and the files supd writes carry its text.

macro_rules! event_kinds {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// The kind of a task's event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $($(#[$doc])* $variant,)*
        }

        impl EventKind {
            /// Every kind, in the order written here.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),*];

            /// The kind as statuses, `supctl events` and saved state show it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $text,)*
                }
            }
        }
    };
}

event_kinds! {
    /// Nomad's: the task was given to this client.
    Received => "Received",
    /// Its directory was built (or restored, taken over).
    TaskSetup => "Task Setup",
    Started => "Started",
    Terminated => "Terminated",
    Restarting => "Restarting",
    NotRestarting => "Not Restarting",
    Killing => "Killing",
    Killed => "Killed",
    Signaling => "Signaling",
    RestartSignaled => "Restart Signaled",
    SiblingTaskFailed => "Sibling Task Failed",
    LeaderTaskDead => "Leader Task Dead",
    MainTasksDead => "Main Tasks Dead",
    WaitingForShutdownDelay => "Waiting for shutdown delay",
    SetupFailure => "Setup Failure",
    DriverFailure => "Driver Failure",
    DownloadingArtifacts => "Downloading Artifacts",
    FailedArtifactDownload => "Failed Artifact Download",
    DownloadingImage => "Downloading Image",
    /// Nomad's template runner: what a render waits for.
    Template => "Template",
    FailedTemplates => "Failed Templates",
    TaskHookFailed => "Task hook failed",
    TaskHookMessage => "Task hook message",
    /// supd's: a `${…}` nothing on this node resolves.
    UnresolvedReference => "Unresolved Reference",
    CheckPort => "Check Port",
    CheckStatus => "Check Status",
    EngineUnreachable => "Engine Unreachable",
    EngineReachable => "Engine Reachable",
    /// A process a previous supd left, taken over.
    Adopted => "Adopted",
    Rescheduling => "Rescheduling",
    NotRescheduling => "Not Rescheduling",
    HandingOff => "Handing Off",
    HandedOff => "Handed Off",
    HandedIn => "Handed In",
    Recalling => "Recalling",
    LostOnPeer => "Lost On Peer",
    PeerUnreachable => "Peer Unreachable",
    RunningOnPeer => "Running On Peer",
    CompleteOnPeer => "Complete On Peer",
    HandOffBlocked => "Hand-off Blocked",
    HandOffUnknown => "Hand-off Unknown",
    HandOffRefused => "Hand-off Refused",
    /// A container a previous supd left, taken over.
    Driver => "Driver",
    /// A task's process carried across `supctl daemon-reexec`.
    Reexecuted => "Reexecuted",
    /// A kind a newer or older supd wrote that this one does not know.
    Other => "Event",
}

impl EventKind {
    /// The kind a saved or carried event names (`Other` for one this supd
    /// does not know).
    pub fn parse(text: &str) -> EventKind {
        EventKind::ALL.iter().copied().find(|k| k.as_str() == text).unwrap_or(EventKind::Other)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn every_kind_reads_back_as_itself_and_an_unknown_one_as_other() {
        for &k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), k, "{k:?}");
        }
        assert_eq!(EventKind::parse("Some Kind From Elsewhere"), EventKind::Other);
        let mut texts: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), EventKind::ALL.len(), "two kinds say the same");
    }
}
