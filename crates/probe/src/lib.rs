//! Lantern's client side. It tests a broker as an outsider would and never depends on the
//! broker crates (`codec ← diag ← probe`), so what it reports about Lantern it would report about
//! any broker.
//!
//! - [`decode`]: reads what device developers paste into forums — ESP-IDF hex dumps, plain and
//!   Wireshark hex, AT-command transcripts — and decodes the TLS records and MQTT packets in them,
//!   explaining result and error codes.
//! - [`probe`]: walks the stages a device walks (DNS, TCP, TLS, WebSocket, CONNECT, SUBSCRIBE and
//!   PUBLISH, PINGREQ) against any broker, maps its TLS, and gives a verdict per device profile.

pub mod decode;
pub mod probe;
