//! Property tests of the core: random instances (lifecycle hooks, a
//! leader, restart policies at group and task level, service or batch)
//! driven through random sequences of exits, starts that succeed or fail,
//! health-check and operator restarts, clock jumps and stops, by a small
//! simulated shell that carries the effects out as `run/` does. After
//! every step the invariants are checked: at most one run of a task at a
//! time, no policy restart past the budget of any window, nothing but
//! poststop tasks started and nothing armed once the instance winds down,
//! every end for good journaled before anything else is done, poststop
//! tasks started only once the others are dead, and every task dead once
//! the instance is stopped and its processes have ended. Plain examples
//! follow.

use super::*;
use crate::jobspec::model::{Hook, JobType};
use crate::policy::restart::{RestartReason, RestartTracker, restarts_on_success};
use crate::process::Exit;
use crate::supervisor::task::After;
use nix::unistd::Pid;
use proptest::prelude::*;
use std::time::{Duration, Instant, SystemTime};

// --- job files ----------------------------------------------------------

use super::lifecycle::tests::{hook, instance, task};

/// A `restart` block, indented by `pad`.
fn restart(pad: &str, attempts: u32, interval_secs: u64, delay_secs: u64, mode: &str) -> String {
    format!(
        "{pad}restart {{\n\
         {pad}  attempts = {attempts}\n\
         {pad}  interval = \"{interval_secs}s\"\n\
         {pad}  delay = \"{delay_secs}s\"\n\
         {pad}  mode = \"{mode}\"\n\
         {pad}}}"
    )
}

/// A restart policy the parser accepts: an interval of 5s at least, a
/// delay that fits `attempts` times in it, mode "delay" only with attempts.
#[derive(Debug, Clone)]
struct PolicyShape {
    attempts: u32,
    interval: u64,
    delay: u64,
    delay_mode: bool,
}

impl PolicyShape {
    fn hcl(&self, pad: &str) -> String {
        let mode = if self.delay_mode { "delay" } else { "fail" };
        restart(pad, self.attempts, self.interval, self.delay, mode)
    }
}

#[derive(Debug, Clone)]
struct TaskShape {
    hook: Option<Hook>,
    sidecar: bool,
    restart: Option<PolicyShape>,
    /// Every start of it fails at once, for good, while the shell carries
    /// out the effects that asked for it (a task with nothing to run).
    fails_at_once: bool,
}

#[derive(Debug, Clone)]
struct Shape {
    batch: bool,
    group: Option<PolicyShape>,
    tasks: Vec<TaskShape>,
    leader: Option<usize>,
}

fn arb_policy() -> impl Strategy<Value = PolicyShape> {
    (0u32..5, 5u64..60, 0u64..60, any::<bool>()).prop_map(|(attempts, interval, delay, delay_mode)| PolicyShape {
        attempts,
        interval,
        delay: delay % (interval / u64::from(attempts.max(1)) + 1),
        delay_mode: delay_mode && attempts > 0,
    })
}

fn arb_shape() -> impl Strategy<Value = Shape> {
    let hook_of = |h: u8| match h {
        0 => Some(Hook::Prestart),
        1 => Some(Hook::Poststart),
        2 => Some(Hook::Poststop),
        _ => None,
    };
    let task = (0u8..6, any::<bool>(), proptest::option::of(arb_policy()), 0u8..6).prop_map(
        move |(h, sidecar, restart, fails)| TaskShape { hook: hook_of(h), sidecar, restart, fails_at_once: fails == 0 },
    );
    (any::<bool>(), proptest::option::of(arb_policy()), proptest::collection::vec(task, 1..5), 0usize..8).prop_map(
        |(batch, group, tasks, leader)| {
            let leader = (leader < tasks.len()).then_some(leader);
            Shape { batch, group, tasks, leader }
        },
    )
}

