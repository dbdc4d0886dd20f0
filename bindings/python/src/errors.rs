//! The library's statuses as Python exceptions: one class per `ErrorKind` (defined in
//! `lmbatch/_errors.py` under the common base `LmbatchError`), carrying the library's message
//! and, where one applies, the event id.

use lmbatch::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::types::PyType;

/// The Python class name of an error kind.
pub fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NullArgument | ErrorKind::InvalidArgument => "InvalidArgument",
        ErrorKind::QueueFull => "QueueFull",
        ErrorKind::NotFound => "NotFound",
        ErrorKind::Expired => "Expired",
        ErrorKind::Cancelled => "Cancelled",
        ErrorKind::InferenceFailed => "InferenceFailed",
        ErrorKind::DuplicateId => "DuplicateId",
        ErrorKind::Timeout => "Timeout",
        ErrorKind::BufferTooSmall => "BufferTooSmall",
        ErrorKind::BackendUnavailable => "BackendUnavailable",
        ErrorKind::ModelError => "ModelError",
        ErrorKind::ShuttingDown => "ShuttingDown",
        ErrorKind::Panic => "Panic",
        ErrorKind::Internal => "Internal",
    }
}

/// An exception of the named class of `lmbatch._errors` (`Pending` has no library kind: it is a
/// pop's answer, not an error of the core).
pub fn raise(py: Python<'_>, class: &str, message: &str, event_id: Option<u64>) -> PyErr {
    let made = py
        .import("lmbatch._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| Ok(c.cast_into::<PyType>()?))
        .and_then(|c| c.call1((message, event_id)));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        // The module is part of the package; failing to import it is itself the error to show.
        Err(e) => e,
    }
}

/// The exception for a core error.
pub fn to_py(py: Python<'_>, error: &Error, event_id: Option<u64>) -> PyErr {
    raise(py, class_name(error.kind()), error.message(), event_id)
}
