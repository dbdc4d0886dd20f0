//! The C ABI (`include/lmbatch.h` is generated from this file by cbindgen; the `///` docs here are
//! the header's docs). Every function only checks pointers, converts C values, calls the safe core
//! in [`crate::pipeline`] under `catch_unwind`, and maps the outcome to an `lm_status`.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void, CStr, CString, OsStr};
use std::mem::{offset_of, size_of, size_of_val};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Duration;

use crate::backend::remote::RemoteSettings;
use crate::backend::{BackendChoice, ModelSource, Precision};
use crate::chip::ChipFormat;
use crate::error::{Error, ErrorKind};
use crate::image::{frame_byte_len, Face, FaceBox, FrameRef, PixelFormat};
use crate::log::{LogLevel, Logger};
use crate::pipeline::{Config, Pipeline, RawFrame};
use crate::ready::{ReadyCallback, ReadyState};
use crate::results::{Landmarks, Popped, Room};

/// Major version of the C ABI: a library works with callers built against the same major.
pub const LM_API_VERSION_MAJOR: u32 = 1;
/// Minor version of the C ABI: a library serves callers built with a minor up to its own.
pub const LM_API_VERSION_MINOR: u32 = 4;

/// Status of every call. Values are stable and never renumbered; new ones are only appended.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lm_status {
    /// Success.
    LM_STATUS_OK = 0,
    /// A required pointer was NULL.
    LM_STATUS_NULL_ARGUMENT = 1,
    /// A bad size, pixel format, box or config value.
    LM_STATUS_INVALID_ARGUMENT = 2,
    /// lm_enqueue refused the face for backpressure; nothing was kept.
    LM_STATUS_QUEUE_FULL = 3,
    /// lm_pop: accepted, not finished yet.
    LM_STATUS_PENDING = 4,
    /// lm_pop/lm_cancel: unknown id, or its final state was already delivered.
    LM_STATUS_NOT_FOUND = 5,
    /// lm_pop: the result was evicted (time-to-live or capacity) before it was popped.
    LM_STATUS_EXPIRED = 6,
    /// lm_pop_wait: the item was cancelled while the call waited.
    LM_STATUS_CANCELLED = 7,
    /// lm_pop: the backend failed on this item's batch.
    LM_STATUS_INFERENCE_FAILED = 8,
    /// lm_enqueue: the id is still pending or unpopped.
    LM_STATUS_DUPLICATE_ID = 9,
    /// lm_pop_wait: not finished within the timeout (still pending).
    LM_STATUS_TIMEOUT = 10,
    /// lm_pop: the points buffer holds fewer points than the model gives; nothing consumed.
    LM_STATUS_BUFFER_TOO_SMALL = 11,
    /// lm_create: the requested backend cannot run here (reason in the error buffer).
    LM_STATUS_BACKEND_UNAVAILABLE = 12,
    /// lm_create: the model is missing, unreadable or unsupported.
    LM_STATUS_MODEL_ERROR = 13,
    /// The handle is shutting down.
    LM_STATUS_SHUTTING_DOWN = 14,
    /// A bug inside the library was caught at the boundary.
    LM_STATUS_PANIC = 15,
    /// An unexpected internal failure.
    LM_STATUS_INTERNAL = 16,
}

/// Pixel layouts of lm_image.format.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lm_pixel_format {
    LM_PIXEL_FORMAT_BGR8 = 0,
    LM_PIXEL_FORMAT_RGB8 = 1,
    /// The alpha byte is never read.
    LM_PIXEL_FORMAT_BGRA8 = 2,
    /// The alpha byte is never read.
    LM_PIXEL_FORMAT_RGBA8 = 3,
    /// Replicated to R = G = B.
    LM_PIXEL_FORMAT_GRAY8 = 4,
    /// (Since ABI 1.3, lm_frame only.) planes[0] Y, width x height; planes[1] interleaved U,V:
    /// ceil(width/2) x ceil(height/2) pairs.
    LM_PIXEL_FORMAT_NV12 = 16,
    /// (Since ABI 1.3, lm_frame only.) As NV12 with V before U.
    LM_PIXEL_FORMAT_NV21 = 17,
    /// (Since ABI 1.3, lm_frame only.) planes[0] Y, [1] U, [2] V, each chroma plane
    /// ceil(width/2) x ceil(height/2) (YV12: swap planes 1 and 2).
    LM_PIXEL_FORMAT_I420 = 18,
    /// (Since ABI 1.3, lm_frame only.) As NV12 with 16-bit little-endian samples, 10 significant
    /// HIGH bits. Strides must be even.
    LM_PIXEL_FORMAT_P010 = 19,
    /// (Since ABI 1.3, lm_frame only.) As NV12 with 16-bit little-endian samples. Strides must be
    /// even. A sample of 0xFFFF is full scale (white luma), not black.
    LM_PIXEL_FORMAT_P016 = 20,
    /// (Since ABI 1.4, lm_frame only.) As I420 (planes[0] Y, [1] U, [2] V) with 16-bit
    /// little-endian samples, 10 significant LOW bits: FFmpeg's yuv420p10le, what its software
    /// HEVC/AV1 Main10 decoders give (libyuv's I010). In 8-bit units sample/4; samples above 1023
    /// are clamped. Strides must be even.
    LM_PIXEL_FORMAT_I010 = 21,
}

/// (Since ABI 1.4.) lm_config.precision and lm_model_info.precision.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lm_precision {
    /// lm_config: FP32 on the CPU engines; TensorRT's own rule.
    LM_PRECISION_DEFAULT = 0,
    LM_PRECISION_FP32 = 1,
    /// lm_config: BF16 where a CPU engine has it, FP16 on TensorRT; elsewhere FP32.
    LM_PRECISION_REDUCED = 2,
    /// lm_model_info: BF16 runs.
    LM_PRECISION_BF16 = 3,
    /// lm_model_info: FP16 runs.
    LM_PRECISION_FP16 = 4,
}

/// (Since ABI 1.3.) lm_frame.color_matrix: ITU-T H.273 MatrixCoefficients, the values of FFmpeg's
/// AVColorSpace, so an AVFrame's colorspace copies straight across. Ignored for packed formats.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lm_color_matrix {
    /// BT.709 if width >= 1280 or height > 576, else BT.601.
    LM_COLOR_MATRIX_AUTO = 0,
    LM_COLOR_MATRIX_BT709 = 1,
    /// "Unspecified": as AUTO.
    LM_COLOR_MATRIX_UNSPECIFIED = 2,
    /// BT.601 (BT.470BG).
    LM_COLOR_MATRIX_BT601 = 5,
    /// SMPTE 170M: the same matrix as BT.601.
    LM_COLOR_MATRIX_SMPTE170M = 6,
    /// BT.2020 non-constant luminance.
    LM_COLOR_MATRIX_BT2020 = 9,
}

/// (Since ABI 1.3.) lm_frame.color_range: the values of FFmpeg's AVColorRange.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lm_color_range {
    /// Limited.
    LM_COLOR_RANGE_AUTO = 0,
    /// Y 16..235, chroma 16..240 (8-bit units).
    LM_COLOR_RANGE_LIMITED = 1,
    /// 0..255.
    LM_COLOR_RANGE_FULL = 2,
}

/// (Since ABI 1.3.) lm_frame.chroma_location: where 4:2:0 chroma sits, the values of FFmpeg's
/// AVChromaLocation.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lm_chroma_location {
    /// LEFT.
    LM_CHROMA_LOCATION_AUTO = 0,
    /// Co-sited with even luma columns, between rows (MPEG-2, H.264 default).
    LM_CHROMA_LOCATION_LEFT = 1,
    /// Between columns and rows (MPEG-1, JPEG).
    LM_CHROMA_LOCATION_CENTER = 2,
    /// Co-sited with even luma columns and rows.
    LM_CHROMA_LOCATION_TOPLEFT = 3,
}

/// (Since ABI 1.3.) lm_frame.memory: where the planes live. Other values are reserved (device
/// memory later) and refused with LM_STATUS_INVALID_ARGUMENT.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lm_memory {
    LM_MEMORY_HOST = 0,
}

/// (Since ABI 1.3.) lm_face.flags: right_eye and left_eye are valid (they win over the roll).
pub const LM_FACE_EYES: u32 = 1;
/// (Since ABI 1.3.) lm_face.flags: roll is valid.
pub const LM_FACE_ROLL: u32 = 2;

/// Backends of lm_config.backend.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lm_backend {
    /// TensorRT if it can run here, else OpenVINO if it loads, else ONNX Runtime if it loads, else
    /// tract (the reasons are in lm_model_info.fallback_reason).
    LM_BACKEND_AUTO = 0,
    /// tract on the CPU (pure Rust, built in); always available.
    LM_BACKEND_CPU = 1,
    /// TensorRT on an NVIDIA GPU; lm_create fails with LM_STATUS_BACKEND_UNAVAILABLE if it cannot run.
    LM_BACKEND_TENSORRT = 2,
    /// ONNX Runtime on the CPU (since ABI 1.1), loaded at run time from the ORT_DYLIB_PATH
    /// environment variable or the loader's search path; LM_STATUS_BACKEND_UNAVAILABLE if absent.
    LM_BACKEND_ONNXRUNTIME = 3,
    /// (Since ABI 1.3.) Batches go to an Open Inference Protocol (KServe v2) gRPC server:
    /// NVIDIA Triton, KServe, Seldon MLServer (lm_config.remote_*). Never chosen by AUTO.
    LM_BACKEND_REMOTE = 4,
    /// (Since ABI 1.4.) OpenVINO on the CPU, loaded at run time from OPENVINO_LIB_PATH (the
    /// libopenvino_c.so* file or its folder) or the loader's search path;
    /// LM_STATUS_BACKEND_UNAVAILABLE if absent or without its CPU plugin.
    LM_BACKEND_OPENVINO = 5,
}

/// An opaque pipeline handle: one worker thread, its queue and its result store.
pub struct lm_handle {
    pipeline: Pipeline,
}

