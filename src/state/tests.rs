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
            restart_times: vec![1_800_000_000_000, 1_800_000_001_000],
            restart_counts: vec![1, 40],
            restarts: 3,
            pid: Some(42),
            start_ticks: Some(1234),
            dead: false,
            failed: false,
            cgroups: Vec::new(),
            starting: false,
            alloc_dir: Some("0123".into()),
            alloc_id: Some("0123-4567".into()),
            appended: false,
            grown: false,
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
            handoff_id: Some("web/g/1/1".into()),
        }],
        received: Vec::new(),
        journal_seq: 0,
        periodic: vec![PeriodicSaved {
            job: "backup".into(),
            last_launch_ms: 1_796_403_600_000,
            launched: vec![LaunchedSaved { id: "backup/periodic-1796403600".into(), source: "job {}".into() }],
        }],
        dispatched: vec![DispatchedSaved {
            id: "render/dispatch-1796403600-0a1b2c3d".into(),
            source: "job {}".into(),
            meta: [("scene".to_string(), "kitchen".to_string())].into(),
            payload: Some("aGk=".into()),
        }],
        recalls: vec![Recall { peer: "b".into(), id: "web/g/1/1".into(), what: "web.g[1]".into() }],
        offers: vec![Recall { peer: "c".into(), id: "web/g/1/2".into(), what: "web.g[1]".into() }],
        withdrawn: vec![Withdrawn { from: "c".into(), id: "db/g/0/2".into() }],
    };
    save(dir.path(), &s).unwrap();
    assert_eq!(load(dir.path()).unwrap(), s);
    assert!(!dir.path().join("state.json.tmp").exists());
}

/// Task `web.g[0]/t` of job digest 1, never started, directory `0123`.
fn web_task() -> TaskSaved {
    TaskSaved {
        job: "web".into(),
        group: "g".into(),
        index: 0,
        task: "t".into(),
        source_digest: 1,
        restart_times: Vec::new(),
        restart_counts: Vec::new(),
        restarts: 0,
        pid: None,
        start_ticks: None,
        dead: false,
        failed: false,
        cgroups: Vec::new(),
        starting: false,
        alloc_dir: Some("0123".into()),
        alloc_id: None,
        appended: false,
        grown: false,
    }
}

#[test]
fn journal_records_newer_than_the_state_apply_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let task = |pid| TaskSaved { pid: Some(pid), start_ticks: Some(5), alloc_dir: None, ..web_task() };
    let mut j = Journal::default();
    j.append(dir.path(), &task(10)).unwrap();
    let mut s = Saved { version: VERSION, tasks: vec![task(10)], ..Default::default() };
    save_with(dir.path(), &mut s, &mut j).unwrap();
    j.append(dir.path(), &task(11)).unwrap();
    j.append(dir.path(), &task(12)).unwrap();
    // A record cut short by a crash.
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join("state.journal")).unwrap();
    f.write_all(b"{\"seq\": 4, \"task\": {").unwrap();
    let loaded = load(dir.path()).unwrap();
    assert_eq!(loaded.tasks.len(), 1);
    assert_eq!(loaded.tasks[0].pid, Some(12));
    // A full save empties the journal: older records never apply again.
    let mut s = loaded;
    s.tasks[0].pid = Some(13);
    save_with(dir.path(), &mut s, &mut j).unwrap();
    assert_eq!(load(dir.path()).unwrap().tasks[0].pid, Some(13));
}

#[test]
fn a_start_record_applies_its_pid_over_the_task_record_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let starting = TaskSaved { restart_times: vec![1000, 2000], restarts: 2, starting: true, ..web_task() };
    let mut j = Journal::default();
    j.append(dir.path(), &starting).unwrap();
    let started = |task: &str, pid| Started {
        job: "web".into(),
        group: "g".into(),
        index: 0,
        task: task.into(),
        pid,
        start_ticks: Some(7),
    };
    j.append_started(dir.path(), &started("t", 42)).unwrap();
    // A start of a task the journal never named changes nothing.
    j.append_started(dir.path(), &started("other", 43)).unwrap();
    let line = std::fs::read_to_string(dir.path().join("state.journal")).unwrap();
    assert!(!line.lines().nth(1).unwrap().contains("restart_times"), "{line}");
    let loaded = load(dir.path()).unwrap();
    assert_eq!(loaded.tasks.len(), 1);
    let t = &loaded.tasks[0];
    assert_eq!((t.pid, t.start_ticks, t.starting), (Some(42), Some(7), false));
    assert_eq!((t.restarts, t.restart_times.clone()), (2, vec![1000, 2000]));
    assert_eq!(t.alloc_dir.as_deref(), Some("0123"), "the start keeps the directory's name");
}

