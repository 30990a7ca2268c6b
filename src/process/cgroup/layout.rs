//! The cgroup layout of the host, from /proc/self/mountinfo and
//! /proc/self/cgroup: which hierarchies are mounted, where supd's own
//! cgroup is in each, and which of them does what (pure functions).

use std::path::{Path, PathBuf};

/// One cgroup filesystem mount, from /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// cgroup2 (unified) rather than a v1 hierarchy.
    pub v2: bool,
    /// The cgroup of the hierarchy shown at the mount point (`/` unless a
    /// container sees only its own subtree).
    pub root: String,
    pub point: PathBuf,
    /// v1: the controllers of the hierarchy (`cpu`, `memory`,
    /// `name=systemd`); v2: empty (they are in `cgroup.controllers`).
    pub controllers: Vec<String>,
}

const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "blkio",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// The cgroup mounts listed in a mountinfo text (proc(5)).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.lines() {
        // Optional fields end with a lone "-"; spaces inside paths are
        // escaped as \040, so splitting on spaces is safe.
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        let v2 = match r[0] {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let controllers = if v2 {
            Vec::new()
        } else {
            r[2].split(',')
                .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect()
        };
        out.push(Mount { v2, root: unescape(l[3]), point: PathBuf::from(unescape(l[4])), controllers });
    }
    out
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroups of this process from /proc/self/cgroup: (controllers, path);
/// the v2 entry has no controllers.
pub fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let ctl = parts.next()?;
            let path = parts.next()?;
            let ctl = ctl.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
            Some((ctl, path.to_string()))
        })
        .collect()
}

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// cgroup v2 only.
    V2,
    /// cgroup v1 only.
    V1,
    /// v1 controllers plus a v2 mount.
    Hybrid,
    /// No cgroup filesystem at all.
    #[default]
    None,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::V2 => "v2",
            Kind::V1 => "v1",
            Kind::Hybrid => "hybrid",
            Kind::None => "none",
        }
    }
}

/// A hierarchy and supd's own cgroup in it, as a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub v2: bool,
    /// The v1 controller the hierarchy is used for; `""` for v2.
    pub controller: &'static str,
    pub mount: PathBuf,
    /// supd's own cgroup in this hierarchy.
    pub own: PathBuf,
}

impl Place {
    pub fn describe(&self) -> String {
        if self.v2 { "cgroup v2".to_string() } else { format!("cgroup v1 {}", self.controller) }
    }
}

/// Where each job of supd can be done, best first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub kind: Kind,
    /// Memory limits and OOM counting.
    pub memory: Vec<Place>,
    /// CPU weight or quota.
    pub cpu: Vec<Place>,
    /// CPU time used.
    pub acct: Vec<Place>,
    /// Finding and killing every process of a task.
    pub track: Vec<Place>,
}

/// supd's own cgroup as a directory of a mount: the mount shows the
/// hierarchy from `root` down.
pub(super) fn own_dir(m: &Mount, own: &str) -> PathBuf {
    match Path::new(own).strip_prefix(&m.root) {
        Ok(rel) => m.point.join(rel),
        // A cgroup namespace can make the two disagree: the mount is then
        // what supd sees as its own cgroup.
        Err(_) => m.point.clone(),
    }
}

/// The v2 mount and supd's own directory in it, if any.
pub fn unified(mounts: &[Mount], proc_self_cgroup: &str) -> Option<PathBuf> {
    let m = mounts.iter().find(|m| m.v2)?;
    let own = parse_proc_cgroup(proc_self_cgroup).into_iter().find(|(c, _)| c.is_empty()).map(|(_, p)| p)?;
    Some(own_dir(m, &own))
}

/// Decides which hierarchy does what. `v2_controllers` are the controllers
/// available to supd's own v2 cgroup (its `cgroup.controllers`).
pub fn plan(mounts: &[Mount], proc_self_cgroup: &str, v2_controllers: &[String]) -> Plan {
    let own = parse_proc_cgroup(proc_self_cgroup);
    let v2 = mounts.iter().find(|m| m.v2).and_then(|m| {
        let path = own.iter().find(|(c, _)| c.is_empty())?;
        Some(Place { v2: true, controller: "", mount: m.point.clone(), own: own_dir(m, &path.1) })
    });
    let v1 = |controller: &'static str| -> Option<Place> {
        let m = mounts.iter().find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller))?;
        let path = own.iter().find(|(c, _)| c.iter().any(|c| c == controller)).map_or("/", |(_, p)| p.as_str());
        Some(Place { v2: false, controller, mount: m.point.clone(), own: own_dir(m, path) })
    };
    let has_v1 = mounts.iter().any(|m| !m.v2 && m.controllers.iter().any(|c| !c.starts_with("name=")));
    let kind = match (has_v1, v2.is_some()) {
        (true, true) => Kind::Hybrid,
        (true, false) => Kind::V1,
        (false, true) => Kind::V2,
        (false, false) => Kind::None,
    };
    let v2_with = |c: &str| v2.clone().filter(|_| v2_controllers.iter().any(|x| x == c));
    let memory = v2_with("memory").into_iter().chain(v1("memory")).collect();
    let cpu = v2_with("cpu").into_iter().chain(v1("cpu")).collect();
    // Every v2 cgroup counts its cpu time in cpu.stat, controller or not.
    let acct = v2.clone().into_iter().chain(v1("cpuacct")).collect();
    let track = v2.into_iter().chain(v1("freezer")).chain(v1("memory")).chain(v1("cpu")).collect();
    Plan { kind, memory, cpu, acct, track }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::cgroup::parent_dir;

    const HYBRID: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/7233f16422afae8091e95f0958c1f55e
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    /// A systemd host on cgroup v2 only, supd as a service.
    const V2: &str = "\
25 18 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    const V2_SELF: &str = "0::/system.slice/supd.service\n";

    /// An older host on cgroup v1 with cpu and cpuacct co-mounted, and a
    /// container's view of its own subtree of the memory hierarchy.
    const V1: &str = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 /docker/abc /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,freezer
