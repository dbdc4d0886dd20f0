//! The ready callback: told once per final state as it becomes poppable, so a caller with
//! thousands of ids in flight needs neither a thread per id nor a polling loop.

use std::fmt;
use std::sync::Arc;

/// A final state that has just become poppable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadyState {
    /// Landmarks wait to be popped.
    Landmarks,
    /// The backend failed on the item's batch; popping answers the failure.
    Failed,
    /// The unpopped result was evicted (time-to-live or capacity); popping answers `Expired`.
    Expired,
}

type Sink = Arc<dyn Fn(u64, ReadyState) + Send + Sync>;

/// The caller's ready callback. It runs on the worker thread with no library lock held (so it may
/// pop, pop_next or cancel), and the worker waits for it: keep it short.
#[derive(Clone)]
pub struct ReadyCallback(Sink);

impl ReadyCallback {
    pub fn new(callback: impl Fn(u64, ReadyState) + Send + Sync + 'static) -> Self {
        ReadyCallback(Arc::new(callback))
    }

    pub fn call(&self, id: u64, state: ReadyState) {
        (self.0)(id, state)
    }
}

impl fmt::Debug for ReadyCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReadyCallback")
    }
}
