//! Lantern's network layer: listeners (TCP, TLS, WebSocket, WebSocket over TLS), SNI tenants,
//! mTLS identities, and the per-connection task that drives a sans-IO
//! [`lantern_broker::Connection`] from a socket.
//!
//! This is the only crate with sockets. It owns no MQTT logic: it sets up the transport (TLS
//! handshake with the tenant chosen from the ClientHello, WebSocket upgrade), moves bytes
//! between the socket and the connection machine, wakes it when the broker queued something
//! for it, runs its timers, and turns its events into log lines.

mod clientcert;
mod driver;
mod hello;
pub mod legacy;
mod limits;
mod server;
mod story;
pub mod tls;
pub mod ws;

pub use limits::{ConnLimits, ConnectRate};
pub use server::{ListenerSpec, Reloader, Server, ServerError, Tenant, Transport};
pub use story::StorySink;