37 30 0:33 / /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,pids
";
    const V1_SELF: &str = "\
12:pids:/
5:freezer:/
4:memory:/docker/abc
3:cpu,cpuacct:/system.slice/supd.service
1:name=systemd:/system.slice/supd.service
";

    fn place(v2: bool, controller: &'static str, mount: &str, own: &str) -> Place {
        Place { v2, controller, mount: mount.into(), own: own.into() }
    }

    #[test]
    fn hybrid_host_limits_in_v1_and_tracks_in_v2() {
        let mounts = parse_mountinfo(HYBRID);
        assert_eq!(mounts.len(), 10, "every cgroup mount, nothing else: {mounts:#?}");
        assert_eq!(mounts[3].controllers, ["memory"]);
        assert!(mounts[9].v2 && mounts[9].controllers.is_empty());
        assert_eq!(unified(&mounts, HYBRID_SELF), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        // The v2 mount only has hugetlb: limits go to v1.
        let p = plan(&mounts, HYBRID_SELF, &["hugetlb".to_string()]);
        assert_eq!(p.kind, Kind::Hybrid);
        let mem_own = "/sys/fs/cgroup/memory/process_api/7233f16422afae8091e95f0958c1f55e";
        assert_eq!(p.memory, [place(false, "memory", "/sys/fs/cgroup/memory", mem_own)]);
        assert_eq!(p.cpu, [place(false, "cpu", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu")]);
        let v2 = place(true, "", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified");
        assert_eq!(p.acct[0], v2);
        assert_eq!(p.acct[1].controller, "cpuacct");
        assert_eq!(p.track[0], v2);
        assert_eq!(p.track[1].controller, "freezer");
        assert_eq!(parent_dir(&p.memory[0], "supd"), PathBuf::from(format!("{mem_own}/supd")));
        assert_eq!(parent_dir(&p.memory[0], "/supd"), PathBuf::from("/sys/fs/cgroup/memory/supd"));
    }

    #[test]
    fn v2_host_does_everything_in_one_tree() {
        let mounts = parse_mountinfo(V2);
        assert_eq!(mounts, [Mount { v2: true, root: "/".into(), point: "/sys/fs/cgroup".into(), controllers: vec![] }]);
        let ctl: Vec<String> = ["cpuset", "cpu", "io", "memory", "pids"].map(String::from).to_vec();
        let p = plan(&mounts, V2_SELF, &ctl);
        assert_eq!(p.kind, Kind::V2);
        let own = place(true, "", "/sys/fs/cgroup", "/sys/fs/cgroup/system.slice/supd.service");
        for role in [&p.memory, &p.cpu, &p.acct, &p.track] {
            assert_eq!(role, std::slice::from_ref(&own));
        }
        // Under systemd the tasks go inside supd's own (delegated) cgroup.
        assert_eq!(parent_dir(&own, "supd"), PathBuf::from("/sys/fs/cgroup/system.slice/supd.service/supd"));
        // A v2 host whose controllers were not delegated: tracking only.
        let p = plan(&mounts, V2_SELF, &[]);
        assert!(p.memory.is_empty() && p.cpu.is_empty());
        assert_eq!(p.track, [own]);
    }

    #[test]
    fn v1_host_with_comounted_controllers_and_a_container_subtree() {
        let mounts = parse_mountinfo(V1);
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(mounts[0].controllers, ["name=systemd"]);
        assert_eq!(mounts[4].point, PathBuf::from("/sys/fs/cgroup/with space"));
        assert_eq!(unified(&mounts, V1_SELF), None);
        let p = plan(&mounts, V1_SELF, &[]);
        assert_eq!(p.kind, Kind::V1);
        // The container sees /docker/abc as the memory mount's root.
        assert_eq!(p.memory, [place(false, "memory", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory")]);
        let cpu_own = "/sys/fs/cgroup/cpu,cpuacct/system.slice/supd.service";
        assert_eq!(p.cpu, [place(false, "cpu", "/sys/fs/cgroup/cpu,cpuacct", cpu_own)]);
        assert_eq!(p.acct, [place(false, "cpuacct", "/sys/fs/cgroup/cpu,cpuacct", cpu_own)]);
        let tracks: Vec<&str> = p.track.iter().map(|t| t.controller).collect();
        assert_eq!(tracks, ["freezer", "memory", "cpu"]);
    }

    #[test]
    fn no_cgroups_at_all() {
        let p = plan(&parse_mountinfo("22 1 0:21 / /proc rw - proc proc rw\n"), "", &[]);
        assert_eq!(p, Plan::default());
        assert_eq!(p.kind, Kind::None);
    }
}
