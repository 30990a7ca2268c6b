//! The limits a task's cgroup enforces: Nomad's MHz and MB turned into
//! cpu weights, quotas and memory limits of v1 or v2.

use super::files::write;
use super::task::{Dir, TaskCgroup};
use super::{CgroupError, Cgroups};
use crate::jobspec::model::Resources;

/// Nomad's (runc's) conversion of v1 shares to a v2 weight.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9_999 / 262_142
}

/// MHz as v1 shares, clamped as the kernel wants them.
pub fn mhz_to_shares(mhz: u32) -> u64 {
    u64::from(mhz).clamp(2, 262_144)
}

/// A quota of `mhz` per 100 ms period, on cores of `per_core` MHz.
pub fn mhz_to_quota(mhz: u32, per_core: u64) -> u64 {
    (u64::from(mhz) * 100_000 / per_core.max(1)).max(1_000)
}

const PERIOD_US: u64 = 100_000;
const MB: u64 = 1024 * 1024;

impl TaskCgroup {
    pub(super) fn set_limits(&mut self, res: &Resources, cg: &Cgroups) -> Result<(), CgroupError> {
        let set = |dir: &Dir, file: &str, value: &str| {
            let path = dir.path.join(file);
            write(&path, value).map_err(|source| CgroupError::Write { value: value.to_string(), path, source })
        };
        if let Some(d) = &self.memory().cloned() {
            let hard = match res.memory_max {
                None => Some(u64::from(res.memory) * MB),
                Some(m) if m < 0 => None,
                Some(m) => Some(m as u64 * MB),
            };
            let soft = res.memory_max.map(|_| u64::from(res.memory) * MB);
            let mut swap_off = false;
            if d.v2 {
                set(d, "memory.max", &hard.map_or("max".into(), |b| b.to_string()))?;
                if let Some(s) = soft {
                    set(d, "memory.low", &s.to_string())?;
                }
                if hard.is_some() && d.path.join("memory.swap.max").exists() {
                    swap_off = set(d, "memory.swap.max", "0").is_ok();
                }
            } else {
                if let Some(h) = hard {
                    set(d, "memory.limit_in_bytes", &h.to_string())?;
                    // Memory plus swap no larger than memory: no swap.
                    if d.path.join("memory.memsw.limit_in_bytes").exists() {
                        swap_off = set(d, "memory.memsw.limit_in_bytes", &h.to_string()).is_ok();
                    }
                }
                if let Some(s) = soft {
                    set(d, "memory.soft_limit_in_bytes", &s.to_string())?;
                }
                // memory.swappiness = 0 comes from the parent (prepare_v1).
            }
            self.limits.memory_hard = hard;
            self.limits.memory_soft = soft;
            self.limits.swap_allowed = hard.is_some() && !swap_off;
        }
        if let Some(d) = &self.cpu().cloned() {
            let shares = mhz_to_shares(res.cpu);
            let quota = cg.mhz_per_core.filter(|_| cg.hard_cpu).map(|per_core| mhz_to_quota(res.cpu, per_core));
            if d.v2 {
                let weight = shares_to_weight(shares);
                set(d, "cpu.weight", &weight.to_string())?;
                self.limits.cpu_weight = Some(weight);
                if let Some(q) = quota {
                    set(d, "cpu.max", &format!("{q} {PERIOD_US}"))?;
                }
            } else {
                set(d, "cpu.shares", &shares.to_string())?;
                self.limits.cpu_weight = Some(shares);
                if let Some(q) = quota {
                    set(d, "cpu.cfs_period_us", &PERIOD_US.to_string())?;
                    set(d, "cpu.cfs_quota_us", &q.to_string())?;
                }
            }
            self.limits.cpu_quota = quota;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::cgroup::{check_parent, unescape};

    #[test]
    fn conversions() {
        assert_eq!(mhz_to_shares(500), 500);
        assert_eq!(mhz_to_shares(1), 2);
        assert_eq!(mhz_to_shares(u32::MAX), 262_144);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(mhz_to_quota(1300, 2600), 50_000);
        assert_eq!(mhz_to_quota(1, 2600), 1_000);
        assert!(check_parent("supd").is_ok() && check_parent("/a/b").is_ok());
        for bad in ["", "/", "a//b", "../x", "a/./b"] {
            assert!(check_parent(bad).is_err(), "{bad:?}");
        }
        assert_eq!(unescape("a\\040b\\134c"), "a b\\c");
    }
}
