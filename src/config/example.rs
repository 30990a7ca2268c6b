/// The example shipped in packaging/ parses, and names every key.
#[test]
fn packaged_example_parses_and_documents_every_key() {
    let text = include_str!("../../packaging/supd.toml");
    let file = super::File::parse(text).expect("the example parses");
    assert_eq!(file, super::File::default(), "the example only shows defaults, commented out");
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix('#')
                .filter(|r| (r.contains(" = ") && !r.starts_with(' ')) || r.starts_with('['))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let all = super::File::parse(&uncommented).expect("every key of the example, uncommented, parses");
    assert!(all.node_name.is_some() && all.datacenter.is_some() && all.region.is_some());
    assert!(all.node_class.is_some() && all.job_dir.is_some() && all.socket.is_some());
    assert!(all.socket_group.is_some() && all.log_dir.is_some() && all.log.is_some() && all.log_level.is_some());
    assert!(all.state_dir.is_some() && all.task_output.is_some() && all.journal_socket.is_some());
    assert!(all.data_dir.is_some());
    assert!(all.cgroup_parent.is_some() && all.cpu_hard_limit.is_some());
    assert!(all.cpu_total_compute.is_some() && all.memory_total_mb.is_some());
    assert!(!all.node.meta.is_empty());
    assert_eq!(all.peers.len(), 1);
    let p = all.peers[0].get_ref();
    assert!(p.port.is_some() && p.user.is_some() && p.identity_file.is_some());
    assert!(!p.ssh_options.is_empty() && p.supctl.is_some());
    let h = all.handoff.as_ref().expect("[handoff]").get_ref();
    assert!(h.method.is_some() && h.command.is_some() && h.stdin.is_some());
    assert!(h.timeout.is_some() && h.connect_timeout.is_some() && h.accept.is_some());
    let a = all.artifact.as_ref().expect("[artifact]");
    assert!(a.max_download_mb.is_some() && a.max_unpacked_mb.is_some() && a.max_files.is_some());
    assert!(a.timeout.is_some() && a.file_roots.is_some());
    let limits = all.artifact_limits().expect("the example's limits");
    assert_eq!(limits.max_download, 1024 << 20);
    assert_eq!(limits.timeout, std::time::Duration::from_secs(30 * 60));
    assert!(all.limits.as_ref().expect("[limits]").template_bytes.is_some());
    assert_eq!(all.template_bytes().expect("the example's template_bytes"), crate::taskdir::render::MAX_FILE);
}
