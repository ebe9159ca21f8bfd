//! Probing a broker like a device (being written).
