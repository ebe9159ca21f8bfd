//! UTF-8 strings and binary secrets as they travel in MQTT packets.

use core::fmt;
use core::ops::Deref;

use bytes::Bytes;

/// A UTF-8 encoded string as MQTT defines it (§1.5.4): valid UTF-8, at most 65 535 bytes, and
/// no U+0000 [MQTT-1.5.4-2]. Backed by [`Bytes`], so a decoded string is a slice of the packet
/// and cloning it is cheap.
#[derive(Clone, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct MqttString(Bytes);

/// Why bytes are not an MQTT UTF-8 string.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum InvalidString {
    /// Not valid UTF-8 [MQTT-1.5.4-1]; `valid_up_to` bytes were fine.
    Utf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// Contains U+0000 at this byte offset [MQTT-1.5.4-2].
    Nul {
        /// Byte offset of the NUL character.
        at: usize,
    },
    /// Longer than 65 535 bytes.
    TooLong {
        /// The length in bytes.
        len: usize,
    },
}

impl fmt::Display for InvalidString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Utf8 { valid_up_to } => {
                write!(f, "invalid UTF-8 after {valid_up_to} valid bytes")
            }
            Self::Nul { at } => write!(f, "U+0000 (NUL) at byte {at}"),
            Self::TooLong { len } => write!(f, "{len} bytes, over the 65535 limit"),
        }
    }
}

impl MqttString {
    /// Checks and wraps bytes.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, InvalidString> {
        if bytes.len() > usize::from(u16::MAX) {
            return Err(InvalidString::TooLong { len: bytes.len() });
        }
        if let Err(e) = core::str::from_utf8(&bytes) {
            return Err(InvalidString::Utf8 {
                valid_up_to: e.valid_up_to(),
            });
        }
        if let Some(at) = bytes.iter().position(|&b| b == 0) {
            return Err(InvalidString::Nul { at });
        }
        Ok(Self(bytes))
    }

    /// Wraps a static string, checked.
    pub fn from_static(s: &'static str) -> Result<Self, InvalidString> {
        Self::from_bytes(Bytes::from_static(s.as_bytes()))
    }

    /// Copies and checks a string slice.
    pub fn copy_from_str(s: &str) -> Result<Self, InvalidString> {
        Self::from_bytes(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Checked in every constructor; a failure here would be a bug in this module, and
        // returning "" keeps the no-panic promise.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Deref for MqttString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<&str> for MqttString {
    type Error = InvalidString;
    fn try_from(s: &str) -> Result<Self, InvalidString> {
        Self::copy_from_str(s)
    }
}

impl TryFrom<alloc::string::String> for MqttString {
    type Error = InvalidString;
    fn try_from(s: alloc::string::String) -> Result<Self, InvalidString> {
        Self::from_bytes(Bytes::from(s.into_bytes()))
    }
}

impl PartialEq<str> for MqttString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MqttString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A CONNECT password: binary data (v5 §3.1.3.5), never printed by `Debug`.
#[derive(Clone, Eq, PartialEq)]
pub struct Password(pub Bytes);

impl Password {
    /// The secret bytes. Call sites are the only places a password is read: keep them few.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}
