//! Backends run the model on a batch of staged crops. The batcher sees only this trait, so a new
//! backend (TensorRT, ONNX Runtime) is added here without touching the batcher.

#[cfg(feature = "cpu-tract")]
pub mod cpu;
pub mod null;
#[cfg(feature = "onnxruntime")]
pub mod onnxruntime;
/// cbindgen:ignore
#[cfg(feature = "openvino")]
pub mod openvino;
/// cbindgen:ignore
pub mod remote;
/// cbindgen:ignore
pub mod self_check;
/// cbindgen:ignore
pub mod tensorrt;

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};
use crate::model::ModelSpec;

/// Outputs of one batch, in the model's input pixels; reused from batch to batch.
#[derive(Debug, Default)]
pub struct BatchOutput {
    /// `n × num_points × 3`.
    pub points: Vec<f32>,
    /// `n` face presence scores.
    pub scores: Vec<f32>,
}

/// A loaded model ready to run batches. Created on the worker thread and used only there.
pub trait Backend: Send {
    /// Short name reported in `lm_model_info.backend`, e.g. "cpu-tract".
    fn name(&self) -> &str;
    fn max_batch(&self) -> usize;
    fn spec(&self) -> &ModelSpec;
    /// Runs ONE inference over `crops` (each `spec().crop_bytes()` of interleaved RGB bytes) and
    /// fills `out` with exactly `crops.len()` items.
    fn infer(&mut self, crops: &[&[u8]], out: &mut BatchOutput) -> Result<()>;
    /// What runs, as lm_model_info.precision: [`PRECISION_FP32`] unless the engine computes in
    /// less.
    fn precision(&self) -> i32 {
        PRECISION_FP32
    }
    /// A backend that can queue a batch and return while it runs (a GPU) gives the worker this
    /// view: the worker then stages the next batch while the current one runs (double
    /// buffering). `None` (the default): every batch is one blocking `infer`.
    fn overlapped(&mut self) -> Option<&mut dyn Overlapped> {
        None
    }
}

/// Two-phase running: `start` queues ONE inference for `crops` (copying them; the slices may be
/// reused when it returns) and returns without waiting; `finish` waits for the OLDEST started
/// batch and fills `out` with its items. The worker keeps at most [`MAX_IN_FLIGHT`] batches
/// started and finishes every one it starts, in order.
pub trait Overlapped {
    fn start(&mut self, crops: &[&[u8]]) -> Result<()>;
    fn finish(&mut self, out: &mut BatchOutput) -> Result<()>;
}

/// Batches an overlapping backend must be able to hold started at once. Internal: kept out of
/// the C header, where an unprefixed macro would clash with a VMS's own names.
/// cbindgen:ignore
pub const MAX_IN_FLIGHT: usize = 2;

/// Which backend `lm_create` asks for (`lm_backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// TensorRT if it can run here, else OpenVINO if it loads, else ONNX Runtime if it loads,
    /// else tract; never fails for lack of a GPU, OpenVINO or ONNX Runtime.
    Auto = 0,
    /// tract, in pure Rust; always available.
    Cpu = 1,
    TensorRt = 2,
    /// ONNX Runtime on the CPU, loaded at run time.
    OnnxRuntime = 3,
    /// An Open Inference Protocol server (Triton, KServe, MLServer); never chosen by AUTO.
    Remote = 4,
    /// OpenVINO on the CPU, loaded at run time.
    OpenVino = 5,
}

impl BackendChoice {
    pub fn from_raw(value: i32) -> Result<Self> {
        Ok(match value {
            0 => BackendChoice::Auto,
            1 => BackendChoice::Cpu,
            2 => BackendChoice::TensorRt,
            3 => BackendChoice::OnnxRuntime,
            4 => BackendChoice::Remote,
            5 => BackendChoice::OpenVino,
            other => return Err(Error::invalid(format!("unknown backend {other}"))),
        })
    }
}

/// Where the model comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// The model compiled into the library.
    Bundled,
    Path(PathBuf),
}