fn hcl_of(shape: &Shape) -> String {
    let mut tasks = String::new();
    for (ti, t) in shape.tasks.iter().enumerate() {
        let mut extra = Vec::new();
        if let Some(h) = t.hook {
            extra.push(hook(h.as_str(), t.sidecar));
        }
        if shape.leader == Some(ti) {
            extra.push("      leader = true".to_string());
        }
        if let Some(p) = &t.restart {
            extra.push(p.hcl("      "));
        }
        tasks.push_str(&task(&format!("t{ti}"), &extra.join("\n")));
    }
    let kind = if shape.batch { "batch" } else { "service" };
    let group = shape.group.as_ref().map_or(String::new(), |p| p.hcl("    ") + "\n");
    format!("job \"j\" {{\n  type = \"{kind}\"\n  group \"g\" {{\n{group}{tasks}  }}\n}}\n")
}

/// The instance, its trackers made as the loop makes them (whether exit 0
/// restarts depends on the job type and the hook).
fn instance_for(shape: &Shape) -> Instance {
    let mut i = crate::supervisor::task::tests::instance_of(&hcl_of(shape));
    let job_type = if shape.batch { JobType::Batch } else { JobType::Service };
    for t in &mut i.tasks {
        t.tracker = RestartTracker::new(t.spec.restart, restarts_on_success(job_type, t.spec.lifecycle));
    }
    i
}

// --- what happens -------------------------------------------------------

/// One thing the world does; `pick` chooses among the tasks (or starts)
/// it can apply to, modulo their number.
#[derive(Debug, Clone)]
enum Event {
    /// A task's process ends (how, if it was being stopped, follows from that).
    Exit { pick: usize, success: bool, jitter: f64 },
    /// A health check asks a running task's restart.
    CheckRestart { pick: usize },
    /// The operator restarts a task: a running one restarts, a dead one
    /// starts again (its instance with it), a pending one is left alone.
    UserRestart { pick: usize },
    /// A start in flight succeeds or fails.
    StartDone { pick: usize, ok: bool, recoverable: bool, jitter: f64 },
    /// The clock moves on by `permille` thousandths of the longest interval.
    Clock { permille: u32 },
    /// The operator stops the instance (0), the job is stopped (1), supd
    /// shuts down (2), or is asked twice and waits for nothing (3).
    Halt { kind: u8 },
}

fn arb_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        12 => (0usize..8, any::<bool>(), 0.0f64..1.0)
            .prop_map(|(pick, success, jitter)| Event::Exit { pick, success, jitter }),
        2 => (0usize..8).prop_map(|pick| Event::CheckRestart { pick }),
        2 => (0usize..8).prop_map(|pick| Event::UserRestart { pick }),
        14 => (0usize..8, 0u8..4, any::<bool>(), 0.0f64..1.0).prop_map(|(pick, ok, recoverable, jitter)| {
            Event::StartDone { pick, ok: ok > 0, recoverable, jitter }
        }),
        10 => (0u32..3000).prop_map(|permille| Event::Clock { permille }),
        1 => (0u8..4).prop_map(|kind| Event::Halt { kind }),
    ]
}

/// A task crash-looping: it fails (or exits 0), its starts mostly succeed,
/// time passes in small steps.
fn arb_crash_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (0u8..4, 0.0f64..1.0).prop_map(|(s, jitter)| Event::Exit { pick: 0, success: s == 0, jitter }),
        4 => (0u8..5, 0.0f64..1.0).prop_map(|(ok, jitter)| {
            Event::StartDone { pick: 0, ok: ok > 0, recoverable: true, jitter }
        }),
        3 => (0u32..400).prop_map(|permille| Event::Clock { permille }),
    ]
}

// --- the simulated shell ------------------------------------------------

/// The model's states before a step, and whether the instance was halting.
struct Before {
    states: Vec<State>,
    halting: bool,
}

/// The loop's part, simulated: a fake clock, starts in flight, armed
/// timers, processes that end when the test says.
struct Sim {
    inst: Instance,
    base: Instant,
    offset: Duration,
    stopped: bool,
    shutting_down: bool,
    hurrying: bool,
    /// Starts asked and not yet made: the task and its generation then.
    inflight: Vec<(usize, u64)>,
    /// Armed starts: when, the task, the generation.
    timers: Vec<(Instant, usize, u64)>,
    /// Armed kills (the end of a shutdown_delay): when, the task, the generation.
    kills: Vec<(Instant, usize, u64)>,
    /// Per task, when its policy restarts are performed.
    restarts: Vec<Vec<Instant>>,
    /// Per task, its generation after the last step.
    generations: Vec<u64>,
    /// How far the clock jumps at most (the longest interval).
    span: Duration,
    /// Every step: its input and effects.
    log: Vec<String>,
    /// Per task, whether each of its starts fails at once.
    fails_at_once: Vec<bool>,
}