/// A view of the caller's frame; read only during lm_enqueue.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lm_image {
    /// First byte of the top row. NULL is LM_STATUS_INVALID_ARGUMENT.
    pub data: *const u8,
    /// 1..32768.
    pub width: u32,
    /// 1..32768.
    pub height: u32,
    /// Bytes per row, >= width * bytes per pixel. The last row needs no padding.
    pub stride: usize,
    /// An lm_pixel_format value (an int, so that a bad value is an error rather than undefined).
    pub format: i32,
}

/// A detector box in frame pixels; (0,0) is the top-left corner of the first pixel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lm_box {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

/// (Since ABI 1.3.) A view of a decoder's frame (packed or YUV 4:2:0, each plane with its own
/// pointer and stride); read only during lm_enqueue_frame, every pointer may be freed after it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lm_frame {
    /// sizeof(lm_frame) as the caller knows it. It must cover `strides`; fields past it take
    /// their defaults (AUTO colorimetry, host memory).
    pub struct_size: usize,
    /// An lm_pixel_format value: packed 0..4 (planes[0] only) or planar 16..21.
    pub format: i32,
    /// 1..32768; odd sizes are fine.
    pub width: u32,
    /// 1..32768; odd sizes are fine.
    pub height: u32,
    /// First byte of each plane's top row; planes the format does not use are not read (NULL).
    pub planes: [*const c_void; 4],
    /// Bytes per row of each plane, >= that plane's row bytes; even for 16-bit formats. A
    /// plane's last row needs no padding.
    pub strides: [usize; 4],
    /// An lm_color_matrix value (H.273 / AVColorSpace).
    pub color_matrix: i32,
    /// An lm_color_range value (AVColorRange).
    pub color_range: i32,
    /// An lm_chroma_location value (AVChromaLocation).
    pub chroma_location: i32,
    /// An lm_memory value: LM_MEMORY_HOST.
    pub memory: i32,
}

/// (Since ABI 1.3.) A face as a detector gives it: the box, and optionally its eyes or roll, which
/// turn the crop so the face is upright in the model's input.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lm_face {
    /// sizeof(lm_face) as the caller knows it. It must cover `box`; fields past it take 0.
    pub struct_size: usize,
    /// The detector box in frame pixels, as lm_enqueue.
    pub r#box: lm_box,
    /// LM_FACE_EYES and/or LM_FACE_ROLL; 0: the upright crop, exactly as lm_enqueue.
    pub flags: u32,
    /// The SUBJECT's right eye (image left on an upright frontal face), frame pixels.
    pub right_eye: [f32; 2],
    /// The subject's left eye, frame pixels.
    pub left_eye: [f32; 2],
    /// Radians: the angle of the line right eye -> left eye, atan2(dy, dx), y down.
    pub roll: f32,
}

/// Log callback: level 0 error, 1 warning, 2 info, 3 debug. It may be called from any library
/// thread (the worker included, and during lm_create and lm_destroy); `message` is valid only
/// during the call; it must not call back into the library.
pub type lm_log_fn =
    Option<unsafe extern "C" fn(level: i32, message: *const c_char, user: *mut c_void)>;

/// (Since ABI 1.3.) Ready callback: `event_id`'s final state `status` (LM_STATUS_OK,
/// LM_STATUS_INFERENCE_FAILED or LM_STATUS_EXPIRED) has just become poppable. See
/// lm_config.ready_fn for when and where it runs.
pub type lm_ready_fn =
    Option<unsafe extern "C" fn(event_id: u64, status: lm_status, user: *mut c_void)>;

/// Pipeline configuration. Fill it with lm_config_init (the macro: lm_config_init_sized with
/// sizeof(lm_config)), then change what you need.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lm_config {
    /// sizeof(lm_config) as the caller knows it; set by lm_config_init. Fields past it take defaults.
    /// Fields are only ever appended, so a binary built against an older header keeps working.
    pub struct_size: usize,
    /// Path of an ONNX model; NULL: the model bundled in the library. Copied during lm_create.
    pub model_path: *const c_char,
    /// An lm_backend value; default LM_BACKEND_AUTO.
    pub backend: i32,
    /// CUDA device; default 0; negative is invalid.
    pub device_id: i32,
    /// Largest batch, 1..32; default 32.
    pub max_batch: u32,
    /// Faces waiting for the worker, >= 1; default 96 (3 x the default max_batch). A face waits
    /// at most about queue_capacity / max_batch batch times plus the batch in flight, so this is
    /// the latency bound under overload: 2 x max_batch keeps the queue wait within max_wait_us
    /// + 2 batch times (BENCHMARKS.md); more absorbs longer bursts before QUEUE_FULL.
    pub queue_capacity: u32,
    /// Deadline of a batch from its first face, in microseconds; 0 sends what is there; default 10000.
    pub max_wait_us: u32,
    /// Finished results waiting to be popped, >= 1; default 4096. The oldest is evicted first.
    pub result_capacity: u32,
    /// Time-to-live of a finished result, from completion; 0 = no limit; default 30000.
    pub result_ttl_ms: u32,
    /// lm_destroy finishes queued work for up to this long, then cancels the rest; 0 discards
    /// what is queued; default 1000.
    pub drain_timeout_ms: u32,
    /// TensorRT plans built from ONNX are cached here; NULL: no cache. Copied during lm_create.
    pub engine_cache_dir: *const c_char,
    /// Optional log callback; NULL: no logging.
    pub log_fn: lm_log_fn,
    /// Passed back to log_fn unchanged.
    pub log_user: *mut c_void,
    /// (Since ABI 1.2.) The batch size TensorRT tunes its plan for, 1..max_batch; 0 (default):
    /// max_batch. Part of the plan cache key.
    pub opt_batch: u32,
    /// (Since ABI 1.2.) 1 (default): at create, check that a GPU engine gives the same points
    /// for a face alone and in every slot of a full batch, and refuse it (AUTO falls back) if
    /// not; 0: skip the check (it costs a few engine runs). (Since ABI 1.4.) Also runs the model
    /// descriptor's golden case ([check]: an image, a box, the expected points) through the
    /// opened engine: a point farther than its tolerance_px is LM_STATUS_MODEL_ERROR naming it.
    pub self_check: i32,
    /// (Since ABI 1.3.) NULL (default): none. Called once per final state as it becomes poppable:
    /// LM_STATUS_OK or LM_STATUS_INFERENCE_FAILED when an item finishes, LM_STATUS_EXPIRED when an
    /// unpopped result is evicted (so an evicted id is announced twice: when it finished, and
    /// when it expired). Never for cancelled or discarded items. It runs on the handle's worker
    /// thread (never on a caller's thread, even when a caller's call caused an eviction), in
    /// completion order, with no library lock held: it may call lm_pop, lm_pop_wait and
    /// lm_pop_next with a timeout of 0 (a wait there stalls the worker, every batch and
    /// lm_destroy), lm_cancel and lm_get_stats on the handle, and must not call lm_destroy. The
    /// worker waits for it, so a slow callback delays the next batch (and, under load, turns
    /// into LM_STATUS_QUEUE_FULL); lm_stats counts the calls and the time spent in them. A
    /// cancel, or a reuse of an evicted id, withdraws announcements not yet made for that item;
    /// a result may still be taken (popped, or cancelled) by another thread between the
    /// announcement and the callback's own lm_pop (which then answers LM_STATUS_NOT_FOUND, or
    /// the state of a new item enqueued under the same id). None runs after lm_destroy returns;
    /// announcements still pending when lm_destroy's drain timeout has passed are dropped.
    pub ready_fn: lm_ready_fn,
    /// (Since ABI 1.3.) Passed back to ready_fn unchanged.
    pub ready_user: *mut c_void,
    /// (Since ABI 1.3.) LM_BACKEND_REMOTE: the servers' gRPC endpoints,
    /// "http://host:port,https://host2:port" (required). A batch that fails for want of a server
    /// (UNAVAILABLE, connection error, timeout) is sent once more to the next healthy endpoint;
    /// a failed endpoint is probed again after a backoff. Copied during lm_create.
    pub remote_endpoints: *const c_char,
    /// The model's name on the server; NULL: "face_landmark_u8".
    pub remote_model: *const c_char,
    /// NULL or "": the server's choice.
    pub remote_model_version: *const c_char,
    /// Per batch request, milliseconds; 0: the default 2000.
    pub remote_timeout_ms: u32,
    /// Per connection attempt, milliseconds; 0: the default 1000.
    pub remote_connect_timeout_ms: u32,
    /// NULL, or "name: value" lines ('\n'-separated) sent with every call (authorization).
    pub remote_headers: *const c_char,
    /// NULL: the system's roots for https://; else a PEM bundle of trusted roots.
    pub remote_ca_file: *const c_char,
    /// (Since ABI 1.4.) Threads a CPU engine (OpenVINO, ONNX Runtime, tract) runs one batch on,
    /// the worker thread included; 0 (default): every core. A VMS keeps cores for its decoders.
    pub cpu_threads: u32,
    /// (Since ABI 1.4.) An lm_precision value: what the engines may compute in. DEFAULT and FP32
    /// run FP32; REDUCED allows BF16 where an engine has it (OpenVINO on a CPU with BF16;
    /// elsewhere FP32 and one info log line). lm_model_info.precision says what runs.
    pub precision: i32,
    /// (Since ABI 1.4.) The model's descriptor (a TOML file, docs/models.md); NULL: the file
    /// `<model stem>.lmbatch.toml` beside the model, else the model's ONNX metadata_props entry
    /// "lmbatch", else the bundled descriptor when the model's tensor names are the bundled
    /// model's, else LM_STATUS_MODEL_ERROR. Copied during lm_create.
    pub model_desc_path: *const c_char,
    /// (Since ABI 1.4.) 0 (default): no aligned chip. Else the side in px (at most 1024; 112 =
    /// ArcFace) of the recognition chip each result carries: the face warped by the similarity
    /// that best maps its five points (eye centres, nose tip, mouth corners) onto ArcFace's
    /// 112-px template scaled to this side, in OpenCV's pixel-index convention, bilinear, edges
    /// repeated. lm_enqueue then keeps a second copy of the face (2.2x the box, at most 448 px a
    /// side) for it. Needs a model whose scheme names those five points
    /// (LM_STATUS_INVALID_ARGUMENT otherwise).
    pub chip_size: u32,
    /// (Since ABI 1.4.) The chip's byte order: LM_PIXEL_FORMAT_RGB8 (default) or
    /// LM_PIXEL_FORMAT_BGR8.
    pub chip_format: i32,
}

