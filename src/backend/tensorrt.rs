//! The TensorRT backend. Until it is implemented (the TensorRT issue), asking for it answers
//! `BACKEND_UNAVAILABLE` with this reason, and AUTO falls back to the CPU.

use super::{Backend, OpenRequest};
use crate::error::{Error, ErrorKind, Result};

pub fn open(_request: &OpenRequest) -> Result<Box<dyn Backend>> {
    Err(Error::new(
        ErrorKind::BackendUnavailable,
        "this build of lmbatch has no TensorRT backend yet (CPU only)",
    ))
}