impl Sim {
    fn new(inst: Instance) -> Sim {
        let n = inst.tasks.len();
        let span = inst.tasks.iter().map(|t| t.tracker.policy().interval).max().unwrap_or_default();
        Sim {
            generations: inst.tasks.iter().map(|t| t.generation).collect(),
            inst,
            base: Instant::now(),
            offset: Duration::ZERO,
            stopped: false,
            shutting_down: false,
            hurrying: false,
            inflight: Vec::new(),
            timers: Vec::new(),
            kills: Vec::new(),
            restarts: vec![Vec::new(); n],
            span: span.max(Duration::from_secs(1)),
            log: Vec::new(),
            fails_at_once: vec![false; n],
        }
    }

    fn now(&self) -> Instant {
        self.base + self.offset
    }

    fn cx(&self) -> Context {
        Context {
            now: self.now(),
            wall: SystemTime::UNIX_EPOCH + self.offset,
            stopped: self.stopped,
            shutting_down: self.shutting_down,
            hurrying: self.hurrying,
        }
    }

    fn halting(&self) -> bool {
        self.stopped || self.shutting_down || self.inst.winding_down
    }

    /// The last steps and the tasks' states, for a failure's message.
    fn story(&self) -> String {
        let from = self.log.len().saturating_sub(12);
        let states: Vec<(State, bool, Option<Pid>)> =
            self.inst.tasks.iter().map(|t| (t.state, t.launched, t.pid)).collect();
        format!("\nstates (state, launched, pid): {states:?}\nlast steps:\n{}", self.log[from..].join("\n"))
    }

    /// Steps the core, checks what must hold, carries the effects out in order.
    fn feed(&mut self, input: Input) {
        // An operator's restart brings a wound-down instance back to life.
        let revives = matches!(input, Input::Restart { .. });
        let before =
            Before { states: self.inst.tasks.iter().map(|t| t.state).collect(), halting: self.halting() && !revives };
        let cx = self.cx();
        let effects = step(&mut self.inst, input.clone(), cx);
        self.log.push(format!("at {:?}: {input:?} -> {effects:?}", self.offset));
        self.check_starts(&before, &effects);
        self.check_ended(&before, &input, &effects);
        self.check_model();
        if revives {
            let now = self.now();
            let armed = effects.iter().all(|e| !matches!(e, Effect::ArmStart { at, .. } if *at != now));
            assert!(armed, "a revived task's start is not due at once{}", self.story());
        } else {
            self.record_restarts(&effects);
        }
        for effect in effects {
            match effect {
                // As the shell: a start an earlier effect made stale (the
                // instance torn down meanwhile) is dropped.
                Effect::Start(t) if self.inst.tasks[t].state == State::Pending => {
                    if self.fails_at_once[t] {
                        self.inst.tasks[t].launched = true;
                        let outcome = Outcome::StartError { recoverable: false };
                        self.feed(Input::Ended { task: t, outcome, jitter: 0.5 });
                    } else {
                        let generation = self.inst.tasks[t].generation;
                        self.inflight.push((t, generation));
                    }
                }
                Effect::ArmStart { task, at, generation } => self.timers.push((at, task, generation)),
                Effect::ArmKill { task, at, generation } => self.kills.push((at, task, generation)),
                Effect::Advance => self.feed(Input::Advance),
                _ => {}
            }
        }
    }

    /// A start of the task's current generation is in flight.
    fn in_flight(&self, t: usize) -> bool {
        self.inflight.iter().any(|&(x, g)| x == t && g == self.inst.tasks[t].generation)
    }

    /// The `pick`th task (modulo their number) for which `which` holds.
    fn pick(&self, pick: usize, which: impl Fn(&TaskRun) -> bool) -> Option<usize> {
        let some: Vec<usize> = (0..self.inst.tasks.len()).filter(|&t| which(&self.inst.tasks[t])).collect();
        (!some.is_empty()).then(|| some[pick % some.len()])
    }

