//! What pops, stats() and model_info() return: frozen Python objects with read-only attributes.

use lmbatch::pose::Quality as CoreQuality;
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods};
use pyo3::prelude::*;

/// The quality of a face for picking a track's best shot (see the C header's lm_quality).
#[pyclass(frozen, get_all, module = "lmbatch._lmbatch")]
pub struct Quality {
    pub sharpness: f32,
    pub eyes_open: f32,
    pub mouth_open: f32,
    pub inter_eye_px: f32,
    pub frontal: f32,
    pub overall: f32,
}

#[pymethods]
impl Quality {
    fn __repr__(&self) -> String {
        format!(
            "Quality(sharpness={}, eyes_open={}, mouth_open={}, inter_eye_px={}, frontal={}, overall={})",
            self.sharpness, self.eyes_open, self.mouth_open, self.inter_eye_px, self.frontal, self.overall
        )
    }
}

impl From<CoreQuality> for Quality {
    fn from(q: CoreQuality) -> Self {
        Quality {
            sharpness: q.sharpness,
            eyes_open: q.eyes_open,
            mouth_open: q.mouth_open,
            inter_eye_px: q.inter_eye_px,
            frontal: q.frontal,
            overall: q.overall,
        }
    }
}

/// The landmarks of one face, in frame pixels.
#[pyclass(frozen, get_all, module = "lmbatch._lmbatch")]
pub struct Landmarks {
    pub event_id: u64,
    /// `(N, 3)` float32: x, y, z per point.
    pub points: Py<PyArray2<f32>>,
    pub face_score: f32,
    pub queue_us: u64,
    pub infer_us: u64,
    pub roll: f32,
    /// `(x1, y1, x2, y2)`: where to crop this face in the next frame, with `track_roll`.
    pub track_box: (f32, f32, f32, f32),
    pub track_roll: f32,
    pub yaw: f32,
    pub pitch: f32,
    pub head_roll: f32,
    pub quality: Py<Quality>,
    /// `(S, S, 3)` uint8, the aligned recognition chip in the pipeline's `chip_format`; None
    /// without `chip_size`.
    pub chip: Option<Py<PyArray3<u8>>>,
}

#[pymethods]
impl Landmarks {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Landmarks(event_id={}, points=<{} x 3>, face_score={}, quality.overall={})",
            self.event_id,
            self.points.bind(py).len().unwrap_or(0),
            self.face_score,
            self.quality.get().overall
        )
    }
}

impl Landmarks {
    pub fn new(py: Python<'_>, event_id: u64, l: lmbatch::Landmarks) -> PyResult<Landmarks> {
        let count = l.points.len() / 3;
        let points = PyArray1::from_vec(py, l.points).reshape([count, 3])?;
        let b = l.track_box;
        let side = l.chip_side as usize;
        let chip = match side {
            0 => None,
            _ => Some(
                PyArray1::from_vec(py, l.chip)
                    .reshape([side, side, 3])?
                    .unbind(),
            ),
        };
        Ok(Landmarks {
            event_id,
            points: points.unbind(),
            face_score: l.face_score,
            queue_us: l.queue_us,
            infer_us: l.infer_us,
            roll: l.roll,
            track_box: (b.x1, b.y1, b.x2, b.y2),
            track_roll: l.track_roll,
            yaw: l.pose.yaw,
            pitch: l.pose.pitch,
            head_roll: l.pose.roll,
            quality: Py::new(py, Quality::from(l.quality))?,
            chip,
        })
    }
}

/// A consistent snapshot of the pipeline's counters: `accepted = queued + in_flight + ready +
/// popped + expired + cancelled`.
#[pyclass(frozen, get_all, module = "lmbatch._lmbatch")]
pub struct Stats {
    pub accepted: u64,
    pub rejected_full: u64,
    pub rejected_invalid: u64,
    pub queued: u64,
    pub in_flight: u64,
    pub ready: u64,
    pub popped: u64,
    pub expired: u64,
    pub cancelled: u64,
    pub failed: u64,
    pub batches: u64,
    /// `[n]`: batches of n items (`[0]` unused).
    pub batch_size_hist: Vec<u64>,
    pub ready_callbacks: u64,
    pub queue_us_p50: u64,
    pub queue_us_p99: u64,
    pub infer_us_p50: u64,
    pub infer_us_p99: u64,
    pub degraded: bool,
    /// REMOTE: batches sent again to another endpoint, and switches of endpoint (0 elsewhere).
    pub remote_retries: u64,
    pub remote_failovers: u64,
}

#[pymethods]
impl Stats {
    fn __repr__(&self) -> String {
        format!(
            "Stats(accepted={}, rejected_full={}, rejected_invalid={}, queued={}, in_flight={}, ready={}, popped={}, expired={}, cancelled={}, failed={}, batches={}, degraded={})",
            self.accepted, self.rejected_full, self.rejected_invalid, self.queued, self.in_flight,
            self.ready, self.popped, self.expired, self.cancelled, self.failed, self.batches,
            if self.degraded { "True" } else { "False" }
        )
    }
}

impl Stats {
    /// The core's snapshot and REMOTE's counters (`lmbatch::Pipeline::remote_stats`).
    pub fn new(s: lmbatch::Stats, (remote_retries, remote_failovers): (u64, u64)) -> Self {
        let c = s.counters;
        Stats {
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
            batch_size_hist: c.batch_size_hist.to_vec(),
            ready_callbacks: c.ready_callbacks,
            queue_us_p50: s.queue_us_p50,
            queue_us_p99: s.queue_us_p99,
            infer_us_p50: s.infer_us_p50,
            infer_us_p99: s.infer_us_p99,
            degraded: s.degraded,
            remote_retries,
            remote_failovers,
        }
    }
}

/// What runs: the backend, the model's geometry and why AUTO fell back.
#[pyclass(frozen, get_all, module = "lmbatch._lmbatch")]
pub struct ModelInfo {
    pub backend: String,
    pub num_points: u32,
    pub input_width: u32,
    pub input_height: u32,
    pub max_batch: u32,
    pub fallback_reason: String,
    pub dims: u32,
    pub scheme: String,
    /// What runs: "fp32", "bf16" or "fp16".
    pub precision: String,
}

#[pymethods]
impl ModelInfo {
    fn __repr__(&self) -> String {
        format!(
            "ModelInfo(backend={:?}, num_points={}, input={}x{}, max_batch={}, dims={}, scheme={:?}, precision={:?}, fallback_reason={:?})",
            self.backend, self.num_points, self.input_width, self.input_height, self.max_batch,
            self.dims, self.scheme, self.precision, self.fallback_reason
        )
    }
}

impl From<&lmbatch::ModelInfo> for ModelInfo {
    fn from(i: &lmbatch::ModelInfo) -> Self {
        ModelInfo {
            backend: i.backend.clone(),
            num_points: i.num_points,
            input_width: i.input_width,
            input_height: i.input_height,
            max_batch: i.max_batch,
            fallback_reason: i.fallback_reason.clone(),
            dims: i.dims,
            scheme: i.scheme.clone(),
            precision: match i.precision {
                1 => "fp32".into(),
                3 => "bf16".into(),
                4 => "fp16".into(),
                other => other.to_string(),
            },
        }
    }
}
