//! The variable byte integer (§1.5.5). (Contract; the implementation is being written.)

/// Largest remaining length: 268 435 455.
pub const MAX_REMAINING_LENGTH: u32 = 268_435_455;
/// Largest variable byte integer (same value, used for subscription identifiers too).
pub const MAX_VARINT: u32 = MAX_REMAINING_LENGTH;
