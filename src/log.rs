//! The optional log callback. It may be called from any library thread (the worker included);
//! the message is only valid during the call.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error = 0,
    Warning = 1,
    Info = 2,
    Debug = 3,
}

type Sink = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// A cheap, clonable handle on the user's log sink; without one, logging does nothing.
#[derive(Clone, Default)]
pub struct Logger(Option<Sink>);

impl Logger {
    pub fn new(sink: impl Fn(LogLevel, &str) + Send + Sync + 'static) -> Self {
        Logger(Some(Arc::new(sink)))
    }

    /// Whether a sink is set: callers skip formatting messages nobody reads.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    pub fn log(&self, level: LogLevel, message: &str) {
        if let Some(sink) = &self.0 {
            // A panicking sink must not take the worker down with it.
            let _ = catch_unwind(AssertUnwindSafe(|| sink(level, message)));
        }
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Logger(set)"
        } else {
            "Logger(none)"
        })
    }
}
