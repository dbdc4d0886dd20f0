//! The TensorRT backend: ONE `enqueueV3` per batch of up to `max_batch` faces on an NVIDIA GPU.
//!
//! Nothing of TensorRT or CUDA is linked. A C++ shim (`shim/tensorrt`, compiled by build.rs
//! against TensorRT's headers) gives Rust a C API over TensorRT's classes; `libnvinfer`,
//! `libnvonnxparser`, `libcuda` and `libnvrtc` (CUDA 11 to 13) are opened at run time. Where any is missing, or
//! the GPU cannot run, `open` answers BACKEND_UNAVAILABLE with the reason and AUTO moves on.
//!
//! Order of the checks in `open`, cheapest and safest first: the library and its major version;
//! the CUDA driver and the device; only then TensorRT's runtime (which, created on a machine
//! without a usable GPU, was seen to return a garbage pointer instead of failing).

#[cfg(feature = "tensorrt")]
pub mod library;
#[cfg(feature = "tensorrt")]
pub mod plan;

/// Public for the GPU checks (`tests/gpu_cuda.rs`); not a stable API.
#[cfg(all(feature = "tensorrt", lmbatch_trt_shim))]
#[doc(hidden)]
pub mod cuda;
#[cfg(all(feature = "tensorrt", lmbatch_trt_shim))]
mod engine;
#[cfg(all(feature = "tensorrt", lmbatch_trt_shim))]
mod nvrtc;
#[cfg(all(feature = "tensorrt", lmbatch_trt_shim))]
pub mod shim;

use super::{Backend, OpenRequest};
use crate::error::Result;
#[cfg(not(all(feature = "tensorrt", lmbatch_trt_shim)))]
use crate::error::{Error, ErrorKind};

/// Whether this build can run TensorRT at all (the shim was compiled).
pub const BUILT: bool = cfg!(all(feature = "tensorrt", lmbatch_trt_shim));

pub fn open(request: &OpenRequest) -> Result<Box<dyn Backend>> {
    #[cfg(all(feature = "tensorrt", lmbatch_trt_shim))]
    {
        engine::TrtBackend::open(request).map(|b| Box::new(b) as Box<dyn Backend>)
    }
    #[cfg(not(all(feature = "tensorrt", lmbatch_trt_shim)))]
    {
        let _ = request;
        Err(Error::new(
            ErrorKind::BackendUnavailable,
            if cfg!(feature = "tensorrt") {
                "this lmbatch was built without TensorRT headers (set TENSORRT_INCLUDE_DIR when \
                 building)"
            } else {
                "this lmbatch was built without the TensorRT backend (feature tensorrt is off)"
            },
        ))
    }
}
