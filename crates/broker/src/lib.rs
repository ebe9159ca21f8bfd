//! Lantern's broker engine: sessions, the subscription tree, retained messages, wills, QoS 1
//! and 2 flows, keep alive and the MQTT 5.0 extras (topic aliases, flow control, expiry).
//!
//! It sits between the codec and the network layer (`codec ← broker ← net ← cli`). It does no
//! IO and reads no clock: a [`Connection`] takes bytes and the current time and produces bytes,
//! deadlines and [`ConnEvent`]s, so every protocol rule is testable on a simulated clock. The
//! tokio driver lives in `lantern-net`.
//!
//! What it does not do yet: authentication and ACLs beyond anonymous access (the identities
//! issue), persistence to disk (the [`PersistSink`] of the [`persist`] module is the seam), TLS or WebSocket (the network
//! layer's concern).

pub mod auth;
mod broker;
mod config;
mod conn;
mod events;
mod message;
pub mod persist;
pub mod retained;
mod session;
pub mod topic;
pub mod tree;

pub use broker::Broker;
pub use config::{BrokerConfig, OtherIdentity};
pub use conn::{ConnStats, Connection};
pub use events::{CloseReason, ConnEvent, Foreign};
pub use message::{Message, PassThrough};
pub use persist::{
    FanOut, InflightSnapshot, NoopSink, PersistDelivery, PersistEvent, PersistMessage, PersistSink,
    PersistStage, RecordingSink, SessionSnapshot, Snapshot, UnixMillis, WallClock,
};
pub use session::{Delivery, DropCounts, PushOutcome, Session, SubEntry, SubIds, NEVER_EXPIRES};
