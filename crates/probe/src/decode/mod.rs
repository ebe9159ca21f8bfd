//! Reading pasted device logs (being written).
