//! The receiving side: an instance a peer hands over, admitted if this
//! host's operator allows it and it fits, and run as `JOB@ORIGIN`.

use super::envelope_of;
use crate::handoff::Envelope;
use crate::supervisor::Supervisor;
use crate::supervisor::errors::HandoffError;
use crate::supervisor::identity::HandedIn;
use crate::supervisor::run::Source;
use crate::supervisor::task::EventKind;
use crate::supervisor::task::{JobRun, State};

impl Supervisor {
    /// Runs an instance a peer handed over (or, `restoring`, one this host
    /// had accepted before supd restarted). The envelope's `origin` is the
    /// peer the request came from, checked. Returns what happened, or why
    /// this host refuses.
    pub(in crate::supervisor) fn receive(
        &mut self,
        envelope: Envelope,
        restoring: bool,
    ) -> Result<String, HandoffError> {
        let (job, gi) = self.admit(&envelope, restoring)?;
        let node = self.cfg.node.name.clone();
        let name = format!("{}.{}[{}]", job.id, envelope.group, envelope.index);
        let key = (job.id.clone(), envelope.group.clone(), envelope.index);
        let mut incoming = crate::state::InstanceSaved::new(
            &job.id,
            &envelope.group,
            envelope.index,
            crate::state::digest(&job.source),
            envelope.history.clone(),
            Some(envelope.origin.clone()),
        );
        incoming.handoff_id = Some(envelope.id.clone());
        let Some(&serial) = self.jobs.current.get(&job.id) else {
            if restoring {
                self.reports.store.unclaimed.instances.entry(key).or_insert(incoming);
            } else {
                self.reports.store.unclaimed.instances.insert(key, incoming);
            }
            let only = vec![(envelope.group.clone(), envelope.index)];
            let from = HandedIn::new(&envelope.job, &envelope.origin);
            self.submit(job, Source::HandedIn { name: envelope.file.clone(), only, from });
            self.received_event(&envelope);
            return Ok(format!("accepted: {name} runs on node {node}"));
        };
        let Some(run) = self.jobs.runs.get(&serial) else { return Err(HandoffError::NoRun) };
        if run.job.source != job.source {
            if run.received.is_none() {
                return Err(HandoffError::NotHandedIn { job: job.id, node });
            }
            self.reports.store.unclaimed.instances.insert(key, incoming);
            self.receive_new_version(serial, job, &envelope);
            return Ok(format!("accepted: {name} runs on node {node} (job {:?} updated)", envelope.job));
        }
        self.receive_instance(serial, &job, gi, &envelope, key, incoming)
    }

    /// The checks before anything of a handed-off instance runs: this host
    /// accepts work, the job is valid and has that instance, it may run
    /// here (placement, and what this host lets peers run), fits, and was
    /// not stopped by this host's operator. The job comes back with the ID
    /// it runs under here: `JOB@ORIGIN`, so that two origins never share one.
    fn admit(&self, envelope: &Envelope, restoring: bool) -> Result<(crate::jobspec::Job, usize), HandoffError> {
        let node = self.cfg.node.name.clone();
        if !restoring && !self.cfg.handoff.accept {
            return Err(HandoffError::NotAccepting { node });
        }
        if self.stopping() {
            return Err(HandoffError::ShuttingDown { node });
        }
        let parsed = crate::jobspec::parse_str(&envelope.file, &envelope.source);
        if !parsed.is_valid() {
            let errors = parsed.diagnostics.iter().map(|d| d.to_string()).collect();
            return Err(HandoffError::Invalid { errors });
        }
        let Some(mut job) = parsed.jobs.into_iter().find(|j| j.id == envelope.job) else {
            return Err(HandoffError::NoJob { job: envelope.job.clone() });
        };
        if !job.runs_itself() {
            return Err(HandoffError::Launcher { job: envelope.job.clone() });
        }
        job.id = HandedIn::new(&envelope.job, &envelope.origin).id();
        if let Some(why) = crate::names::problem(crate::names::Kind::Job, &job.id) {
            return Err(HandoffError::JobName { why });
        }
        for g in &job.groups {
            if let Some(why) = g.tasks.iter().find_map(|t| crate::names::together_problem(&job.id, &g.name, &t.name)) {
                return Err(HandoffError::TaskName { why, job: job.id.clone() });
            }
        }
        let Some(gi) = job.groups.iter().position(|g| g.name == envelope.group) else {
            return Err(HandoffError::NoGroup { job: envelope.job.clone(), group: envelope.group.clone() });
        };
        if envelope.index >= job.groups[gi].count {
            return Err(HandoffError::NoInstance { group: envelope.group.clone(), index: envelope.index });
        }
        if let Some(why) = placement_refusal(&self.cfg.node, &job, gi) {
            return Err(HandoffError::Placement(why));
        }
        if !restoring {
            if let Some(why) = policy_refusal(&self.cfg.handoff, &node, &envelope.origin, &job.groups[gi]) {
                return Err(HandoffError::Policy(why));
            }
            self.fits_here(&job, gi, envelope.index)?;
        }
        if !restoring && self.jobs.stopped.contains(&job.id) {
            return Err(HandoffError::Stopped { job: job.id, node });
        }
        Ok((job, gi))
    }

