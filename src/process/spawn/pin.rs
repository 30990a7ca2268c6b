//! A clone held to supd's CPU (see `spawn.rs`).

/// supd's thread held to the CPU it runs on while it clones a child, so
/// that the child is made there too: supd waits for the child's exec
/// (CLONE_VFORK), so the child runs at once on a CPU that is awake and
/// has supd's memory in its caches, instead of being placed on the idlest
/// CPU, often one that sleeps and must first be woken (a costly wake-up
/// in a virtual machine). The child gets supd's CPUs back before exec, and
/// supd's thread its own right after the clone.
pub(super) struct Pin {
    /// The thread's CPUs before, given back to the child and to it.
    pub(super) cpus: libc::cpu_set_t,
}

impl Pin {
    /// Holds this thread to the CPU it runs on; `None` where that cannot
    /// be done or would not help (one CPU).
    pub(super) fn here() -> Option<Pin> {
        // SAFETY: plain system calls on local, initialised cpu sets.
        unsafe {
            let mut cpus: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut cpus) != 0
                || libc::CPU_COUNT(&cpus) < 2
            {
                return None;
            }
            let cpu = libc::sched_getcpu();
            if cpu < 0 || !libc::CPU_ISSET(cpu as usize, &cpus) {
                return None;
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut one);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) != 0 {
                return None;
            }
            Some(Pin { cpus })
        }
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        // SAFETY: restores this thread's own CPU set, as read before.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.cpus) };
    }
}
