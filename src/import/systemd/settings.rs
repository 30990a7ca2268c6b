//! Each `[Unit]` and `[Service]` setting read into `Unit`, folded as
//! systemd folds them; a note for each one supd has no place for.

use super::parse::Entry;
use super::{Raw, Unit};

/// Appends to a list setting; an empty value resets it.
fn push_list(list: &mut Vec<Raw>, e: &Entry) {
    if e.value.is_empty() {
        list.clear();
    } else {
        list.push(Raw { value: e.value.clone(), line: e.line });
    }
}

fn set(slot: &mut Option<Raw>, e: &Entry) {
    *slot = if e.value.is_empty() { None } else { Some(Raw { value: e.value.clone(), line: e.line }) };
}

fn set_string(slot: &mut Option<String>, e: &Entry) {
    *slot = if e.value.is_empty() { None } else { Some(e.value.clone()) };
}

impl Unit {
    fn no_equivalent(&mut self, e: &Entry) {
        self.notes.push(format!("no equivalent: {}={}", e.key, e.value));
    }

    pub(super) fn unit_key(&mut self, e: &Entry) {
        match e.key.as_str() {
            "Description" => set_string(&mut self.description, e),
            "Documentation" => {
                if e.value.is_empty() {
                    self.documentation.clear();
                } else {
                    self.documentation.push(e.value.clone());
                }
            }
            "After"
            | "Before"
            | "Requires"
            | "Wants"
            | "BindsTo"
            | "PartOf"
            | "Requisite"
            | "Upholds"
            | "Conflicts"
            | "OnFailure"
            | "OnSuccess"
            | "PropagatesReloadTo"
            | "ReloadPropagatedFrom"
            | "PropagatesStopTo"
            | "StopPropagatedFrom"
            | "JoinsNamespaceOf" => {
                if !e.value.is_empty() {
                    self.dependencies.push(format!("{}={}", e.key, e.value));
                }
            }
            "StartLimitIntervalSec" | "StartLimitInterval" => set(&mut self.start_limit_interval, e),
            "StartLimitBurst" => set(&mut self.start_limit_burst, e),
            "DefaultDependencies" | "SourcePath" => {}
            k if k.starts_with("Condition") || k.starts_with("Assert") => self
                .notes
                .push(format!("{}={}: no equivalent — supd starts the job whether or not this holds", e.key, e.value)),
            _ => self.no_equivalent(e),
        }
    }

    pub(super) fn service_key(&mut self, e: &Entry) {
        match e.key.as_str() {
            "Type" => set(&mut self.service_type, e),
            "ExecStart" => push_list(&mut self.exec_start, e),
            "ExecStartPre" => push_list(&mut self.exec_start_pre, e),
            "ExecStartPost" => push_list(&mut self.exec_start_post, e),
            "ExecStop" => push_list(&mut self.exec_stop, e),
            "ExecStopPost" => push_list(&mut self.exec_stop_post, e),
            "ExecReload" => push_list(&mut self.exec_reload, e),
            "ExecCondition" => push_list(&mut self.exec_condition, e),
            "Restart" => set(&mut self.restart, e),
            "RestartSec" => set(&mut self.restart_sec, e),
            "StartLimitIntervalSec" | "StartLimitInterval" => set(&mut self.start_limit_interval, e),
            "StartLimitBurst" => set(&mut self.start_limit_burst, e),
            "User" => set_string(&mut self.user, e),
            "Group" => set_string(&mut self.group, e),
            "WorkingDirectory" => set_string(&mut self.working_directory, e),
            "Environment" => push_list(&mut self.environment, e),
            "EnvironmentFile" => {
                if e.value.is_empty() {
                    self.environment_files.clear();
                } else {
                    self.environment_files.push(e.value.clone());
                }
            }
            "KillSignal" => set(&mut self.kill_signal, e),
            "TimeoutStopSec" | "TimeoutSec" => set(&mut self.timeout_stop, e),
            "MemoryMax" | "MemoryLimit" => set(&mut self.memory_max, e),
            "RemainAfterExit" => self.remain_after_exit = matches!(e.value.as_str(), "yes" | "true" | "on" | "1"),
            "PIDFile" => set_string(&mut self.pid_file, e),
            "GuessMainPID"
            | "NotifyAccess"
            | "RuntimeDirectoryMode"
            | "StateDirectoryMode"
            | "CacheDirectoryMode"
            | "LogsDirectoryMode"
            | "ConfigurationDirectoryMode"
            | "RuntimeDirectoryPreserve" => {}
            _ => self.service_note(e),
        }
    }

