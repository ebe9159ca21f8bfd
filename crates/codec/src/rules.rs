//! Spec rules as data. (Contract; the implementation is being written.)

/// A normative statement of MQTT 3.1.1 or 5.0 that a packet or a connection can break.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum SpecRule {
    /// [MQTT-3.1.2-3] The Server MUST validate that the reserved flag in CONNECT is zero.
    ConnectReservedFlag,
}

impl SpecRule {
    /// The conformance statement id, e.g. "MQTT-3.1.2-3".
    pub const fn id(self) -> &'static str {
        match self {
            Self::ConnectReservedFlag => "MQTT-3.1.2-3",
        }
    }
}