#[test]
fn appended_records_add_their_restarts_to_the_record_before() {
    let dir = tempfile::tempdir().unwrap();
    let full = TaskSaved {
        restart_times: vec![1000, 2000],
        restarts: 2,
        pid: Some(5),
        start_ticks: Some(6),
        cgroups: vec!["/sys/fs/cgroup/supd/web.g.0.t".into()],
        ..web_task()
    };
    let mut j = Journal::default();
    let mut s = Saved { version: VERSION, tasks: vec![full.clone()], ..Default::default() };
    save_with(dir.path(), &mut s, &mut j).unwrap();
    let appended = |times: Vec<u64>, restarts, digest| TaskSaved {
        restart_times: times,
        restarts,
        source_digest: digest,
        pid: None,
        start_ticks: None,
        cgroups: Vec::new(),
        starting: true,
        alloc_dir: None,
        appended: true,
        ..full.clone()
    };
    j.append(dir.path(), &appended(vec![3000], 3, 1)).unwrap();
    j.append(dir.path(), &appended(vec![4000, 5000], 5, 1)).unwrap();
    let line = std::fs::read_to_string(dir.path().join("state.journal")).unwrap();
    assert!(!line.contains("1000,") && !line.contains("/sys/fs/cgroup"), "only what is new: {line}");
    let t = &load(dir.path()).unwrap().tasks[0];
    assert_eq!(t.restart_times, vec![1000, 2000, 3000, 4000, 5000]);
    assert_eq!((t.restarts, t.pid, t.starting, t.appended), (5, None, true, false));
    assert_eq!((t.cgroups.clone(), t.alloc_dir.clone()), (full.cgroups.clone(), full.alloc_dir.clone()));
    // A record of another job (a new digest) replaces the history.
    j.append(dir.path(), &appended(vec![9000], 1, 2)).unwrap();
    let t = &load(dir.path()).unwrap().tasks[0];
    assert_eq!((t.restart_times.clone(), t.source_digest), (vec![9000], 2));
}

#[test]
fn restart_slots_merge_across_appended_records_and_old_files_load() {
    let dir = tempfile::tempdir().unwrap();
    // A file written before slots: no counts, each time one restart.
    let old = r#"{"version": VERSION_HERE, "tasks": [{"job": "web", "group": "g", "index": 0, "task": "t",
            "source_digest": 1, "restart_times": [1000, 2000], "restarts": 2, "pid": null, "start_ticks": null}]}"#;
    std::fs::write(dir.path().join("state.json"), old.replace("VERSION_HERE", &VERSION.to_string())).unwrap();
    let loaded = load(dir.path()).unwrap();
    assert_eq!(loaded.tasks[0].restart_slots().collect::<Vec<_>>(), vec![(1000, 1), (2000, 1)]);

    let mut j = Journal::default();
    let mut full = web_task();
    full.set_restart_slots([(1000, 1), (2000, 3)]);
    full.restarts = 4;
    let mut s = Saved { version: VERSION, tasks: vec![full.clone()], ..Default::default() };
    save_with(dir.path(), &mut s, &mut j).unwrap();
    let appended = |slots: &[(u64, u32)], grown, restarts| {
        let mut t = TaskSaved { restarts, alloc_dir: None, appended: true, grown, ..web_task() };
        t.set_restart_slots(slots.iter().copied());
        t
    };
    // The newest slot grew (2000 ×3 → 2500 ×5), then a new one.
    j.append(dir.path(), &appended(&[(2500, 5)], true, 6)).unwrap();
    j.append(dir.path(), &appended(&[(9000, 1)], false, 7)).unwrap();
    // Then that one grew, and another came.
    j.append(dir.path(), &appended(&[(9100, 2), (20000, 1)], true, 9)).unwrap();
    let journal = std::fs::read_to_string(dir.path().join("state.journal")).unwrap();
    assert!(!journal.contains("1000"), "only what changed: {journal}");
    let t = &load(dir.path()).unwrap().tasks[0];
    assert_eq!(t.restart_slots().collect::<Vec<_>>(), vec![(1000, 1), (2500, 5), (9100, 2), (20000, 1)]);
    assert_eq!(t.restart_slots().map(|(_, n)| n).sum::<u32>(), t.restarts);
    assert_eq!((t.appended, t.grown, t.alloc_dir.as_deref()), (false, false, Some("0123")));

    // Counts of 1 are left out of the file.
    let mut s = Saved { version: VERSION, tasks: vec![appended(&[(1, 1), (2, 1)], false, 2)], ..Default::default() };
    save_with(dir.path(), &mut s, &mut j).unwrap();
    let text = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(!text.contains("restart_counts") && text.contains("restart_times"), "{text}");
}

#[test]
fn digests_differ() {
    assert_ne!(digest("a"), digest("b"));
}

#[test]
fn a_corrupt_file_is_kept_under_a_new_name_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut kept = Vec::new();
    for text in ["{ not json", "{\"version\": \"one\"}", "{\"version\": 1, \"tasks\": 3}"] {
        std::fs::write(dir.path().join("state.json"), text).unwrap();
        let e = load(dir.path()).unwrap_err();
        assert!(!e.is_fatal(), "{e}");
        let LoadError::Corrupt { kept_as, .. } = e else { panic!("{e}") };
        assert_eq!(std::fs::read_to_string(&kept_as).unwrap(), text);
        kept.push(kept_as);
    }
    kept.dedup();
    assert_eq!(kept.len(), 3, "each copy has its own name: {kept:?}");
    assert_eq!(load(dir.path()).unwrap(), Saved::default());
}

#[test]
fn a_newer_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    // Fields this supd does not know, of types it would not read.
    let text = "{\"version\": 7, \"tasks\": {\"new\": \"shape\"}}";
    std::fs::write(dir.path().join("state.json"), text).unwrap();
    let e = load(dir.path()).unwrap_err();
    assert!(e.is_fatal());
    assert!(e.to_string().contains("newer supd (state version 7; this supd reads up to 1)"), "{e}");
    assert_eq!(std::fs::read_to_string(dir.path().join("state.json")).unwrap(), text);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