/// Counters and recent latencies of a handle, as one consistent snapshot:
/// accepted = queued + in_flight + ready + popped + expired + cancelled.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lm_stats {
    /// Set by the caller to sizeof(lm_stats); only fields that fit are written.
    pub struct_size: usize,
    /// Faces accepted by lm_enqueue.
    pub accepted: u64,
    /// Faces refused with LM_STATUS_QUEUE_FULL.
    pub rejected_full: u64,
    /// Faces refused with LM_STATUS_INVALID_ARGUMENT.
    pub rejected_invalid: u64,
    /// Accepted, waiting for a batch.
    pub queued: u64,
    /// In the batch the backend is running.
    pub in_flight: u64,
    /// Finished (including failed), not popped yet.
    pub ready: u64,
    /// Final states delivered by lm_pop (including failed).
    pub popped: u64,
    /// Evicted before they were popped.
    pub expired: u64,
    /// Cancelled by lm_cancel, or discarded by lm_destroy.
    pub cancelled: u64,
    /// Items whose batch failed.
    pub failed: u64,
    /// Batches run.
    pub batches: u64,
    /// [n] = number of batches of n items; [0] unused.
    pub batch_size_hist: [u64; 33],
    /// Queue wait over the recent window (about 1000 faces), microseconds.
    pub queue_us_p50: u64,
    pub queue_us_p99: u64,
    /// Batch inference time over the recent window, microseconds.
    pub infer_us_p50: u64,
    pub infer_us_p99: u64,
    /// Non-zero while the backend keeps failing (several batches in a row).
    pub degraded: u32,
    /// (Since ABI 1.3.) Calls of lm_config.ready_fn so far.
    pub ready_callbacks: u64,
    /// (Since ABI 1.3.) Total time spent in ready_fn, microseconds: time the worker did not batch.
    pub ready_callback_us: u64,
    /// (Since ABI 1.3.) The longest single ready_fn call, microseconds.
    pub ready_callback_max_us: u64,
    /// (Since ABI 1.3.) LM_BACKEND_REMOTE: batches sent again to another endpoint.
    pub remote_retries: u64,
    /// (Since ABI 1.3.) LM_BACKEND_REMOTE: switches of the endpoint batches go to.
    pub remote_failovers: u64,
}

/// What a handle runs.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lm_model_info {
    /// Set by the caller to sizeof(lm_model_info); only fields that fit are written.
    pub struct_size: usize,
    /// NUL-terminated backend name, e.g. "cpu-tract".
    pub backend: [c_char; 32],
    pub num_points: u32,
    pub input_width: u32,
    pub input_height: u32,
    pub max_batch: u32,
    /// NUL-terminated: why LM_BACKEND_AUTO passed over each engine before the one it picked
    /// (TensorRT, OpenVINO, ONNX Runtime); empty if it picked TensorRT or was not asked.
    pub fallback_reason: [c_char; 256],
    /// (Since ABI 1.4.) The model's point dimensions: 3, or 2 (z is written as 0).
    pub dims: u32,
    /// (Since ABI 1.4.) NUL-terminated point scheme of the model's descriptor: "mediapipe468",
    /// "mediapipe478", "five_point" or "custom".
    pub scheme: [c_char; 24],
    /// (Since ABI 1.4.) An lm_precision value: what runs: LM_PRECISION_FP32, or
    /// LM_PRECISION_BF16 (OpenVINO, precision REDUCED, a CPU with BF16).
    pub precision: i32,
}

/// One face's landmarks, filled by lm_pop.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lm_landmarks {
    /// Set by the caller to sizeof(lm_landmarks); must cover at least `num_points`.
    pub struct_size: usize,
    /// Caller's buffer of capacity * 3 floats: (x, y, z) per point in FRAME pixels.
    pub points: *mut f32,
    /// Capacity of `points`, in points.
    pub capacity: u32,
    /// Out: number of points written (also written with LM_STATUS_BUFFER_TOO_SMALL).
    pub num_points: u32,
    /// Out: the model's face presence score, 0..1 (below 0.5 the model sees no face).
    pub face_score: f32,
    /// Out: from the accepted lm_enqueue to the start of the batch's inference, microseconds.
    pub queue_us: u64,
    /// Out: the batch's inference time, microseconds.
    pub infer_us: u64,
    /// (Since ABI 1.3.) Out: the angle of this face's crop, radians (0: upright).
    pub roll: f32,
    /// (Since ABI 1.3.) Out: where to crop this face in the next frame (a square around its
    /// points, taken along track_roll); pass it back in lm_face.box with LM_FACE_ROLL.
    pub track_box: lm_box,
    /// (Since ABI 1.3.) Out: the roll of the predicted eye line, for the next frame's lm_face.roll
    /// (the crop's roll for a model without eye points).
    pub track_roll: f32,
    /// (Since ABI 1.4.) Out: head pose, radians, from the points fitted to MediaPipe's canonical
    /// face (NaN where the model's scheme cannot say: 2-D and non-mesh models). yaw > 0: the
    /// subject turns to its left (nose towards the image's right).
    pub yaw: f32,
    /// (Since ABI 1.4.) Out: pitch > 0: the subject looks up.
    pub pitch: f32,
    /// (Since ABI 1.4.) Out: the head's roll in the sense of lm_face.roll.
    pub head_roll: f32,
    /// (Since ABI 1.4.) Out: the quality measures a VMS picks a track's best face by.
    pub quality: lm_quality,
    /// (Since ABI 1.4.) In: NULL (no chip is written; the rest is delivered as usual), or the
    /// caller's buffer of `chip_capacity` bytes for the aligned chip (lm_config.chip_size).
    pub chip: *mut u8,
    /// (Since ABI 1.4.) In: bytes `chip` holds; a result's chip needs chip_size² × 3. Less:
    /// LM_STATUS_BUFFER_TOO_SMALL, nothing consumed, `chip_side` written.
    pub chip_capacity: usize,
    /// (Since ABI 1.4.) Out: the side of the chip written (chip_side² pixels of 3 bytes, in
    /// lm_config.chip_format's order); 0: no chip (chip_size 0, `chip` NULL, or a result whose
    /// five points could not be aligned).
    pub chip_side: u32,
}

/// (Since ABI 1.4.) Quality of one result (the formulas and their constants: src/pose/mod.rs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct lm_quality {
    /// [0,1): 1 − exp(−E / 150) of the crop's mean squared Laplacian E (8-bit luma) inside the
    /// face (the box's share of the crop).
    pub sharpness: f32,
    /// [0,1]: the lower eye's eyelid gap over its width, /0.25 (open eyes read 1); NaN: the
    /// scheme has no eyelids.
    pub eyes_open: f32,
    /// [0,1]: the inner-lip gap over the mouth's width, /0.5; NaN: no lips.
    pub mouth_open: f32,
    /// Frame pixels between the eye centres; NaN: the scheme has no eyes.
    pub inter_eye_px: f32,
    /// cos²(yaw)·cos²(pitch) (ISO/IEC 29794-5's head-pose form, as OFIQ); NaN: no pose.
    pub frontal: f32,
    /// [0,1] best-shot score: face_score · frontal · sharpness · min(1, inter_eye_px / 60) ·
    /// (0.5 + 0.5 · eyes_open); a NaN factor, or a model without a score, counts as 1.
    pub overall: f32,
}

impl lm_landmarks {
    /// An output struct over `points` (three floats per point) with `struct_size` set and every
    /// out field zero: what a Rust caller of the C functions (tests, benches) hands to lm_pop.
    pub fn for_points(points: &mut [f32]) -> Self {
        lm_landmarks {
            struct_size: std::mem::size_of::<lm_landmarks>(),
            points: points.as_mut_ptr(),
            capacity: u32::try_from(points.len() / 3).unwrap_or(u32::MAX),
            num_points: 0,
            face_score: 0.0,
            queue_us: 0,
            infer_us: 0,
            roll: 0.0,
            track_box: lm_box {
                x1: 0.0,
                y1: 0.0,
                x2: 0.0,
                y2: 0.0,
            },
            track_roll: 0.0,
            yaw: 0.0,
            pitch: 0.0,
            head_roll: 0.0,
            quality: lm_quality::default(),
            chip: std::ptr::null_mut(),
            chip_capacity: 0,
            chip_side: 0,
        }
    }
}

impl lm_stats {
    /// An all-zero struct with `struct_size` set, for lm_get_stats.
    pub fn sized() -> Self {
        // SAFETY: lm_stats holds only integers and an array of them: all-zero is a valid value.
        let mut stats: lm_stats = unsafe { std::mem::zeroed() };
        stats.struct_size = std::mem::size_of::<lm_stats>();
        stats
    }
}

fn status_of(kind: ErrorKind) -> lm_status {
    use lm_status::*;
    match kind {
        ErrorKind::NullArgument => LM_STATUS_NULL_ARGUMENT,
        ErrorKind::InvalidArgument => LM_STATUS_INVALID_ARGUMENT,
        ErrorKind::QueueFull => LM_STATUS_QUEUE_FULL,
        ErrorKind::NotFound => LM_STATUS_NOT_FOUND,
        ErrorKind::Expired => LM_STATUS_EXPIRED,
        ErrorKind::Cancelled => LM_STATUS_CANCELLED,
        ErrorKind::InferenceFailed => LM_STATUS_INFERENCE_FAILED,
        ErrorKind::DuplicateId => LM_STATUS_DUPLICATE_ID,
        ErrorKind::Timeout => LM_STATUS_TIMEOUT,
        ErrorKind::BufferTooSmall => LM_STATUS_BUFFER_TOO_SMALL,
        ErrorKind::BackendUnavailable => LM_STATUS_BACKEND_UNAVAILABLE,
        ErrorKind::ModelError => LM_STATUS_MODEL_ERROR,
        ErrorKind::ShuttingDown => LM_STATUS_SHUTTING_DOWN,
        ErrorKind::Panic => LM_STATUS_PANIC,
        ErrorKind::Internal => LM_STATUS_INTERNAL,
    }
}

