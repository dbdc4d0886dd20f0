//! lmbatch: facial landmarks for the faces a detector finds, batched on a worker thread, behind a
//! C ABI (`include/lmbatch.h`). See [`Pipeline`] for the safe Rust API and [`ffi`] for the C one.

pub mod backend;
pub mod batcher;
pub mod chip;
pub mod descriptor;
pub mod error;
pub mod ffi;
pub mod golden;
pub mod image;
pub mod log;
pub mod model;
pub mod onnx_meta;
pub mod pipeline;
pub mod pose;
pub mod ready;
pub mod results;

pub use backend::{Backend, BackendChoice, BatchOutput, ModelSource};
pub use error::{Error, ErrorKind, Result};
pub use image::{Face, FaceBox, FaceCrop, FrameRef};
pub use log::{LogLevel, Logger};
pub use model::ModelSpec;
pub use pipeline::{Config, ModelInfo, Pipeline, RawFrame};
pub use ready::{ReadyCallback, ReadyState};
pub use results::{Landmarks, Popped, Room, Stats};