    /// A task's process ends with exit code 0 or 1.
    fn exit(&mut self, t: usize, success: bool, jitter: f64) {
        let exit = Exit::Code(if success { 0 } else { 1 });
        let message = format!("Exit Code: {}", i32::from(!success));
        self.feed(Input::Exited { task: t, exit, message, jitter });
    }

    /// A running task is asked to restart: it is stopped, and its end
    /// carries `outcome`.
    fn ask_restart(&mut self, pick: usize, outcome: Outcome) {
        if let Some(t) = self.pick(pick, |t| t.pid.is_some()) {
            self.feed(Input::Stop { task: t, after: After::Restart(outcome) });
        }
    }

    /// As `supctl restart`, unless the job or supd is stopping.
    fn operator_restart(&mut self, pick: usize) {
        if self.stopped || self.shutting_down {
            return;
        }
        if let Some(task) = self.pick(pick, |_| true) {
            self.feed(Input::Restart { task, reason: "asked" });
        }
    }

    /// A start in flight comes to its end. One given up meanwhile (the
    /// task's generation moved on) is dropped, as the shell drops it.
    fn start_done(&mut self, pick: usize, ok: bool, recoverable: bool, jitter: f64) {
        if self.inflight.is_empty() {
            return;
        }
        let k = pick % self.inflight.len();
        let (t, asked) = self.inflight.remove(k);
        let task = &mut self.inst.tasks[t];
        if task.generation != asked || task.pid.is_some() {
            return;
        }
        if ok {
            task.pid = Some(Pid::from_raw(1000 + t as i32));
            self.feed(Input::Started { task: t });
        } else {
            task.launched = true;
            self.feed(Input::Ended { task: t, outcome: Outcome::StartError { recoverable }, jitter });
        }
    }

    /// The earliest armed start or kill due by `until`: which list, and where.
    fn due(&self, until: Instant) -> Option<(bool, usize)> {
        let starts = self.timers.iter().enumerate().map(|(k, x)| (x.0, false, k));
        let kills = self.kills.iter().enumerate().map(|(k, x)| (x.0, true, k));
        starts.chain(kills).filter(|x| x.0 <= until).min_by_key(|x| x.0).map(|(_, kill, k)| (kill, k))
    }

    /// The clock moves on by `by`; the armed starts and kills due
    /// meanwhile fire in time order, each at its time.
    fn pass(&mut self, by: Duration) {
        let until = self.now() + by;
        while let Some((kill, k)) = self.due(until) {
            let (at, task, generation) = if kill { self.kills.remove(k) } else { self.timers.remove(k) };
            self.offset = self.offset.max(at.duration_since(self.base));
            let input = if kill { Input::KillDue { task, generation } } else { Input::StartDue { task, generation } };
            self.feed(input);
        }
        self.offset = until.duration_since(self.base);
    }

    fn halt(&mut self, kind: u8) {
        match kind {
            1 => self.stopped = true,
            2 => self.shutting_down = true,
            3 => (self.shutting_down, self.hurrying) = (true, true),
            _ => {}
        }
        self.feed(Input::WindDown { why: None });
    }

    fn play(&mut self, event: &Event) {
        match *event {
            Event::Exit { pick, success, jitter } => {
                if let Some(t) = self.pick(pick, |t| t.pid.is_some()) {
                    self.exit(t, success, jitter);
                }
            }
            Event::CheckRestart { pick } => self.ask_restart(pick, Outcome::FailureRestart { success: false }),
            Event::UserRestart { pick } => self.operator_restart(pick),
            Event::StartDone { pick, ok, recoverable, jitter } => self.start_done(pick, ok, recoverable, jitter),
            Event::Clock { permille } => self.pass(self.span.mul_f64(f64::from(permille) / 1000.0)),
            Event::Halt { kind } => self.halt(kind),
        }
    }