/// Runs an entry point's body; a panic becomes LM_STATUS_PANIC instead of unwinding into C.
fn guard(body: impl FnOnce() -> lm_status) -> lm_status {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(lm_status::LM_STATUS_PANIC)
}

/// Byte length of the longest prefix of a struct made of whole fields that fits in `size`.
fn whole_fields_prefix(size: usize, field_ends: &[usize]) -> usize {
    field_ends
        .iter()
        .copied()
        .filter(|&end| end <= size)
        .max()
        .unwrap_or(0)
}

/// End offsets of the named fields of a struct value.
macro_rules! field_ends {
    ($value:expr, $ty:ty; $($field:ident),+) => {
        [$(offset_of!($ty, $field) + size_of_val(&$value.$field)),+]
    };
}

/// Copies the whole fields of `src` that fit in the caller's `struct_size` to `dst`.
///
/// SAFETY (for callers): `dst` must be valid for writes of `struct_size` bytes.
unsafe fn write_fitting<T>(dst: *mut T, src: &T, struct_size: usize, field_ends: &[usize]) {
    let n = whole_fields_prefix(struct_size.min(size_of::<T>()), field_ends);
    // SAFETY: `src` is a whole T (n <= size_of::<T>()), `dst` has room for struct_size >= n bytes
    // (caller's contract), and the two cannot overlap (src is our local).
    unsafe { std::ptr::copy_nonoverlapping(src as *const T as *const u8, dst as *mut u8, n) };
}

/// Copies `text` into a C char array, truncated, always NUL-terminated.
fn fill_c_string(dst: &mut [c_char], text: &str) {
    let Some(room) = dst.len().checked_sub(1) else {
        return;
    };
    let bytes = text.as_bytes();
    // Cut at a character: a C string never ends inside a UTF-8 sequence.
    let mut n = bytes.len().min(room);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    for (d, s) in dst.iter_mut().zip(&bytes[..n]) {
        *d = *s as c_char;
    }
    dst[n] = 0;
}

/// Writes a failure message into the caller's buffer, truncated and NUL-terminated.
///
/// SAFETY (for callers): `buf` is NULL or valid for `len` bytes.
unsafe fn write_error(buf: *mut c_char, len: usize, message: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    // SAFETY: non-NULL and valid for `len` bytes by the caller's contract.
    let dst = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    fill_c_string(dst, message);
}

fn defaults() -> lm_config {
    let d = Config::default();
    lm_config {
        struct_size: size_of::<lm_config>(),
        model_path: std::ptr::null(),
        backend: lm_backend::LM_BACKEND_AUTO as i32,
        device_id: 0,
        max_batch: d.max_batch as u32,
        queue_capacity: 3 * d.max_batch as u32,
        max_wait_us: d.max_wait.as_micros() as u32,
        result_capacity: d.result_capacity as u32,
        result_ttl_ms: d.result_ttl.map_or(0, |t| t.as_millis() as u32),
        drain_timeout_ms: d.drain_timeout.as_millis() as u32,
        engine_cache_dir: std::ptr::null(),
        log_fn: None,
        log_user: std::ptr::null_mut(),
        opt_batch: 0,
        self_check: 1,
        ready_fn: None,
        ready_user: std::ptr::null_mut(),
        remote_endpoints: std::ptr::null(),
        remote_model: std::ptr::null(),
        remote_model_version: std::ptr::null(),
        remote_timeout_ms: crate::backend::remote::DEFAULT_TIMEOUT.as_millis() as u32,
        remote_connect_timeout_ms: crate::backend::remote::DEFAULT_CONNECT_TIMEOUT.as_millis()
            as u32,
        remote_headers: std::ptr::null(),
        remote_ca_file: std::ptr::null(),
        cpu_threads: 0,
        precision: lm_precision::LM_PRECISION_DEFAULT as i32,
        model_desc_path: std::ptr::null(),
        chip_size: 0,
        chip_format: lm_pixel_format::LM_PIXEL_FORMAT_RGB8 as i32,
    }
}

/// End offsets of every lm_config field, in declaration order.
fn config_field_ends(c: &lm_config) -> [usize; 29] {
    field_ends!(c, lm_config; struct_size, model_path, backend, device_id, max_batch,
        queue_capacity, max_wait_us, result_capacity, result_ttl_ms, drain_timeout_ms,
        engine_cache_dir, log_fn, log_user, opt_batch, self_check, ready_fn, ready_user,
        remote_endpoints, remote_model, remote_model_version, remote_timeout_ms,
        remote_connect_timeout_ms, remote_headers, remote_ca_file, cpu_threads, precision,
        model_desc_path, chip_size, chip_format)
}

/// sizeof(lm_config) in ABI 1.0 (struct_size through log_user): all that the exported
/// lm_config_init may write, since a binary built against the 1.0 header passes no more.
pub const LM_CONFIG_SIZE_1_0: usize = offset_of!(lm_config, log_user) + size_of::<*mut c_void>();

/// Writes the defaults into the first `size` bytes of `cfg`: the whole fields that fit, zeros in
/// the rest (padding, a cut field, a newer header's fields), and `struct_size = size`.
///
/// SAFETY (for callers): `cfg` is valid for writes of `size` bytes.
unsafe fn init_config_prefix(cfg: *mut lm_config, size: usize) {
    if size < size_of::<usize>() {
        return;
    }
    let mut d = defaults();
    let n = whole_fields_prefix(size.min(size_of::<lm_config>()), &config_field_ends(&d));
    // The caller's struct is `size` bytes: lm_create reads only the whole fields within it.
    d.struct_size = size;
    // SAFETY: n <= size_of::<lm_config>() bytes of our local go to the caller's `size >= n`
    // writable bytes; the two cannot overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(&d as *const lm_config as *const u8, cfg as *mut u8, n)
    };
    // SAFETY: bytes n..size lie within the caller's `size` writable bytes.
    unsafe { std::ptr::write_bytes((cfg as *mut u8).add(n), 0, size - n) };
}

/// Fills an ABI 1.0 prefix of `cfg` with the defaults and sets `struct_size` to that prefix
/// (72 bytes on 64-bit targets). NULL does nothing.
///
/// Code compiled against this header never reaches this symbol: the macro lm_config_init below
/// calls lm_config_init_sized with sizeof(lm_config). This symbol serves binaries built against
/// older headers, whose lm_config may be as small as 1.0's: it cannot know their size, so it
/// writes no more than 1.0's. Such a binary (built against 1.1, 1.2 or 1.3) that sets a field past
/// `log_user` after init must also set `struct_size = sizeof(lm_config)` and every field past
/// `log_user` itself (1.2: opt_batch, self_check; 1.3: ready_fn, ready_user, remote_*), since
/// init no longer wrote their defaults; otherwise they keep their 1.0 defaults.
/// Thread safety: any thread; it touches only `cfg`.
/// # Safety
/// `cfg` is NULL or points to at least LM_CONFIG_SIZE_1_0 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lm_config_init(cfg: *mut lm_config) {
    let _ = catch_unwind(|| {
        if !cfg.is_null() {
            // SAFETY: non-NULL; every lm_config a caller was ever built with holds the 1.0 prefix.
            unsafe { init_config_prefix(cfg, LM_CONFIG_SIZE_1_0) };
        }
    });
}

/// (Since ABI 1.4.) Fills the first `size` bytes of `cfg` with the defaults (the whole fields that
/// fit; any other byte, e.g. a newer header's fields this library does not know, is zeroed) and
/// sets `struct_size` to `size`. Nothing is written past `size`. NULL, or a `size` smaller than a size_t, does nothing. Through the macro
/// lm_config_init(cfg), code compiled against this header calls it with sizeof(lm_config).
/// Thread safety: any thread; it touches only `cfg`.
/// # Safety
/// `cfg` is NULL or points to at least `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lm_config_init_sized(cfg: *mut lm_config, size: usize) {
    let _ = catch_unwind(|| {
        if !cfg.is_null() {
            // SAFETY: non-NULL and holding `size` writable bytes, by the caller's contract.
            unsafe { init_config_prefix(cfg, size) };
        }
    });
}

impl lm_config {
    /// The defaults of lm_config_init_sized with the whole struct: what a Rust caller of the C
    /// functions (tests, benches) starts from.
    pub fn with_defaults() -> Self {
        defaults()
    }
}

/// The C callback and its user pointer, made callable from the worker thread.
struct CLogSink {
    callback: unsafe extern "C" fn(i32, *const c_char, *mut c_void),
    user: *mut c_void,
}

// SAFETY: the header documents that the callback is called from library threads with `user`
// unchanged; making that safe is the caller's side of the contract. We never dereference `user`.
unsafe impl Send for CLogSink {}
// SAFETY: as above; the sink holds no state of its own.
unsafe impl Sync for CLogSink {}

/// The C ready callback and its user pointer, made callable from the worker thread.
struct CReadySink {
    callback: unsafe extern "C" fn(u64, lm_status, *mut c_void),
    user: *mut c_void,
}

// SAFETY: the header documents that ready_fn is called on the worker thread with `user`
// unchanged; making that safe is the caller's side of the contract. We never dereference `user`.
unsafe impl Send for CReadySink {}
// SAFETY: as above; the sink holds no state of its own.
unsafe impl Sync for CReadySink {}

