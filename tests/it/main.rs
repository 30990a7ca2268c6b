//! supd's integration tests, one binary: the real `supd` and `supctl`
//! against real processes, sockets, cgroups, a private `dockerd`, podman,
//! `sshd` and the rest, each module a subject. `support` is the harness they
//! share (supd under test, waits, status readers). One binary links the
//! crate once, and its tests share two threads' worth of waiting instead of
//! running file after file.

mod support;

mod batch_schedule;
mod cgroup;
mod checks;
mod completions;
mod continuity;
mod crash;
mod debian;
mod docker;
mod docs;
mod effective;
mod events;
mod examples;
mod exec_isolation;
mod fuzz_jobspec;
mod handoff;
mod hcl2;
mod hostile;
mod init;
mod java;
mod memory;
mod metrics;
mod plan;
mod podman;
mod redis;
mod socket_load;
mod supctl;
mod supervisor;
mod task_output;
mod taskdir;
mod validate_corpus;