    /// A newer (or older) version of received work: it replaces what runs,
    /// keeping the other received instances and their histories.
    fn receive_new_version(&mut self, serial: u64, job: crate::jobspec::Job, envelope: &Envelope) {
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let digest = crate::state::digest(&job.source);
        let mut only = Vec::new();
        for i in run.instances.iter().filter(|i| !i.removed) {
            let g = run.job.groups[i.group].name.clone();
            // The new version of each other instance must be one this host
            // runs for the peer too; one that is not stops.
            let allowed = job.groups.iter().position(|x| x.name == g).is_some_and(|gi| {
                placement_refusal(&self.cfg.node, &job, gi).is_none()
                    && policy_refusal(&self.cfg.handoff, &self.cfg.node.name, &envelope.origin, &job.groups[gi])
                        .is_none()
            });
            if !allowed {
                log::warn!("{}: its new version may not run on this node; it stops", i.name);
                continue;
            }
            if (g.as_str(), i.index) != (envelope.group.as_str(), envelope.index) {
                let mut saved = crate::state::InstanceSaved::new(
                    &job.id,
                    &g,
                    i.index,
                    digest,
                    i.history.to_vec(),
                    i.received_from.clone(),
                );
                saved.handoff_id = Some(i.received_id.clone());
                self.reports.store.unclaimed.instances.insert((job.id.clone(), g.clone(), i.index), saved);
                if job.groups.iter().any(|x| x.name == g && i.index < x.count) {
                    only.push((g, i.index));
                }
            }
        }
        only.push((envelope.group.clone(), envelope.index));
        let from = HandedIn::new(&envelope.job, &envelope.origin);
        self.submit(job, Source::HandedIn { name: envelope.file.clone(), only, from });
        self.received_event(envelope);
    }

    /// An instance of a version this host already runs for a peer: a newer
    /// hand-off of one it runs takes it over, one that ended runs again,
    /// one new here is added.
    fn receive_instance(
        &mut self,
        serial: u64,
        job: &crate::jobspec::Job,
        gi: usize,
        envelope: &Envelope,
        key: (String, String, u32),
        incoming: crate::state::InstanceSaved,
    ) -> Result<String, HandoffError> {
        let node = self.cfg.node.name.clone();
        let name = format!("{}.{}[{}]", job.id, envelope.group, envelope.index);
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return Err(HandoffError::NoRun) };
        if let Some(ii) = run.instances.iter().position(|i| !i.removed && i.group == gi && i.index == envelope.index) {
            let i = &mut run.instances[ii];
            if i.is_live() {
                i.history = envelope.history.clone().into();
                i.received_id = envelope.id.clone();
                self.state_changed();
                return Ok(format!("{name} already runs on node {node}; it goes on as hand-off {}", envelope.id));
            }
            let received = Some((envelope.origin.clone(), envelope.id.clone()));
            self.reset_instance(serial, ii, envelope.history.clone(), received);
            self.received_event(envelope);
            return Ok(format!("accepted: {name} runs on node {node} again"));
        }
        if run.received.is_none() {
            return Err(HandoffError::LacksInstance { job: job.id.clone(), instance: name });
        }
        // One more instance of work this host already runs for the peer.
        self.reports.store.unclaimed.instances.insert(key, incoming);
        let instance = self.new_instance(job, gi, envelope.index);
        let Some(run) = self.jobs.runs.get_mut(&serial) else { return Err(HandoffError::NoRun) };
        run.instances.push(instance);
        let ii = run.instances.len() - 1;
        self.take_in(serial, ii);
        self.received_event(envelope);
        self.state_changed();
        self.advance(serial, ii);
        Ok(format!("accepted: {name} runs on node {node}"))
    }

    /// Whether one instance of group `gi` fits beside what runs here (the
    /// job's other live instances included): "Resources exhausted" with the
    /// numbers otherwise, so that the sender tries the next peer.
    fn fits_here(&self, job: &crate::jobspec::Job, gi: usize, index: u32) -> Result<(), HandoffError> {
        let (mut cpu, mut mem) = self.reserved(Some(&job.id));
        if let Some(run) = self.jobs.current.get(&job.id).and_then(|s| self.jobs.runs.get(s))
            && !run.stopped
        {
            for i in run.instances.iter().filter(|i| !i.removed) {
                let same = run.job.groups[i.group].name == job.groups[gi].name && i.index == index;
                if same || i.tasks.iter().all(|t| t.state == State::Dead) {
                    continue;
                }
                for t in &i.tasks {
                    let (c, m) = t.spec.resources.reserved();
                    cpu += c;
                    mem += m;
                }
            }
        }
        let mut one = job.clone();
        one.groups = vec![job.groups[gi].clone()];
        one.groups[0].count = 1;
        crate::node::fit(&self.cfg.node, (cpu, mem), &one).map_err(|e| HandoffError::NoRoom {
            node: self.cfg.node.name.clone(),
            instance: format!("{}.{}[{index}]", job.id, one.groups[0].name),
            why: e.to_string(),
        })
    }

    fn received_event(&mut self, e: &Envelope) {
        let id = HandedIn::new(&e.job, &e.origin).id();
        let Some(&serial) = self.jobs.current.get(&id) else { return };
        let Some(run) = self.jobs.runs.get(&serial) else { return };
        let Some(inst) = run
            .instances
            .iter()
            .position(|i| !i.removed && run.job.groups[i.group].name == e.group && i.index == e.index)
        else {
            return;
        };
        let why = e.history.last().map_or(String::new(), |h| format!(": {}", h.reason));
        self.instance_event(
            serial,
            inst,
            EventKind::HandedIn,
            format!("From node {} (hand-off {}){why}", e.origin, e.attempt),
        );
        self.state_changed();
    }

    /// The envelopes that re-create a received run after a restart (none
    /// for a run not handed in): the job as its peer names it.
    pub(in crate::supervisor) fn received_envelopes(&self, run: &JobRun) -> Vec<Envelope> {
        let Some(from) = &run.received else { return Vec::new() };
        run.instances
            .iter()
            .filter(|i| !i.removed)
            .map(|i| {
                let origin = i.received_from.clone().unwrap_or_default();
                envelope_of(run, i, &from.job, i.received_id.clone(), origin, i.history.to_vec())
            })
            .collect()
    }
}