impl CReadySink {
    fn call(&self, id: u64, state: ReadyState) {
        let status = match state {
            ReadyState::Landmarks => lm_status::LM_STATUS_OK,
            ReadyState::Failed => lm_status::LM_STATUS_INFERENCE_FAILED,
            ReadyState::Expired => lm_status::LM_STATUS_EXPIRED,
        };
        // SAFETY: the function pointer came from the caller's lm_config.
        unsafe { (self.callback)(id, status, self.user) };
    }
}

impl CLogSink {
    fn call(&self, level: LogLevel, message: &str) {
        let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
        // SAFETY: the function pointer came from the caller's lm_config; `text` lives through the call.
        unsafe { (self.callback)(level as i32, text.as_ptr(), self.user) };
    }
}

/// Reads a C string field as a path; NULL is None.
///
/// SAFETY (for callers): `ptr` is NULL or a NUL-terminated string.
unsafe fn path_arg(ptr: *const c_char) -> Option<PathBuf> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    Some(PathBuf::from(OsStr::from_bytes(bytes)))
}

/// Reads a C string field as UTF-8 text; NULL is None.
///
/// SAFETY (for callers): `ptr` is NULL or a NUL-terminated string.
unsafe fn str_arg<'a>(ptr: *const c_char) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map(Some)
        .map_err(|_| Error::invalid(format!("{text:?} is not UTF-8")))
}

/// lm_config.chip_format: RGB8 or BGR8.
fn chip_format(raw: i32) -> Result<ChipFormat, Error> {
    match raw {
        v if v == lm_pixel_format::LM_PIXEL_FORMAT_RGB8 as i32 => Ok(ChipFormat::Rgb),
        v if v == lm_pixel_format::LM_PIXEL_FORMAT_BGR8 as i32 => Ok(ChipFormat::Bgr),
        v => Err(Error::invalid(format!(
            "chip_format {v} is neither LM_PIXEL_FORMAT_RGB8 nor LM_PIXEL_FORMAT_BGR8"
        ))),
    }
}

/// The caller's config, with fields past its `struct_size` taken from the defaults.
///
/// SAFETY (for callers): `cfg` points to at least `struct_size` readable bytes.
unsafe fn read_config(cfg: *const lm_config) -> Result<Config, Error> {
    // SAFETY: every lm_config starts with its size; reading it is within any caller's struct.
    let struct_size = unsafe { std::ptr::read_unaligned(cfg as *const usize) };
    let min = offset_of!(lm_config, model_path) + size_of::<*const c_char>();
    if struct_size < min {
        return Err(Error::invalid(format!(
            "lm_config.struct_size {struct_size} is smaller than {min}"
        )));
    }
    let mut c = defaults();
    let ends = config_field_ends(&c);
    let n = whole_fields_prefix(struct_size.min(size_of::<lm_config>()), &ends);
    // SAFETY: the caller's struct holds `struct_size >= n` bytes; `c` is a whole lm_config.
    unsafe {
        std::ptr::copy_nonoverlapping(cfg as *const u8, &mut c as *mut lm_config as *mut u8, n)
    };
    if n < offset_of!(lm_config, queue_capacity) + size_of::<u32>() {
        // An older caller that cannot set the queue gets the default for its batch size.
        c.queue_capacity = c.max_batch.saturating_mul(3);
    }
    if c.device_id < 0 {
        return Err(Error::invalid(format!(
            "device_id {} is negative",
            c.device_id
        )));
    }
    let logger = match c.log_fn {
        Some(callback) => {
            let sink = CLogSink {
                callback,
                user: c.log_user,
            };
            Logger::new(move |level, message| sink.call(level, message))
        }
        None => Logger::default(),
    };
    let backend = BackendChoice::from_raw(c.backend)?;
    let remote = if backend == BackendChoice::Remote {
        // SAFETY: the caller's strings are NULL or NUL-terminated.
        let text = |ptr| unsafe { str_arg(ptr) };
        Some(RemoteSettings::parse(
            text(c.remote_endpoints)?,
            text(c.remote_model)?,
            text(c.remote_model_version)?,
            c.remote_timeout_ms,
            c.remote_connect_timeout_ms,
            text(c.remote_headers)?,
            // SAFETY: as above.
            unsafe { path_arg(c.remote_ca_file) },
        )?)
    } else {
        None
    };
    let on_ready = c.ready_fn.map(|callback| {
        let sink = CReadySink {
            callback,
            user: c.ready_user,
        };
        ReadyCallback::new(move |id, state| sink.call(id, state))
    });
    Ok(Config {
        // SAFETY: the caller's strings are NULL or NUL-terminated.
        model: unsafe { path_arg(c.model_path) }.map_or(ModelSource::Bundled, ModelSource::Path),
        backend,
        device_id: c.device_id as u32,
        max_batch: c.max_batch as usize,
        queue_capacity: Some(c.queue_capacity as usize),
        max_wait: Duration::from_micros(u64::from(c.max_wait_us)),
        result_capacity: c.result_capacity as usize,
        result_ttl: (c.result_ttl_ms > 0)
            .then(|| Duration::from_millis(u64::from(c.result_ttl_ms))),
        drain_timeout: Duration::from_millis(u64::from(c.drain_timeout_ms)),
        // SAFETY: as above.
        engine_cache_dir: unsafe { path_arg(c.engine_cache_dir) },
        opt_batch: (c.opt_batch > 0).then_some(c.opt_batch as usize),
        self_check: c.self_check != 0,
        cpu_threads: (c.cpu_threads > 0).then_some(c.cpu_threads as usize),
        precision: Precision::from_raw(c.precision)?,
        // SAFETY: the caller's strings are NULL or NUL-terminated.
        model_desc: unsafe { path_arg(c.model_desc_path) },
        chip_size: c.chip_size,
        chip_format: chip_format(c.chip_format)?,
        logger,
        remote,
        on_ready,
    })
}

/// Creates a pipeline: loads the model, opens the backend and starts the worker thread.
///
/// - `cfg` (in): the configuration (see lm_config_init); read only during the call.
/// - `out` (out): receives the handle on success; untouched on failure. Free it with lm_destroy.
/// - `err_buf`, `err_len` (out): on failure, when `err_len > 0`, a NUL-terminated message
///   (truncated to fit). May be NULL with `err_len` 0. Untouched on success.
///
/// Returns LM_STATUS_OK; LM_STATUS_NULL_ARGUMENT (`cfg` or `out` NULL); LM_STATUS_INVALID_ARGUMENT
/// (a config value out of range, `struct_size` too small); LM_STATUS_MODEL_ERROR;
/// LM_STATUS_BACKEND_UNAVAILABLE (an explicitly requested backend cannot run here);
/// LM_STATUS_INTERNAL; LM_STATUS_PANIC.
/// Thread safety: any thread; handles are independent of each other.
/// # Safety
/// `cfg` is NULL or points to `cfg->struct_size` readable bytes with NUL-terminated strings;
/// `out` is NULL or writable; `err_buf` is NULL or holds `err_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lm_create(
    cfg: *const lm_config,
    out: *mut *mut lm_handle,
    err_buf: *mut c_char,
    err_len: usize,
) -> lm_status {
    let mut message = String::new();
    let status = guard(|| {
        if cfg.is_null() || out.is_null() {
            message = "lm_create: cfg and out must not be NULL".into();
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: non-NULL; the caller's struct holds its struct_size bytes.
        let created = unsafe { read_config(cfg) }.and_then(Pipeline::new);
        match created {
            Ok(pipeline) => {
                // SAFETY: `out` is non-NULL and writable by the caller's contract.
                unsafe { out.write(handle_from_pipeline(pipeline)) };
                lm_status::LM_STATUS_OK
            }
            Err(e) => {
                message = e.message().to_string();
                status_of(e.kind())
            }
        }
    });
    if status != lm_status::LM_STATUS_OK {
        if status == lm_status::LM_STATUS_PANIC {
            message = "lm_create: internal panic (a bug in lmbatch)".into();
        }
        // SAFETY: the caller passes NULL or a buffer of err_len bytes.
        unsafe { write_error(err_buf, err_len, &message) };
    }
    status
}

/// Wraps a Rust [`Pipeline`] (over a backend of your own, say) in a handle that the C functions
/// accept; free it with [`lm_destroy`]. Rust-only: not part of the C header.
pub fn handle_from_pipeline(pipeline: Pipeline) -> *mut lm_handle {
    Box::into_raw(Box::new(lm_handle { pipeline }))
}

/// Borrows the pipeline behind a handle.
///
/// SAFETY (for callers): `h` is NULL or a live handle from lm_create.
unsafe fn pipeline<'a>(h: *mut lm_handle) -> Option<&'a Pipeline> {
    // SAFETY: NULL or a live handle, by the caller's contract.
    unsafe { h.as_ref() }.map(|h| &h.pipeline)
}

/// Queues one face of a frame for landmarks, without blocking: validates the frame view and box,
/// crops and resizes the face into the library's own buffer, and hands it to the worker.
///
/// - `h` (in): the handle.
/// - `event_id` (in): the caller's id for this face, unique among its live ids (0 is valid).
/// - `frame` (in): the frame view; its pixels are read only during this call and may be freed
///   when it returns.
/// - `face` (in): the detector box in frame pixels.
///
/// Returns LM_STATUS_OK (accepted: the id is live until its final state is popped or it is
/// cancelled); LM_STATUS_NULL_ARGUMENT; LM_STATUS_INVALID_ARGUMENT (NULL data, a zero or too large
/// size, a stride below one row, an overflowing size, an unknown format, a non-finite, inverted or
/// empty box, a box that does not overlap the frame, a crop side over 65536 px);
/// LM_STATUS_QUEUE_FULL (nothing kept); LM_STATUS_DUPLICATE_ID; LM_STATUS_SHUTTING_DOWN;
/// LM_STATUS_PANIC.
/// Thread safety: any number of threads at once on the same handle.
/// # Safety
/// `h` is NULL or a live handle; `frame` and `face` are NULL or readable; `frame->data` is NULL
/// or covers `stride * (height - 1) + width * bytes per pixel` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn lm_enqueue(
    h: *mut lm_handle,
    event_id: u64,
    frame: *const lm_image,
    face: *const lm_box,
) -> lm_status {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract; frame and face are NULL or readable.
        let (Some(p), Some(frame), Some(face)) =
            (unsafe { pipeline(h) }, unsafe { frame.as_ref() }, unsafe {
                face.as_ref()
            })
        else {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        };
        let data = if frame.data.is_null() {
            None
        } else {
            // An invalid geometry gives an empty view: the core then reports the geometry error.
            let len = PixelFormat::from_raw(frame.format)
                .and_then(|f| frame_byte_len(frame.width, frame.height, frame.stride, f))
                .unwrap_or(0);
            // SAFETY: the caller guarantees the view covers its geometry; `len` is exactly what
            // that geometry spans (and 0 when it is invalid).
            Some(unsafe { std::slice::from_raw_parts(frame.data, len) })
        };
        let raw = RawFrame {
            data,
            width: frame.width,
            height: frame.height,
            stride: frame.stride,
            format: frame.format,
        };
        let face = FaceBox {
            x1: face.x1,
            y1: face.y1,
            x2: face.x2,
            y2: face.y2,
        };
        match p.enqueue(event_id, &raw, &face) {
            Ok(()) => lm_status::LM_STATUS_OK,
            Err(e) => status_of(e.kind()),
        }
    })
}