    /// Lets every start in flight succeed, every process end (exit 0, or
    /// killed when it was being stopped) and every armed start fire, until
    /// nothing is left to happen.
    fn drain(&mut self) {
        for _ in 0..1000 {
            if !self.inflight.is_empty() {
                self.start_done(0, true, true, 0.5);
            } else if let Some(t) = self.pick(0, |t| t.pid.is_some()) {
                self.exit(t, true, 0.5);
            } else if let Some(last) = self.timers.iter().chain(&self.kills).map(|x| x.0).max() {
                self.pass(last.saturating_duration_since(self.now()));
            } else {
                return;
            }
        }
        panic!("the instance never settles{}", self.story());
    }

    // --- the invariants ---

    /// At most one run of a task; nothing but poststop tasks starts and
    /// nothing is armed while the instance winds down; poststop tasks start
    /// only once every other task is dead.
    fn check_starts(&self, before: &Before, effects: &[Effect]) {
        let halting = before.halting || self.halting();
        for (k, e) in effects.iter().enumerate() {
            match *e {
                Effect::Start(t) => {
                    let task = &self.inst.tasks[t];
                    let poststop = task.hook() == Some(Hook::Poststop);
                    assert!(task.state != State::Running, "task {t} started while running{}", self.story());
                    assert!(task.pid.is_none(), "task {t} started while it has a process{}", self.story());
                    assert!(!self.in_flight(t), "task {t} started while a start is in flight{}", self.story());
                    assert!(!effects[..k].contains(&Effect::Start(t)), "task {t} started twice{}", self.story());
                    assert!(!halting || poststop, "task {t} started while winding down{}", self.story());
                    if poststop {
                        let others_dead = self
                            .inst
                            .tasks
                            .iter()
                            .filter(|o| o.hook() != Some(Hook::Poststop))
                            .all(|o| o.state == State::Dead);
                        assert!(others_dead, "poststop task {t} started before the others died{}", self.story());
                    }
                }
                Effect::ArmStart { task, .. } => {
                    assert!(!halting, "a start of task {task} armed while winding down{}", self.story())
                }
                Effect::Signal(t) => {
                    assert!(self.inst.tasks[t].pid.is_some(), "task {t} signalled without a process{}", self.story());
                    assert!(self.inst.tasks[t].stopping.is_some(), "task {t} signalled, not stopping{}", self.story())
                }
                _ => {}
            }
        }
    }

    /// `Started` journals the run first; an end decided by `Fail` leaves
    /// the task dead and failed; the step in which a task ends for good
    /// journals it before any start, stop or advance.
    fn check_ended(&self, before: &Before, input: &Input, effects: &[Effect]) {
        match *input {
            Input::Started { task } => {
                assert_eq!(
                    before.states[task],
                    State::Pending,
                    "a start of a task not waiting for one{}",
                    self.story()
                );
                assert_eq!(effects.first(), Some(&Effect::JournalStarted(task)), "{}", self.story())
            }
            Input::Ended { task, .. } | Input::Exited { task, .. } => {
                let t = &self.inst.tasks[task];
                let Some(Effect::Decided { task: decided, decision }) = effects.first() else {
                    panic!("an end without a decision first{}", self.story())
                };
                assert_eq!(*decided, task, "{}", self.story());
                if matches!(decision, Decision::Fail { .. }) {
                    assert!(t.failed && t.state == State::Dead, "a failure not dead and failed{}", self.story());
                }
                if before.states[task] != State::Dead && t.state == State::Dead {
                    let journal = effects.iter().position(|e| *e == Effect::Journal(task));
                    let acts = effects
                        .iter()
                        .position(|e| matches!(e, Effect::Start(_) | Effect::Signal(_) | Effect::Advance));
                    assert!(journal.is_some(), "task {task} dead for good without a journal record{}", self.story());
                    if let Some(a) = acts {
                        assert!(journal < Some(a), "task {task} journaled after acting{}", self.story());
                    }
                }
            }
            _ => {}
        }
    }

    /// No task runs without a process; no generation goes back.
    fn check_model(&mut self) {
        for (ti, t) in self.inst.tasks.iter().enumerate() {
            assert!(t.state != State::Running || t.pid.is_some(), "task {ti} runs without a pid{}", self.story());
            assert!(t.generation >= self.generations[ti], "task {ti}'s generation went back{}", self.story());
        }
        self.generations = self.inst.tasks.iter().map(|t| t.generation).collect();
    }

