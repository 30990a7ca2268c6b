//! supd's control socket: the protocol both binaries share, and the
//! client side supctl uses, and the making of the socket. The server side
//! lives in the supervisor's loop.

pub mod client;
pub mod listen;
pub mod protocol;