/// (Since ABI 1.3.) Queues one face of a decoder's frame for landmarks, without blocking: as
/// lm_enqueue, for packed and YUV 4:2:0 frames (NV12, NV21, I420, P010, P016 with their
/// colorimetry), and faces that carry eyes or a roll. Crop, resize and colour conversion run in
/// one pass over the model's input (never a whole-frame conversion); the crop is turned by the
/// face's angle θ (from the eyes, else the roll, else 0) about the centre of its square, and the
/// points come back through the same rotation. lm_enqueue(h, id, image, box) is this call with a
/// packed frame and an upright face.
///
/// - `frame` (in): the frame; its planes are read only during this call.
/// - `face` (in): the box and, per `flags`, the eyes or the roll.
///
/// Returns as lm_enqueue; LM_STATUS_INVALID_ARGUMENT also for: a struct_size that does not cover
/// `strides` (lm_frame) or `box` (lm_face); `memory` other than LM_MEMORY_HOST; an unknown format,
/// color_matrix, color_range, chroma_location or flag bit; a NULL plane the format needs; a
/// stride below its plane's row, or odd for a 16-bit format; a plane whose rows overflow the
/// address space; planes that overlap; non-finite eyes (with LM_FACE_EYES) or roll (with
/// LM_FACE_ROLL). Every refusal is counted in rejected_invalid and explained at debug level
/// through the log callback.
/// Thread safety: any number of threads at once on the same handle.
/// # Safety
/// `h` is NULL or a live handle; `frame` and `face` are NULL or hold their `struct_size` readable
/// bytes; with host memory, each plane the format uses is NULL or covers
/// `stride * (rows - 1) + row bytes` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn lm_enqueue_frame(
    h: *mut lm_handle,
    event_id: u64,
    frame: *const lm_frame,
    face: *const lm_face,
) -> lm_status {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let Some(p) = (unsafe { pipeline(h) }) else {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        };
        if frame.is_null() || face.is_null() {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: non-NULL and holding struct_size readable bytes, by the caller's contract.
        let (frame, face) = match unsafe { (read_frame(frame), read_face(face)) } {
            (Ok(frame), Ok(face)) => (frame, face),
            (Err(e), _) | (_, Err(e)) => {
                return status_of(p.refuse_invalid(event_id, "lm_enqueue_frame", e).kind())
            }
        };
        // Planes are viewed only for host memory, only for planes the format uses, and only
        // over the bytes their geometry addresses (an invalid geometry views nothing: the core
        // then names the error).
        let lens =
            FrameRef::plane_byte_lens(frame.format, frame.width, frame.height, &frame.strides)
                .unwrap_or([0; 4]);
        let mut planes: [Option<&[u8]>; 4] = [None; 4];
        if frame.memory == lm_memory::LM_MEMORY_HOST as i32 {
            for ((view, &ptr), &len) in planes.iter_mut().zip(&frame.planes).zip(&lens) {
                if !ptr.is_null() {
                    // SAFETY: the caller guarantees each used plane covers its geometry; `len`
                    // is exactly what that geometry addresses (0 for unused or invalid ones).
                    *view = Some(unsafe { std::slice::from_raw_parts(ptr as *const u8, len) });
                }
            }
        }
        let raw = FrameRef {
            format: frame.format,
            width: frame.width,
            height: frame.height,
            planes,
            strides: frame.strides,
            color_matrix: frame.color_matrix,
            color_range: frame.color_range,
            chroma_location: frame.chroma_location,
            memory: frame.memory,
        };
        let b = face.r#box;
        let face = Face {
            bbox: FaceBox {
                x1: b.x1,
                y1: b.y1,
                x2: b.x2,
                y2: b.y2,
            },
            flags: face.flags,
            right_eye: face.right_eye,
            left_eye: face.left_eye,
            roll: face.roll,
        };
        match p.enqueue_frame(event_id, &raw, &face) {
            Ok(()) => lm_status::LM_STATUS_OK,
            Err(e) => status_of(e.kind()),
        }
    })
}

/// Reads a caller's input struct of `struct_size` bytes over `defaults`: whole fields that fit
/// are taken from the caller, the rest keep their defaults; `mandatory_end` bytes are required.
///
/// SAFETY (for callers): `src` points to at least `struct_size` readable bytes (its first field).
unsafe fn read_sized<T: Copy>(
    src: *const T,
    mut value: T,
    mandatory_end: usize,
    field_ends: &[usize],
    name: &str,
) -> Result<T, Error> {
    // SAFETY: every such struct starts with its size; reading it is within any caller's struct.
    let struct_size = unsafe { std::ptr::read_unaligned(src as *const usize) };
    if struct_size < mandatory_end {
        return Err(Error::invalid(format!(
            "{name}.struct_size {struct_size} is smaller than {mandatory_end}"
        )));
    }
    let n = whole_fields_prefix(struct_size.min(size_of::<T>()), field_ends);
    // SAFETY: the caller's struct holds `struct_size >= n` bytes; `value` is a whole T.
    unsafe { std::ptr::copy_nonoverlapping(src as *const u8, &mut value as *mut T as *mut u8, n) };
    Ok(value)
}

/// SAFETY (for callers): `frame` points to at least its `struct_size` readable bytes.
unsafe fn read_frame(frame: *const lm_frame) -> Result<lm_frame, Error> {
    let defaults = lm_frame {
        struct_size: size_of::<lm_frame>(),
        format: 0,
        width: 0,
        height: 0,
        planes: [std::ptr::null(); 4],
        strides: [0; 4],
        color_matrix: lm_color_matrix::LM_COLOR_MATRIX_AUTO as i32,
        color_range: lm_color_range::LM_COLOR_RANGE_AUTO as i32,
        chroma_location: lm_chroma_location::LM_CHROMA_LOCATION_AUTO as i32,
        memory: lm_memory::LM_MEMORY_HOST as i32,
    };
    let ends = field_ends!(defaults, lm_frame; struct_size, format, width, height, planes,
        strides, color_matrix, color_range, chroma_location, memory);
    let mandatory = offset_of!(lm_frame, strides) + size_of::<[usize; 4]>();
    // SAFETY: forwarded from the caller.
    unsafe { read_sized(frame, defaults, mandatory, &ends, "lm_frame") }
}

/// SAFETY (for callers): `face` points to at least its `struct_size` readable bytes.
unsafe fn read_face(face: *const lm_face) -> Result<lm_face, Error> {
    let defaults = lm_face {
        struct_size: size_of::<lm_face>(),
        r#box: lm_box {
            x1: 0.0,
            y1: 0.0,
            x2: 0.0,
            y2: 0.0,
        },
        flags: 0,
        right_eye: [0.0; 2],
        left_eye: [0.0; 2],
        roll: 0.0,
    };
    let ends = field_ends!(defaults, lm_face; struct_size, r#box, flags, right_eye, left_eye, roll);
    let mandatory = offset_of!(lm_face, r#box) + size_of::<lm_box>();
    // SAFETY: forwarded from the caller.
    unsafe { read_sized(face, defaults, mandatory, &ends, "lm_face") }
}

/// Pops the final state of `event_id` without waiting: lm_pop_wait with a timeout of 0.
/// # Safety
/// As lm_pop_wait.
#[no_mangle]
pub unsafe extern "C" fn lm_pop(
    h: *mut lm_handle,
    event_id: u64,
    out: *mut lm_landmarks,
) -> lm_status {
    // SAFETY: same contract as lm_pop_wait.
    unsafe { lm_pop_wait(h, event_id, 0, out) }
}

/// Pops the final state of `event_id`, waiting up to `timeout_ms` for it to finish.
///
/// - `out` (in/out): the caller sets `struct_size`, `points` and `capacity`; on LM_STATUS_OK the
///   library writes the points (x, y, z in frame pixels), `num_points`, `face_score`, `queue_us`
///   and `infer_us`, since ABI 1.3 `roll`, `track_box` and `track_roll`, and since ABI 1.4 the
///   pose, `quality`, and the chip into `chip` with `chip_side` (those that fit in `struct_size`).
///
/// Returns LM_STATUS_OK (the id is then forgotten); LM_STATUS_INFERENCE_FAILED (final; the id is
/// then forgotten); LM_STATUS_PENDING (timeout 0 only); LM_STATUS_TIMEOUT (still pending);
/// LM_STATUS_CANCELLED (cancelled while this call waited); LM_STATUS_EXPIRED (evicted before it
/// was popped; answered once); LM_STATUS_NOT_FOUND (unknown or already delivered; at once);
/// LM_STATUS_BUFFER_TOO_SMALL (only for a finished result whose points, or whose chip when `chip`
/// is not NULL, do not fit: `num_points` and `chip_side` are written, nothing is consumed, pop
/// again with larger buffers); LM_STATUS_NULL_ARGUMENT (`h` or `out` NULL, or
/// `points` NULL with `capacity` > 0); LM_STATUS_INVALID_ARGUMENT (`struct_size` does not cover
/// `num_points`); LM_STATUS_PANIC.
/// Thread safety: any number of threads at once; a result is handed out to one of them only.
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or holds `out->struct_size` writable bytes;
/// `out->points` is NULL or holds `out->capacity * 3` writable floats.
#[no_mangle]
pub unsafe extern "C" fn lm_pop_wait(
    h: *mut lm_handle,
    event_id: u64,
    timeout_ms: u32,
    out: *mut lm_landmarks,
) -> lm_status {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let Some(p) = (unsafe { pipeline(h) }) else {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        };
        // SAFETY: `out` is NULL or holds its struct_size writable bytes, by the caller's contract.
        let target = match unsafe { LandmarksTarget::check(out) } {
            Ok(t) => t,
            Err(status) => return status,
        };
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let popped = p.pop_into(event_id, target.room(), timeout);
        // SAFETY: `target` was checked against `out` above.
        unsafe { target.deliver(out, popped) }
    })
}