    /// Each armed start follows the decision to restart, at its delay; a
    /// policy restart (not one the operator asked) counts in the budget.
    fn record_restarts(&mut self, effects: &[Effect]) {
        let now = self.now();
        let mut decided: Option<(usize, Duration, bool)> = None;
        for e in effects {
            match e {
                Effect::Decided { task, decision: Decision::Restart { delay, reason } } => {
                    let counted = matches!(reason, RestartReason::WithinPolicy | RestartReason::WindowFull);
                    decided = Some((*task, *delay, counted));
                }
                Effect::ArmStart { task, at, .. } => {
                    let Some((t, delay, counted)) = decided.take() else {
                        panic!("a start armed without a restart decided{}", self.story())
                    };
                    assert_eq!((t, *at), (*task, now + delay), "armed start{}", self.story());
                    if counted {
                        self.restarts[t].push(*at);
                        self.check_budget(t);
                    }
                }
                _ => {}
            }
        }
    }

    /// In any window of `interval`, at most `attempts` policy restarts.
    fn check_budget(&self, t: usize) {
        let p = *self.inst.tasks[t].tracker.policy();
        let mut times = self.restarts[t].clone();
        times.sort();
        for (i, start) in times.iter().enumerate() {
            let inside = times[i..].iter().filter(|r| r.duration_since(*start) < p.interval).count();
            if inside > p.attempts as usize {
                let shown: Vec<Duration> = times.iter().map(|r| r.duration_since(self.base)).collect();
                panic!("task {t}: {inside} restarts within {:?} ({p:?}), at {shown:?}{}", p.interval, self.story());
            }
        }
    }

    /// Once stopped and drained, every task is dead and nothing is left.
    fn check_settled(&self) {
        for (ti, t) in self.inst.tasks.iter().enumerate() {
            let what = if t.hook() == Some(Hook::Poststop) { "poststop task" } else { "task" };
            assert_eq!(t.state, State::Dead, "{what} {ti} not dead once stopped and drained{}", self.story());
            assert!(t.pid.is_none(), "task {ti} has a process left{}", self.story());
        }
        assert!(self.inflight.is_empty() && self.timers.is_empty(), "work left{}", self.story());
        assert!(self.kills.is_empty(), "a kill left armed{}", self.story());
    }
}

/// Plays `events` on an instance of `shape`, then stops it and lets every
/// process end: the invariants are checked at each step.
fn replay(shape: &Shape, events: &[Event]) {
    let mut sim = Sim::new(instance_for(shape));
    sim.fails_at_once = shape.tasks.iter().map(|t| t.fails_at_once).collect();
    sim.feed(Input::Advance);
    for event in events {
        sim.play(event);
    }
    sim.feed(Input::WindDown { why: None });
    sim.drain();
    sim.check_settled();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any instance, any sequence of events, then a stop: the invariants
    /// hold after every step, and the stop leaves every task dead.
    #[test]
    fn the_core_keeps_its_invariants(shape in arb_shape(), events in proptest::collection::vec(arb_event(), 0..60)) {
        replay(&shape, &events);
    }

    /// One task crash-looping for long: the budget holds in every window,
    /// in either mode.
    #[test]
    fn a_crash_loop_keeps_to_the_budget(
        policy in arb_policy(),
        batch in any::<bool>(),
        events in proptest::collection::vec(arb_crash_event(), 0..150),
    ) {
        let shape = Shape {
            batch,
            group: None,
            tasks: vec![TaskShape { hook: None, sidecar: false, restart: Some(policy), fails_at_once: false }],
            leader: None,
        };
        replay(&shape, &events);
    }
}

// --- examples -----------------------------------------------------------

/// The context `secs` seconds after `base`, nothing stopping.
fn at(base: Instant, secs: u64) -> Context {
    Context {
        now: base + Duration::from_secs(secs),
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        stopped: false,
        shutting_down: false,
        hurrying: false,
    }
}

