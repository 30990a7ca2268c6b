//! Pure policy: the restart, check_restart and reschedule rules as state
//! machines of the form `(state, event, now) -> decision`. Nothing here
//! reads a clock, spawns, sleeps or logs; the supervisor feeds events in and
//! carries decisions out, and the tests drive them with a fake clock.

pub mod check_restart;
pub mod reschedule;
pub mod restart;