/// (Since ABI 1.3.) Pops the earliest-finished final state not delivered yet, whatever its id,
/// waiting up to `timeout_ms` for one: the shape of a completion queue, so one consumer thread
/// serves every id in flight.
///
/// - `event_id` (out): whose final state this is; written with OK, INFERENCE_FAILED, EXPIRED and
///   BUFFER_TOO_SMALL; not written with TIMEOUT, NULL_ARGUMENT, INVALID_ARGUMENT or PANIC.
/// - `out` (in/out): as lm_pop_wait.
///
/// Returns LM_STATUS_OK (the id is then forgotten); LM_STATUS_INFERENCE_FAILED (final; forgotten);
/// LM_STATUS_EXPIRED (a result evicted before it was popped, reported once; evicted results come
/// first, as they finished before anything still waiting; as for lm_pop, the last
/// `result_capacity` evicted ids are remembered); LM_STATUS_TIMEOUT (nothing within
/// `timeout_ms`; 0 does not wait); LM_STATUS_BUFFER_TOO_SMALL (`*event_id` and `num_points` are
/// written, nothing is consumed: the next call answers the same result, or pop it by id with a
/// larger buffer); LM_STATUS_NULL_ARGUMENT (`h`, `event_id` or `out` NULL, or `points` NULL with
/// `capacity` > 0); LM_STATUS_INVALID_ARGUMENT (`struct_size` does not cover `num_points`);
/// LM_STATUS_PANIC. Results come in completion order.
/// It competes fairly with lm_pop/lm_pop_wait by id: each final state is delivered exactly once,
/// by whichever call takes it (EXPIRED too). It waits on the store's condition variable (no
/// spinning) and also wakes when the oldest result's time-to-live runs out.
/// Thread safety: any number of threads at once. Like every call it must not race lm_destroy:
/// a consumer thread loops with a finite timeout, and is told to stop and joined before
/// lm_destroy (lm_destroy does not wake it). From ready_fn, call it with `timeout_ms` 0 only:
/// the worker runs the callback, so a wait there stalls every batch and lm_destroy.
/// # Safety
/// `h` is NULL or a live handle; `event_id` is NULL or writable; `out` as lm_pop_wait.
#[no_mangle]
pub unsafe extern "C" fn lm_pop_next(
    h: *mut lm_handle,
    timeout_ms: u32,
    event_id: *mut u64,
    out: *mut lm_landmarks,
) -> lm_status {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let Some(p) = (unsafe { pipeline(h) }) else {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        };
        if event_id.is_null() {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: `out` is NULL or holds its struct_size writable bytes, by the caller's contract.
        let target = match unsafe { LandmarksTarget::check(out) } {
            Ok(t) => t,
            Err(status) => return status,
        };
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let Some((id, popped)) = p.pop_next_into(target.room(), timeout) else {
            return lm_status::LM_STATUS_TIMEOUT;
        };
        // SAFETY: non-NULL and writable, by the caller's contract.
        unsafe { event_id.write_unaligned(id) };
        // SAFETY: `target` was checked against `out` above.
        unsafe { target.deliver(out, popped) }
    })
}

/// The caller's lm_landmarks, checked: what lm_pop_wait and lm_pop_next write into.
struct LandmarksTarget {
    struct_size: usize,
    points: *mut f32,
    capacity: u32,
    /// NULL when the caller takes no chip (or its struct predates the chip fields).
    chip: *mut u8,
    chip_capacity: usize,
}

impl LandmarksTarget {
    /// Checks `out` before anything is popped, so a bad struct consumes nothing.
    ///
    /// SAFETY (for callers): `out` is NULL or holds `out->struct_size` writable bytes.
    unsafe fn check(out: *mut lm_landmarks) -> Result<Self, lm_status> {
        if out.is_null() {
            return Err(lm_status::LM_STATUS_NULL_ARGUMENT);
        }
        // SAFETY: non-NULL; every lm_landmarks starts with its size.
        let struct_size = unsafe { std::ptr::read_unaligned(out as *const usize) };
        let mandatory = offset_of!(lm_landmarks, num_points) + size_of::<u32>();
        if struct_size < mandatory {
            return Err(lm_status::LM_STATUS_INVALID_ARGUMENT);
        }
        // SAFETY: the struct holds at least its mandatory fields (checked above).
        let (points, capacity) = unsafe { ((*out).points, (*out).capacity) };
        if points.is_null() && capacity > 0 {
            return Err(lm_status::LM_STATUS_NULL_ARGUMENT);
        }
        let chip_fields = offset_of!(lm_landmarks, chip_capacity) + size_of::<usize>();
        let (chip, chip_capacity) = if struct_size >= chip_fields {
            // SAFETY: the struct holds the chip fields (its size covers them).
            unsafe { ((*out).chip, (*out).chip_capacity) }
        } else {
            (std::ptr::null_mut(), 0)
        };
        Ok(LandmarksTarget {
            struct_size,
            points,
            capacity,
            chip,
            chip_capacity,
        })
    }

    /// What the caller's buffers hold, for the store's pop.
    fn room(&self) -> Room {
        Room {
            points: self.capacity as usize,
            chip_bytes: (!self.chip.is_null()).then_some(self.chip_capacity),
        }
    }

    /// Whether the caller's struct holds `chip_side`.
    fn has_chip_side(&self) -> bool {
        self.struct_size >= offset_of!(lm_landmarks, chip_side) + size_of::<u32>()
    }

    /// Writes a pop's answer into `out` and maps it to its status.
    ///
    /// SAFETY (for callers): `self` came from `check(out)`, and `popped` from a pop bounded by
    /// `self.capacity` points.
    unsafe fn deliver(&self, out: *mut lm_landmarks, popped: Popped) -> lm_status {
        match popped {
            Popped::Landmarks(l) => {
                // SAFETY: forwarded from the caller.
                unsafe { self.write(out, &l) };
                lm_status::LM_STATUS_OK
            }
            Popped::BufferTooSmall {
                num_points,
                chip_side,
            } => {
                // SAFETY: num_points is within the mandatory prefix `check` verified.
                unsafe { std::ptr::addr_of_mut!((*out).num_points).write_unaligned(num_points) };
                if self.has_chip_side() {
                    // SAFETY: the caller's struct_size covers chip_side (checked).
                    unsafe { std::ptr::addr_of_mut!((*out).chip_side).write_unaligned(chip_side) };
                }
                lm_status::LM_STATUS_BUFFER_TOO_SMALL
            }
            Popped::Failed(_) => lm_status::LM_STATUS_INFERENCE_FAILED,
            Popped::Pending => lm_status::LM_STATUS_PENDING,
            Popped::Timeout => lm_status::LM_STATUS_TIMEOUT,
            Popped::NotFound => lm_status::LM_STATUS_NOT_FOUND,
            Popped::Expired => lm_status::LM_STATUS_EXPIRED,
            Popped::Cancelled => lm_status::LM_STATUS_CANCELLED,
        }
    }

    /// The one place an lm_landmarks is filled: the points, then every field that fits.
    ///
    /// SAFETY (for callers): as `deliver`; `l` fits in `self.capacity` points.
    unsafe fn write(&self, out: *mut lm_landmarks, l: &Landmarks) {
        if !l.points.is_empty() {
            // SAFETY: `points` holds `capacity` * 3 floats and the result fits (checked by the
            // store against `capacity`).
            unsafe {
                std::ptr::copy_nonoverlapping(l.points.as_ptr(), self.points, l.points.len())
            };
        }
        let chip_written = !self.chip.is_null() && !l.chip.is_empty();
        if chip_written {
            // SAFETY: `chip` holds `chip_capacity` bytes and the chip fits (checked by the store
            // against the room of a non-NULL chip).
            unsafe { std::ptr::copy_nonoverlapping(l.chip.as_ptr(), self.chip, l.chip.len()) };
        }
        let filled = lm_landmarks {
            struct_size: self.struct_size,
            points: self.points,
            capacity: self.capacity,
            num_points: (l.points.len() / 3) as u32,
            face_score: l.face_score,
            queue_us: l.queue_us,
            infer_us: l.infer_us,
            roll: l.roll,
            track_box: lm_box {
                x1: l.track_box.x1,
                y1: l.track_box.y1,
                x2: l.track_box.x2,
                y2: l.track_box.y2,
            },
            track_roll: l.track_roll,
            yaw: l.pose.yaw,
            pitch: l.pose.pitch,
            head_roll: l.pose.roll,
            quality: lm_quality {
                sharpness: l.quality.sharpness,
                eyes_open: l.quality.eyes_open,
                mouth_open: l.quality.mouth_open,
                inter_eye_px: l.quality.inter_eye_px,
                frontal: l.quality.frontal,
                overall: l.quality.overall,
            },
            chip: self.chip,
            chip_capacity: self.chip_capacity,
            chip_side: if chip_written { l.chip_side } else { 0 },
        };
        let ends = field_ends!(filled, lm_landmarks; struct_size, points, capacity, num_points,
            face_score, queue_us, infer_us, roll, track_box, track_roll, yaw, pitch, head_roll,
            quality, chip, chip_capacity, chip_side);
        // SAFETY: `out` holds struct_size bytes.
        unsafe { write_fitting(out, &filled, self.struct_size, &ends) };
    }
}

