//! Lantern's network layer: listeners, and the per-connection task that drives a sans-IO
//! [`lantern_broker::Connection`] from a tokio socket.
//!
//! This is the only crate with sockets. It owns no protocol logic: it moves bytes between the
//! socket and the connection machine, wakes it when the broker queued something for it, runs
//! its timers, and turns its events into log lines. TLS and WebSocket transports arrive with
//! the secure-transports issue; today every listener is plain TCP.

mod driver;
mod server;

pub use server::{ListenerSpec, Server};
