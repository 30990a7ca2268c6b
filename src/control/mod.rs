//! supd's control socket: the protocol both binaries share, and the
//! client side supctl uses. The server side lives in the supervisor's loop.

pub mod client;
pub mod protocol;