/// lm_config.precision: what the caller allows an engine to compute in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// FP32 on the CPU engines; TensorRT's own rule.
    #[default]
    Default,
    Fp32,
    /// BF16 where a CPU engine has it, FP16 on TensorRT; elsewhere FP32 with one info line.
    Reduced,
}

impl Precision {
    pub fn from_raw(value: i32) -> Result<Self> {
        match value {
            0 => Ok(Precision::Default),
            1 => Ok(Precision::Fp32),
            2 => Ok(Precision::Reduced),
            other => Err(Error::invalid(format!(
                "precision {other} is not one of 0 (default), 1 (FP32), 2 (reduced)"
            ))),
        }
    }
}

/// The numbers lm_model_info.precision reports for what runs (lm_precision).
pub const PRECISION_FP32: i32 = 1;
pub const PRECISION_BF16: i32 = 3;

/// What a backend needs to open.
#[derive(Clone, Debug)]
pub struct OpenRequest {
    pub model: ModelSource,
    pub max_batch: usize,
    pub device_id: u32,
    pub engine_cache_dir: Option<PathBuf>,
    /// TensorRT's optimal batch size; `None`: `max_batch`.
    pub opt_batch: Option<usize>,
    /// Run the batch-invariance self-check when a GPU backend opens.
    pub self_check: bool,
    /// Threads a CPU engine (tract, OpenVINO, ONNX Runtime) may run one batch on; `None`: every
    /// core.
    pub cpu_threads: Option<usize>,
    /// The model's conventions, from its descriptor (resolved before any engine opens).
    pub spec: ModelSpec,
    /// What the caller asked for; the engines say what runs (lm_model_info.precision).
    pub precision: Precision,
    pub logger: Logger,
    /// Where REMOTE sends batches; `None` unless it was asked for.
    pub remote: Option<remote::RemoteSettings>,
    /// REMOTE's retries and failovers, read by the pipeline's stats.
    pub remote_counters: Arc<remote::RemoteCounters>,
}

/// Opens the backend for `choice`. Returns it with the reasons AUTO passed over the engines before
/// it (TensorRT, OpenVINO, ONNX Runtime), one each — none when it picked TensorRT or was not asked.
pub fn open(
    choice: BackendChoice,
    request: &OpenRequest,
) -> Result<(Box<dyn Backend>, Vec<String>)> {
    let (backend, reasons) = match choice {
        BackendChoice::Cpu => (open_cpu(request)?, Vec::new()),
        BackendChoice::TensorRt => (open_tensorrt(request)?, Vec::new()),
        BackendChoice::OnnxRuntime => (open_onnxruntime(request)?, Vec::new()),
        BackendChoice::OpenVino => (open_openvino(request)?, Vec::new()),
        BackendChoice::Remote => (open_remote(request)?, Vec::new()),
        BackendChoice::Auto => open_auto(request)?,
    };
    if request.precision == Precision::Reduced && backend.precision() == PRECISION_FP32 {
        request.logger.log(
            LogLevel::Info,
            &format!(
                "precision REDUCED: {} runs FP32 here (reduced precision needs OpenVINO on a CPU \
                 with BF16, or TensorRT's FP16)",
                backend.name()
            ),
        );
    }
    Ok((backend, reasons))
}

/// The reasons as one line of at most `room` bytes (`lm_model_info.fallback_reason`): joined by
/// "; " where they fit, else each cut to a fair share (ending "...") so that every engine passed
/// over is still named: a long TensorRT reason must not hide why OpenVINO was not used.
pub fn fit_reasons(reasons: &[String], room: usize) -> String {
    const SEPARATOR: &str = "; ";
    const CUT: &str = "...";
    let joined = reasons.join(SEPARATOR);
    if joined.len() <= room || reasons.is_empty() {
        return joined;
    }
    let available = room.saturating_sub(SEPARATOR.len() * (reasons.len() - 1));
    // The largest share b with Σ min(len, b) ≤ available: short reasons keep all of theirs.
    let mut lengths: Vec<usize> = reasons.iter().map(String::len).collect();
    lengths.sort_unstable();
    let (mut left, mut share) = (available, available / reasons.len());
    for (i, &len) in lengths.iter().enumerate() {
        share = left / (lengths.len() - i);
        if len > share {
            break;
        }
        left -= len;
    }
    let cut = |r: &String| {
        if r.len() <= share {
            return r.clone();
        }
        let mut end = share.saturating_sub(CUT.len());
        while !r.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{CUT}", &r[..end])
    };
    reasons.iter().map(cut).collect::<Vec<_>>().join(SEPARATOR)
}

