//! Lantern's diagnostics vocabulary: the connection [`Story`] (what happened, from TCP accept
//! to close), the [`Cause`] of its end, and the explanation of that cause in one sentence with
//! fixes ([`Verdict`]).
//!
//! The broker side records stories (in `lantern-net`); the probe (client side) produces the same
//! causes, so both speak the same words. This crate has no IO, no async and no broker
//! dependency: it is data and text.

mod cause;
pub mod hello;
pub mod redact;
mod story;
pub mod suites;

pub use cause::{Cause, Outcome, Verdict};
pub use redact::redact;
pub use story::{
    Counters, DeviceGuess, Event, EventKind, HelloSummary, Initiator, Repeated, Story,
};
