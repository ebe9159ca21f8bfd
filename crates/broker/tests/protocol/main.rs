//! Deterministic protocol tests for the broker engine (STYLE.md test pyramid, tier 4).
//!
//! Each test drives one or more sans-IO [`lantern_broker::Connection`]s on a simulated clock:
//! no sockets, no sleeps, time is an argument. Tests are named after the specification clause
//! they check (`mqtt_3_1_2_24_…` is [MQTT-3.1.2-24]; MQTT 5.0 numbering unless the name says
//! `v311`), and tests that exist in both protocol versions are generated twice, as
//! `name::v311` and `name::v5`, by `both_versions!`.
//!
//! Files by topic: keep alive and connect timeout, wills, QoS flows across reconnects,
//! sessions and takeover, retained messages, subscriptions, MQTT 5.0 flow control and limits,
//! protocol violations.

#![allow(unreachable_pub, clippy::unwrap_used)]

mod harness;

mod auth;
mod hardening;
mod keepalive;
mod persist;
mod qos;
mod retained;
mod sessions;
mod subscriptions;
mod v5;
mod violations;
mod wills;
