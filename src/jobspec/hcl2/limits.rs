//! The limits on what evaluating a job file may make and read, which the
//! budget (`budget.rs`), the functions (`funcs/`) and their errors share.

/// The most values (elements, keys, scalars) one expression may make.
pub const MAX_VALUES: u64 = 1_000_000;
/// The most string bytes one expression may make.
pub const MAX_BYTES: u64 = 16 << 20;

/// `file()` reads at most this many bytes.
pub const MAX_FILE: usize = 1 << 20;

/// bcrypt() hashes at most at this cost: each step doubles the time (12:
/// ~0.25 s; Go allows 31: days), and the job file is evaluated on every
/// read. Nomad's default is 10.
pub const MAX_BCRYPT_COST: i64 = 12;

/// fileset() looks at most at this many directory entries (and at most
/// `MAX_DEPTH` directories deep, in `funcs/files.rs`).
pub const MAX_WALK: usize = 100_000;
