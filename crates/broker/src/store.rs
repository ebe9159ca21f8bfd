//! The persistence boundary. The broker keeps its working state in memory and tells the store
//! about every change that must survive a restart; the embedded on-disk store comes in its own
//! crate with the persistence issue.

use std::sync::Arc;

use crate::message::Message;

/// Where the broker writes what must outlive the process.
pub trait Store: Send + Sync {
    /// Retained messages to load at start.
    fn retained(&self) -> Vec<Arc<Message>>;
    /// A retained message was set or replaced.
    fn retained_set(&self, msg: &Arc<Message>);
    /// The retained message of `topic` was deleted.
    fn retained_removed(&self, topic: &str);
    /// The session of `client_id` ended (expired, or replaced by a clean start).
    fn session_ended(&self, client_id: &str);
}

/// The store of a broker whose state lives only in memory: the broker's own maps are the
/// state, so there is nothing to write and nothing to load.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl Store for MemoryStore {
    fn retained(&self) -> Vec<Arc<Message>> {
        Vec::new()
    }

    fn retained_set(&self, _msg: &Arc<Message>) {}

    fn retained_removed(&self, _topic: &str) {}

    fn session_ended(&self, _client_id: &str) {}
}