fn failed(task: usize) -> Input {
    Input::Ended { task, outcome: Outcome::Exited { success: false }, jitter: 0.0 }
}

/// attempts = 2, mode "fail": two restarts, each after its delay; the
/// third failure is final, and journaled before the instance advances.
#[test]
fn a_failing_task_restarts_twice_then_fails_for_good() {
    let mut i = instance(&task("main", &restart("      ", 2, 600, 15, "fail")));
    let base = Instant::now();
    assert_eq!(step(&mut i, Input::Advance, at(base, 0)), [Effect::Start(0)]);
    let mut now = 0;
    for round in 1..=2u64 {
        i.tasks[0].pid = Some(Pid::from_raw(1000));
        let fx = step(&mut i, Input::Started { task: 0 }, at(base, now));
        assert_eq!(fx.first(), Some(&Effect::JournalStarted(0)));
        now += 30;
        i.tasks[0].pid = None;
        let fx = step(&mut i, failed(0), at(base, now));
        let restart = Decision::Restart { delay: Duration::from_secs(15), reason: RestartReason::WithinPolicy };
        let due = base + Duration::from_secs(now + 15);
        assert_eq!(
            fx,
            [
                Effect::Decided { task: 0, decision: restart },
                Effect::ArmStart { task: 0, at: due, generation: round },
                Effect::Changed,
            ]
        );
        assert_eq!(i.tasks[0].state, State::Pending);
        now += 15;
        assert_eq!(step(&mut i, Input::StartDue { task: 0, generation: round }, at(base, now)), [Effect::Start(0)]);
    }
    i.tasks[0].pid = Some(Pid::from_raw(1000));
    step(&mut i, Input::Started { task: 0 }, at(base, now));
    i.tasks[0].pid = None;
    let fx = step(&mut i, failed(0), at(base, now + 30));
    assert!(matches!(&fx[0], Effect::Decided { task: 0, decision: Decision::Fail { .. } }), "{fx:?}");
    assert_eq!(fx[1..], [Effect::Journal(0), Effect::Changed, Effect::Release(0), Effect::Advance]);
    let t = &i.tasks[0];
    assert_eq!((t.state, t.failed, t.restarts), (State::Dead, true, 2));
    assert_eq!(t.events.back().map(|e| e.kind), Some(EventKind::NotRestarting));
}

/// A task that fails for good stops its running sibling, after its own
/// record: the reason, `Killing`, its kill signal; its end is then a kill,
/// not a failure.
#[test]
fn a_sibling_failure_stops_the_running_sibling() {
    let mut i = instance(&[task("a", &restart("      ", 0, 600, 15, "fail")), task("b", "")].concat());
    let base = Instant::now();
    assert_eq!(step(&mut i, Input::Advance, at(base, 0)), [Effect::Start(0), Effect::Start(1)]);
    for (ti, pid) in [(0, 1000), (1, 1001)] {
        i.tasks[ti].pid = Some(Pid::from_raw(pid));
        step(&mut i, Input::Started { task: ti }, at(base, 0));
    }
    i.tasks[0].pid = None;
    let fx = step(&mut i, failed(0), at(base, 5));
    let fail = Decision::Fail { reason: "Policy allows no restarts".into() };
    assert_eq!(
        fx,
        [
            Effect::Decided { task: 0, decision: fail },
            Effect::Journal(0),
            Effect::Changed,
            Effect::Release(0),
            Effect::Signal(1),
            Effect::Advance,
        ]
    );
    assert!(i.winding_down);
    let last: Vec<(&str, &str)> =
        i.tasks[1].events.iter().rev().take(2).map(|e| (e.kind.as_str(), &*e.message)).collect();
    assert_eq!(
        last,
        [
            ("Killing", "Sent interrupt. Waiting 5s before force killing"),
            ("Sibling Task Failed", "Task's sibling \"a\" failed")
        ]
    );
    let exit = Input::Exited {
        task: 1,
        exit: Exit::Signal { signal: 2, core_dumped: false },
        message: String::new(),
        jitter: 0.0,
    };
    let fx = step(&mut i, exit, at(base, 6));
    assert_eq!(fx[0], Effect::Decided { task: 1, decision: Decision::Killed });
    assert_eq!((i.tasks[1].state, i.tasks[1].failed, i.tasks[1].pid), (State::Dead, false, None));
}