/// AUTO: the first engine of TensorRT, OpenVINO, ONNX Runtime that can run here, else tract; each
/// one passed over says why in the returned reasons.
fn open_auto(request: &OpenRequest) -> Result<(Box<dyn Backend>, Vec<String>)> {
    let mut reasons = Vec::new();
    for (name, open) in [
        (
            "TensorRT",
            open_tensorrt as fn(&OpenRequest) -> Result<Box<dyn Backend>>,
        ),
        ("OpenVINO", open_openvino),
        ("ONNX Runtime", open_onnxruntime),
    ] {
        match open(request) {
            Ok(backend) => {
                let reason = reasons.join("; ");
                if !reason.is_empty() {
                    request
                        .logger
                        .log(LogLevel::Info, &format!("{reason}; using {name}"));
                }
                return Ok((backend, reasons));
            }
            Err(e) if e.kind() == ErrorKind::BackendUnavailable => {
                reasons.push(format!("{name} not used: {}", e.message()));
            }
            Err(e) => return Err(e),
        }
    }
    let reason = reasons.join("; ");
    request.logger.log(
        LogLevel::Info,
        &format!("{reason}; falling back to tract on the CPU"),
    );
    Ok((open_cpu(request)?, reasons))
}

/// TensorRT, for any described model: the profile's shape and the plan's cache key come from the
/// descriptor; the bundled conventions are converted by a GPU kernel, any other input is written
/// on the host in the model's dtype and layout.
fn open_tensorrt(request: &OpenRequest) -> Result<Box<dyn Backend>> {
    tensorrt::open(request)
}

/// REMOTE: the bundled model (served as it is or as its uint8 wrapper), or a described model
/// whose served ModelMetadata agrees with its descriptor.
fn open_remote(request: &OpenRequest) -> Result<Box<dyn Backend>> {
    remote::open(request)
}

#[cfg(feature = "onnxruntime")]
fn open_onnxruntime(request: &OpenRequest) -> Result<Box<dyn Backend>> {
    Ok(Box::new(onnxruntime::OrtBackend::open(request)?))
}

#[cfg(not(feature = "onnxruntime"))]
fn open_onnxruntime(_request: &OpenRequest) -> Result<Box<dyn Backend>> {
    Err(Error::new(
        ErrorKind::BackendUnavailable,
        "this build of lmbatch has no ONNX Runtime backend (feature onnxruntime is off)",
    ))
}

#[cfg(feature = "openvino")]
fn open_openvino(request: &OpenRequest) -> Result<Box<dyn Backend>> {
    Ok(Box::new(openvino::OpenVinoBackend::open(request)?))
}

#[cfg(not(feature = "openvino"))]
fn open_openvino(_request: &OpenRequest) -> Result<Box<dyn Backend>> {
    Err(Error::new(
        ErrorKind::BackendUnavailable,
        "this build of lmbatch has no OpenVINO backend (feature openvino is off)",
    ))
}

#[cfg(feature = "cpu-tract")]
fn open_cpu(request: &OpenRequest) -> Result<Box<dyn Backend>> {
    Ok(Box::new(cpu::TractBackend::open(request)?))
}

#[cfg(not(feature = "cpu-tract"))]
fn open_cpu(_request: &OpenRequest) -> Result<Box<dyn Backend>> {
    Err(Error::new(
        ErrorKind::BackendUnavailable,
        "this build of lmbatch has no CPU backend (feature cpu-tract is off)",
    ))
}

/// Which of an overlapping engine's [`MAX_IN_FLIGHT`] slots (buffers and a request or stream
/// each) a batch runs in: slots start in turn and finish oldest first.
#[cfg(any(feature = "openvino", all(feature = "tensorrt", lmbatch_trt_shim)))]
#[derive(Debug, Default)]
pub(crate) struct SlotRing {
    started: std::collections::VecDeque<usize>,
    next: usize,
}