/// Cancels a live id (queued, in flight, or finished and not popped): it is discarded and the id
/// may be reused at once; a thread blocked in lm_pop_wait on it wakes with LM_STATUS_CANCELLED.
///
/// Returns LM_STATUS_OK; LM_STATUS_NOT_FOUND (unknown, already delivered, already cancelled);
/// LM_STATUS_NULL_ARGUMENT; LM_STATUS_PANIC.
/// Thread safety: any number of threads at once.
/// # Safety
/// `h` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lm_cancel(h: *mut lm_handle, event_id: u64) -> lm_status {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let Some(p) = (unsafe { pipeline(h) }) else {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        };
        if p.cancel(event_id) {
            lm_status::LM_STATUS_OK
        } else {
            lm_status::LM_STATUS_NOT_FOUND
        }
    })
}

/// Writes a consistent snapshot of the handle's counters into `out` (the fields that fit in the
/// caller's `struct_size`).
///
/// Returns LM_STATUS_OK; LM_STATUS_NULL_ARGUMENT; LM_STATUS_INVALID_ARGUMENT (`struct_size`
/// smaller than the struct_size field); LM_STATUS_PANIC.
/// Thread safety: any number of threads at once.
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or holds `out->struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lm_get_stats(h: *mut lm_handle, out: *mut lm_stats) -> lm_status {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let Some(p) = (unsafe { pipeline(h) }) else {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        };
        if out.is_null() {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: non-NULL; every lm_stats starts with its size.
        let struct_size = unsafe { std::ptr::read_unaligned(out as *const usize) };
        if struct_size < size_of::<usize>() {
            return lm_status::LM_STATUS_INVALID_ARGUMENT;
        }
        let s = p.stats();
        let c = &s.counters;
        let (remote_retries, remote_failovers) = p.remote_stats();
        let snapshot = lm_stats {
            struct_size,
            accepted: c.accepted,
            rejected_full: c.rejected_full,
            rejected_invalid: c.rejected_invalid,
            queued: c.queued,
            in_flight: c.in_flight,
            ready: c.ready,
            popped: c.popped,
            expired: c.expired,
            cancelled: c.cancelled,
            failed: c.failed,
            batches: c.batches,
            batch_size_hist: c.batch_size_hist,
            queue_us_p50: s.queue_us_p50,
            queue_us_p99: s.queue_us_p99,
            infer_us_p50: s.infer_us_p50,
            infer_us_p99: s.infer_us_p99,
            degraded: u32::from(s.degraded),
            ready_callbacks: c.ready_callbacks,
            ready_callback_us: c.ready_callback_us,
            ready_callback_max_us: c.ready_callback_max_us,
            remote_retries,
            remote_failovers,
        };
        let ends = field_ends!(snapshot, lm_stats; struct_size, accepted, rejected_full,
            rejected_invalid, queued, in_flight, ready, popped, expired, cancelled, failed, batches,
            batch_size_hist, queue_us_p50, queue_us_p99, infer_us_p50, infer_us_p99, degraded,
            ready_callbacks, ready_callback_us, ready_callback_max_us, remote_retries,
            remote_failovers);
        // SAFETY: `out` holds struct_size bytes.
        unsafe { write_fitting(out, &snapshot, struct_size, &ends) };
        lm_status::LM_STATUS_OK
    })
}

/// Describes what the handle runs: backend name, point count, input size, max batch, and why AUTO
/// fell back from TensorRT (the fields that fit in the caller's `struct_size`).
///
/// Returns LM_STATUS_OK; LM_STATUS_NULL_ARGUMENT; LM_STATUS_INVALID_ARGUMENT (`struct_size`
/// smaller than the struct_size field); LM_STATUS_PANIC.
/// Thread safety: any thread, at any time while the handle lives.
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or holds `out->struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lm_get_model_info(
    h: *mut lm_handle,
    out: *mut lm_model_info,
) -> lm_status {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let Some(p) = (unsafe { pipeline(h) }) else {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        };
        if out.is_null() {
            return lm_status::LM_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: non-NULL; every lm_model_info starts with its size.
        let struct_size = unsafe { std::ptr::read_unaligned(out as *const usize) };
        if struct_size < size_of::<usize>() {
            return lm_status::LM_STATUS_INVALID_ARGUMENT;
        }
        let i = p.model_info();
        let mut info = lm_model_info {
            struct_size,
            backend: [0; 32],
            num_points: i.num_points,
            input_width: i.input_width,
            input_height: i.input_height,
            max_batch: i.max_batch,
            fallback_reason: [0; 256],
            dims: i.dims,
            scheme: [0; 24],
            precision: i.precision,
        };
        fill_c_string(&mut info.backend, &i.backend);
        let room = info.fallback_reason.len() - 1;
        fill_c_string(
            &mut info.fallback_reason,
            &crate::backend::fit_reasons(&i.fallback_reasons, room),
        );
        fill_c_string(&mut info.scheme, &i.scheme);
        let ends = field_ends!(info, lm_model_info; struct_size, backend, num_points, input_width,
            input_height, max_batch, fallback_reason, dims, scheme, precision);
        // SAFETY: `out` holds struct_size bytes.
        unsafe { write_fitting(out, &info, struct_size, &ends) };
        lm_status::LM_STATUS_OK
    })
}

/// Destroys a handle: stops intake, lets queued work finish for up to `drain_timeout_ms` (the rest
/// is cancelled), joins the worker, frees everything. Returns within `drain_timeout_ms` plus one
/// batch time (plus one ready_fn call in progress). NULL is fine. Results not popped are lost.
/// No ready_fn call runs after it returns.
/// Thread safety: must not race any other call on the same handle, lm_pop_wait and lm_pop_next
/// included: stop and join the threads that wait in them (they use finite timeouts) first.
/// Other handles are unaffected.
/// # Safety
/// `h` is NULL or a live handle, destroyed once, with no other call on it racing or following.
#[no_mangle]
pub unsafe extern "C" fn lm_destroy(h: *mut lm_handle) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !h.is_null() {
            // Close through a shared reference first: while the worker drains, its ready_fn may
            // still call lm_pop(h) and so borrow the handle shared, which a Box (a unique owner)
            // alive at the same time would alias.
            // SAFETY: a live handle from lm_create, not yet destroyed.
            unsafe { &*h }.pipeline.close();
            // SAFETY: as above; the worker is joined, so no other reference to the handle is left.
            drop(unsafe { Box::from_raw(h) });
        }
    }));
}

/// A static, NUL-terminated description of a status value; "unknown status" for other values.
/// Never free it. Thread safety: any thread.
#[no_mangle]
pub extern "C" fn lm_status_string(status: i32) -> *const c_char {
    let text: &'static CStr = match status {
        0 => c"ok",
        1 => c"a required pointer was NULL",
        2 => c"invalid argument",
        3 => c"queue full",
        4 => c"pending",
        5 => c"not found",
        6 => c"expired",
        7 => c"cancelled",
        8 => c"inference failed",
        9 => c"duplicate id",
        10 => c"timeout",
        11 => c"buffer too small",
        12 => c"backend unavailable",
        13 => c"model error",
        14 => c"shutting down",
        15 => c"panic inside lmbatch",
        16 => c"internal error",
        _ => c"unknown status",
    };
    text.as_ptr()
}

/// The library's version, e.g. "0.1.0": static, NUL-terminated, never free it.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn lm_version_string() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// The library's C ABI version (compare with LM_API_VERSION_MAJOR/MINOR of the header you built
/// against: equal major, library minor >= header minor). NULL pointers are skipped.
/// Thread safety: any thread.
/// # Safety
/// Each pointer is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lm_api_version(major: *mut u32, minor: *mut u32) {
    // SAFETY: each pointer is NULL or writable, by the caller's contract.
    unsafe {
        if let Some(m) = major.as_mut() {
            *m = LM_API_VERSION_MAJOR;
        }
        if let Some(m) = minor.as_mut() {
            *m = LM_API_VERSION_MINOR;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status() {
        assert_eq!(guard(|| panic!("boom")), lm_status::LM_STATUS_PANIC);
        assert_eq!(guard(|| lm_status::LM_STATUS_OK), lm_status::LM_STATUS_OK);
    }

    #[test]
    fn prefixes_stop_at_whole_fields() {
        assert_eq!(whole_fields_prefix(10, &[8, 16, 20]), 8);
        assert_eq!(whole_fields_prefix(16, &[8, 16, 20]), 16);
        assert_eq!(whole_fields_prefix(4, &[8, 16]), 0);
    }

    #[test]
    fn c_strings_are_truncated_and_terminated() {
        let mut buf = [1 as c_char; 4];
        fill_c_string(&mut buf, "abcdef");
        assert_eq!(buf, [b'a' as c_char, b'b' as c_char, b'c' as c_char, 0]);
        let mut empty: [c_char; 0] = [];
        fill_c_string(&mut empty, "x");
    }

    #[test]
    fn every_status_has_a_distinct_string() {
        let mut seen = std::collections::HashSet::new();
        for s in 0..=16 {
            // SAFETY: lm_status_string returns static NUL-terminated strings.
            let text = unsafe { CStr::from_ptr(lm_status_string(s)) }
                .to_str()
                .unwrap();
            assert!(seen.insert(text), "{text}");
            assert_ne!(text, "unknown status");
        }
        // SAFETY: as above.
        assert_eq!(
            unsafe { CStr::from_ptr(lm_status_string(17)) }
                .to_str()
                .unwrap(),
            "unknown status"
        );
        // SAFETY: as above.
        assert_eq!(
            unsafe { CStr::from_ptr(lm_status_string(-1)) }
                .to_str()
                .unwrap(),
            "unknown status"
        );
    }
}
