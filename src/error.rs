//! The one error type of the library. Every fallible core function returns it; `ffi.rs` maps its
//! kind to an `lm_status` at the boundary.

use std::fmt;

/// What went wrong, in the categories a caller can act on. Each maps to exactly one C status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NullArgument,
    InvalidArgument,
    QueueFull,
    NotFound,
    Expired,
    Cancelled,
    InferenceFailed,
    DuplicateId,
    Timeout,
    BufferTooSmall,
    BackendUnavailable,
    ModelError,
    ShuttingDown,
    Panic,
    Internal,
}

/// An error kind with a human-readable message (the message is what `lm_create` copies into the
/// caller's buffer, and what the log callback receives).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// The text of a panic payload (a `&str` or `String` message), for the error that replaces it.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