#[cfg(any(feature = "openvino", all(feature = "tensorrt", lmbatch_trt_shim)))]
impl SlotRing {
    /// The slot a batch of `n` crops starts in: 1..=max_batch crops, and a slot free.
    pub(crate) fn next(&self, n: usize, max_batch: usize) -> Result<usize> {
        if n == 0 || n > max_batch {
            return Err(Error::new(
                ErrorKind::InferenceFailed,
                format!("batch of {n} outside 1..={max_batch}"),
            ));
        }
        if self.started.len() >= MAX_IN_FLIGHT {
            return Err(Error::new(
                ErrorKind::Internal,
                "more batches started than the backend has slots",
            ));
        }
        Ok(self.next)
    }

    /// The slot [`next`](Self::next) gave has started.
    pub(crate) fn started(&mut self) {
        self.started.push_back(self.next);
        self.next = (self.next + 1) % MAX_IN_FLIGHT;
    }

    /// The oldest started slot, which the caller now waits for.
    pub(crate) fn finish(&mut self) -> Result<usize> {
        self.started
            .pop_front()
            .ok_or_else(|| Error::new(ErrorKind::Internal, "finish without a started batch"))
    }
}

#[cfg(all(
    test,
    any(feature = "openvino", all(feature = "tensorrt", lmbatch_trt_shim))
))]
mod slot_ring_tests {
    use super::*;

    #[test]
    fn slots_start_in_turn_finish_oldest_first_and_never_three_at_once() {
        let mut ring = SlotRing::default();
        assert_eq!(ring.finish().unwrap_err().kind(), ErrorKind::Internal);
        assert_eq!(
            ring.next(0, 8).unwrap_err().kind(),
            ErrorKind::InferenceFailed
        );
        assert_eq!(
            ring.next(9, 8).unwrap_err().kind(),
            ErrorKind::InferenceFailed
        );
        for expected in [0, 1] {
            assert_eq!(ring.next(8, 8).unwrap(), expected);
            ring.started();
        }
        let third = ring.next(1, 8).unwrap_err();
        assert_eq!(third.kind(), ErrorKind::Internal);
        assert!(third.message().contains("more batches started"));
        assert_eq!(ring.finish().unwrap(), 0);
        // Slot 0 is free again and next in turn; slot 1 still runs.
        assert_eq!(ring.next(3, 8).unwrap(), 0);
        ring.started();
        assert_eq!((ring.finish().unwrap(), ring.finish().unwrap()), (1, 0));
    }
}

#[cfg(test)]
mod fit_reasons_tests {
    use super::fit_reasons;

    #[test]
    fn reasons_that_fit_are_joined_whole() {
        let r = vec![
            "TensorRT not used: a".to_string(),
            "OpenVINO not used: b".into(),
        ];
        assert_eq!(
            fit_reasons(&r, 255),
            "TensorRT not used: a; OpenVINO not used: b"
        );
        assert_eq!(fit_reasons(&[], 255), "");
    }

    #[test]
    fn a_long_reason_is_cut_so_that_every_engine_is_named() {
        let r = vec![
            format!("TensorRT not used: {}", "x".repeat(400)),
            "OpenVINO not used: no libopenvino_c.so".to_string(),
            format!("ONNX Runtime not used: {}", "é".repeat(100)),
        ];
        let line = fit_reasons(&r, 255);
        assert!(line.len() <= 255, "{} bytes", line.len());
        for name in [
            "TensorRT not used",
            "OpenVINO not used: no libopenvino_c.so;",
            "ONNX Runtime",
        ] {
            assert!(line.contains(name), "{name} missing from {line:?}");
        }
        // The short one whole, the two long ones cut at a character, each to the same share.
        let parts: Vec<&str> = line.split("; ").collect();
        assert!(parts[0].ends_with("...") && parts[2].ends_with("..."));
        assert!(parts[0].len().abs_diff(parts[2].len()) <= 3, "{parts:?}");
        assert!(
            line.len() >= 255 - 6,
            "room left unused: {} bytes",
            line.len()
        );
    }
}