    /// A `[Service]` setting supd has no place for: how the task is killed,
    /// its exit statuses, directories, limits and resources, as a note.
    fn service_note(&mut self, e: &Entry) {
        match e.key.as_str() {
            "KillMode" => match e.value.as_str() {
                "" | "control-group" => {}
                "process" => self.notes.push(
                    "KillMode=process: systemd signals only the main process and leaves its children; supd signals the task's whole process group, and kills what is left in its cgroup"
                        .to_string(),
                ),
                _ => self.notes.push(format!(
                    "KillMode={}: supd signals the task's process group with kill_signal, then SIGKILL after kill_timeout",
                    e.value
                )),
            },
            "RestartPreventExitStatus" | "SuccessExitStatus" | "RestartForceExitStatus" => self.notes.push(format!(
                "{}={}: no equivalent — supd's restart policy does not look at the exit status",
                e.key, e.value
            )),
            "RuntimeDirectory" | "StateDirectory" | "CacheDirectory" | "LogsDirectory" | "ConfigurationDirectory" => {
                self.directory_note(e);
            }
            k if k.starts_with("Limit") => self.notes.push(format!(
                "{k}={}: supd sets no resource limits of its own; the task inherits supd's (raise them for supd itself, e.g. {k}= in supd's unit)",
                e.value
            )),
            "CPUQuota" => self.notes.push(format!(
                "CPUQuota={}: no direct equivalent — resources {{ cpu = MHz }} is a weight, a hard quota only with supd.toml's cpu_hard_limit",
                e.value
            )),
            "CPUWeight" | "CPUShares" | "StartupCPUWeight" | "StartupCPUShares" => self.notes.push(format!(
                "{}={}: no direct equivalent — resources {{ cpu = MHz }} sets the task's share of the CPU",
                e.key, e.value
            )),
            "MemoryHigh" | "MemoryLow" | "MemoryMin" | "MemorySwapMax" => self.notes.push(format!(
                "{}={}: no equivalent — resources {{ memory = MB }} is a hard limit (MemoryMax=)",
                e.key, e.value
            )),
            "Nice" => self.notes.push(format!(
                "Nice={}: supd does not change the task's nice value — run the program through `nice -n {}` if it matters",
                e.value, e.value
            )),
            _ => self.service_io_note(e),
        }
    }

    /// `RuntimeDirectory=` and its kin: a note naming the directories supd
    /// does not create.
    fn directory_note(&mut self, e: &Entry) {
        let root = match e.key.as_str() {
            "RuntimeDirectory" => "/run",
            "StateDirectory" => "/var/lib",
            "CacheDirectory" => "/var/cache",
            "LogsDirectory" => "/var/log",
            _ => "/etc",
        };
        let dirs: Vec<String> =
            e.value.split_whitespace().map(|d| format!("{root}/{}", d.split(':').next().unwrap_or(d))).collect();
        if !dirs.is_empty() {
            self.notes.push(format!(
                "{}={}: supd does not create {} — create it before the task starts (e.g. `install -d -o USER {}` in a prestart task)",
                e.key,
                e.value,
                dirs.join(" "),
                dirs.join(" ")
            ));
        }
    }

    /// A `[Service]` setting of the task's input and output, watchdog,
    /// groups or environment, as a note; anything else has no equivalent.
    fn service_io_note(&mut self, e: &Entry) {
        match e.key.as_str() {
            "StandardOutput" | "StandardError" => match e.value.as_str() {
                "" | "journal" | "inherit" | "journal+console" | "syslog" | "kmsg" => {}
                v => self.notes.push(format!(
                    "{}={v}: supd captures the task's stdout and stderr into rotated files (`supctl logs`), or into the journal with meta supd_task_output = \"journal\"",
                    e.key
                )),
            },
            "StandardInput" => match e.value.as_str() {
                "" | "null" => {}
                v => self.notes.push(format!("StandardInput={v}: supd gives every task /dev/null as its standard input")),
            },
            "WatchdogSec" => self.notes.push(format!(
                "WatchdogSec={}: supd has no watchdog — a check {{ type = \"script\" }} with check_restart can stand in",
                e.value
            )),
            "SupplementaryGroups" => self.notes.push(format!(
                "SupplementaryGroups={}: supd gives the task its user's groups (from /etc/group), no others",
                e.value
            )),
            "DynamicUser" => {
                if matches!(e.value.as_str(), "yes" | "true" | "on" | "1") {
                    self.notes.push(
                        "DynamicUser=yes: supd has no dynamic users — create a system user and set it as `user`"
                            .to_string(),
                    );
                }
            }
            "PassEnvironment" => self.notes.push(format!(
                "PassEnvironment={}: supd passes its whole environment to the task (supd-job(5), RUNTIME ENVIRONMENT)",
                e.value
            )),
            _ => self.no_equivalent(e),
        }
    }
}