/// A start armed for an older generation is no longer due: neither after
/// a newer restart nor once the instance is stopped.
#[test]
fn a_start_due_for_an_old_generation_does_nothing() {
    let mut i = instance(&task("main", ""));
    let base = Instant::now();
    step(&mut i, Input::Advance, at(base, 0));
    i.tasks[0].pid = Some(Pid::from_raw(1000));
    step(&mut i, Input::Started { task: 0 }, at(base, 0));
    i.tasks[0].pid = None;
    let fx = step(&mut i, failed(0), at(base, 10));
    assert!(fx.iter().any(|e| matches!(e, Effect::ArmStart { generation: 1, .. })), "{fx:?}");
    assert!(step(&mut i, Input::StartDue { task: 0, generation: 0 }, at(base, 30)).is_empty());
    assert_eq!(i.tasks[0].state, State::Pending);
    let fx = step(&mut i, Input::WindDown { why: None }, at(base, 31));
    assert_eq!(fx, [Effect::CancelSetup(0), Effect::Release(0), Effect::Advance]);
    assert!(step(&mut i, Input::StartDue { task: 0, generation: 1 }, at(base, 40)).is_empty());
    assert_eq!(i.tasks[0].state, State::Dead);
}

/// A poststop task's restart that falls due while an operator's restart
/// has brought its main task back waits for its turn again: it never runs
/// beside the main task, and starts once the main task is dead once more.
#[test]
fn a_poststop_restart_waits_while_a_revived_main_task_lives() {
    let mut i = instance(&[task("stop", &hook("poststop", false)), task("main", "")].concat());
    let base = Instant::now();
    assert_eq!(step(&mut i, Input::Advance, at(base, 0)), [Effect::Start(1)]);
    let unrecoverable = Input::Ended { task: 1, outcome: Outcome::StartError { recoverable: false }, jitter: 0.0 };
    let fx = step(&mut i, unrecoverable, at(base, 0));
    assert_eq!(fx.last(), Some(&Effect::Advance), "{fx:?}");
    assert_eq!(step(&mut i, Input::Advance, at(base, 0)), [Effect::Start(0)]);
    i.tasks[0].pid = Some(Pid::from_raw(1000));
    step(&mut i, Input::Started { task: 0 }, at(base, 0));
    // The operator starts the main task again; the poststop task fails.
    let fx = step(&mut i, Input::Restart { task: 1, reason: "asked" }, at(base, 1));
    assert!(matches!(fx[..], [Effect::ArmStart { task: 1, .. }]), "{fx:?}");
    let exit = Input::Exited { task: 0, exit: Exit::Code(1), message: String::new(), jitter: 0.0 };
    let fx = step(&mut i, exit, at(base, 2));
    let Some(&Effect::ArmStart { generation, .. }) = fx.iter().find(|e| matches!(e, Effect::ArmStart { .. })) else {
        panic!("the poststop task's restart is armed: {fx:?}")
    };
    assert_eq!(step(&mut i, Input::StartDue { task: 1, generation: 1 }, at(base, 2)), [Effect::Start(1)]);
    i.tasks[1].pid = Some(Pid::from_raw(1001));
    step(&mut i, Input::Started { task: 1 }, at(base, 2));
    // Its restart is due while the main task runs: it waits.
    assert!(step(&mut i, Input::StartDue { task: 0, generation }, at(base, 30)).is_empty());
    assert_eq!((i.tasks[0].state, i.tasks[0].launched), (State::Pending, false));
    // The main task stops for good: now it is the poststop task's turn.
    assert_eq!(step(&mut i, Input::WindDown { why: None }, at(base, 40)), [Effect::Signal(1), Effect::Advance]);
    let exit = Input::Exited { task: 1, exit: Exit::Code(0), message: String::new(), jitter: 0.0 };
    assert_eq!(step(&mut i, exit, at(base, 41)).last(), Some(&Effect::Advance));
    assert_eq!(step(&mut i, Input::Advance, at(base, 41)), [Effect::Start(0)]);
}