/// Why this node does not let `origin` run this group here, if it does
/// not: the drivers, users, and `raw_exec` as root its `[handoff]` allows.
fn policy_refusal(
    h: &crate::config::HandoffSettings,
    node: &str,
    origin: &str,
    group: &crate::jobspec::model::Group,
) -> Option<String> {
    for t in &group.tasks {
        let driver = t.driver.as_str();
        if let Some(allowed) = h.drivers.as_ref().filter(|d| !d.iter().any(|x| x == driver)) {
            return Some(format!(
                "node {node} does not run {driver} tasks for peers (task {:?}; [handoff] drivers = {allowed:?})",
                t.name
            ));
        }
        let user = t.user.as_deref().filter(|u| !u.is_empty());
        let root = matches!(user, None | Some("root") | Some("0"));
        // A host process without isolation (`raw_exec`) runs as root only
        // where `raw_exec_as_root` says so.
        let unconfined = !t.driver.is_container() && !t.driver.is_isolated();
        if unconfined && root && !h.raw_exec_as_root {
            return Some(format!(
                "node {node} does not run a peer's {driver} task as root (task {:?} from {origin} has {}) — give the task a `user`, or set raw_exec_as_root = true under [handoff] on {node}",
                t.name,
                user.map_or("no user".to_string(), |u| format!("user = {u:?}"))
            ));
        }
        if let Some(users) = &h.users {
            let name = user.unwrap_or("root");
            if !users.iter().any(|u| u == name) {
                return Some(format!(
                    "node {node} does not run a peer's tasks as {name:?} (task {:?}; [handoff] users = {users:?})",
                    t.name
                ));
            }
        }
    }
    None
}

/// Why this node cannot run a group of the job: its datacenter, or a
/// constraint of the job, the group or its tasks that does not hold here.
fn placement_refusal(node: &crate::node::Node, job: &crate::jobspec::Job, gi: usize) -> Option<String> {
    if !node.in_datacenters(&job.datacenters) {
        return Some(format!(
            "node {} is in datacenter {:?}; job {:?} runs in {:?}",
            node.name, node.datacenter, job.id, job.datacenters
        ));
    }
    let group = &job.groups[gi];
    let scopes =
        job.constraints.iter().chain(&group.constraints).chain(group.tasks.iter().flat_map(|t| &t.constraints));
    for c in scopes {
        if crate::node::placement_limit(c).is_none() && !node.satisfies(c) {
            let shown = node.resolve(&c.attribute).map_or("unset".to_string(), |v| format!("{v:?}"));
            return Some(format!(
                "node {} does not satisfy the constraint `{}` ({} is {shown})",
                node.name,
                format!("{} {} {}", c.attribute, c.operator.as_str(), c.value).trim(),
                c.attribute
            ));
        }
    }
    None
}
