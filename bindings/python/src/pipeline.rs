//! `lmbatch.Pipeline`'s native half: the configuration, enqueue from numpy arrays, the pops,
//! stats, model info and the lifetime (close joins everything; later calls raise ShuttingDown).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lmbatch::backend::Precision;
use lmbatch::chip::ChipFormat;
use lmbatch::{BackendChoice, Config, Error, Face, FaceBox, FrameRef, ModelSource, Popped};
use parking_lot::RwLock;
use pyo3::prelude::*;

use crate::errors::{raise, to_py};
use crate::frames::{geometry, plane, Plane};
use crate::pump::Pump;
use crate::results::{Landmarks, ModelInfo, Stats};

/// A wait is cut into slices this long so Ctrl-C (a pending signal) interrupts it.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// lm_pixel_format values of the packed and planar formats Python passes.
const FORMAT_BGR8: i32 = 0;
const FORMAT_RGB8: i32 = 1;
const FORMAT_BGRA8: i32 = 2;
const FORMAT_RGBA8: i32 = 3;
const FORMAT_GRAY8: i32 = 4;
const FORMAT_NV12: i32 = 16;
const FORMAT_NV21: i32 = 17;
const FORMAT_I420: i32 = 18;

#[pyclass(frozen, subclass, module = "lmbatch._lmbatch", name = "_Pipeline")]
pub struct PyPipeline {
    /// `None` once closed.
    core: RwLock<Option<Arc<lmbatch::Pipeline>>>,
    pump: Pump,
}

fn invalid(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "InvalidArgument", &message.into(), None)
}

fn parse_backend(name: &str) -> Option<BackendChoice> {
    Some(match name.to_ascii_lowercase().as_str() {
        "auto" => BackendChoice::Auto,
        "cpu" | "tract" => BackendChoice::Cpu,
        "tensorrt" => BackendChoice::TensorRt,
        "onnxruntime" | "ort" => BackendChoice::OnnxRuntime,
        "openvino" => BackendChoice::OpenVino,
        _ => return None,
    })
}

fn parse_precision(name: &str) -> Option<Precision> {
    Some(match name.to_ascii_lowercase().as_str() {
        "default" => Precision::Default,
        "fp32" => Precision::Fp32,
        "reduced" => Precision::Reduced,
        _ => return None,
    })
}

/// Milliseconds as a Duration; negative, NaN or infinite values are refused by name.
fn millis(py: Python<'_>, what: &str, ms: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(ms / 1000.0)
        .map_err(|_| invalid(py, format!("{what} is {ms}; expected a finite value >= 0")))
}

/// A timeout in seconds (None: wait forever).
fn timeout(py: Python<'_>, seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s.min(1e9)))),
        Some(s) => Err(invalid(
            py,
            format!("timeout is {s}; expected seconds >= 0 or None"),
        )),
    }
}

fn face_box(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<FaceBox> {
    let [x1, y1, x2, y2]: [f32; 4] = value
        .extract()
        .map_err(|_| invalid(py, "box must be 4 numbers (x1, y1, x2, y2)"))?;
    Ok(FaceBox { x1, y1, x2, y2 })
}

fn face(
    py: Python<'_>,
    bbox: &Bound<'_, PyAny>,
    eyes: Option<&Bound<'_, PyAny>>,
    roll: Option<f32>,
) -> PyResult<Face> {
    let bbox = face_box(py, bbox)?;
    if let Some(eyes) = eyes {
        let (right, left): ([f32; 2], [f32; 2]) = eyes.extract().map_err(|_| {
            invalid(py, "eyes must be ((right_x, right_y), (left_x, left_y)): the subject's right eye first")
        })?;
        let mut face = Face::with_eyes(bbox, right, left);
        if let Some(roll) = roll {
            face.flags |= Face::ROLL;
            face.roll = roll;
        }
        return Ok(face);
    }
    Ok(match roll {
        Some(roll) => Face::with_roll(bbox, roll),
        None => Face::upright(bbox),
    })
}

/// The lm_pixel_format of a packed array given its channel count, `fmt` and whether its
/// channels are reversed in memory (read as the swapped order).
fn packed_format(channels: usize, fmt: Option<&str>, reversed: bool) -> Result<i32, String> {
    let fmt = fmt.map(str::to_ascii_lowercase);
    let named = match (channels, fmt.as_deref()) {
        (1, None | Some("gray")) => FORMAT_GRAY8,
        (3, None | Some("bgr")) => FORMAT_BGR8,
        (3, Some("rgb")) => FORMAT_RGB8,
        (4, None | Some("bgra")) => FORMAT_BGRA8,
        (4, Some("rgba")) => FORMAT_RGBA8,
        (_, Some(f)) if ["gray", "bgr", "rgb", "bgra", "rgba"].contains(&f) => {
            return Err(format!(
                "fmt {f:?} does not fit a frame of {channels} channel(s) ({})",
                if channels == 1 {
                    "a 2-D array is gray"
                } else {
                    "(H, W, 3): bgr|rgb, (H, W, 4): bgra|rgba"
                }
            ))
        }
        (_, Some(f)) => {
            return Err(format!(
                "fmt {f:?} is not one of bgr, rgb, bgra, rgba, gray"
            ))
        }
        (c, None) => return Err(format!("no pixel format has {c} channels")),
    };
    Ok(match (named, reversed) {
        (FORMAT_BGR8, true) => FORMAT_RGB8,
        (FORMAT_RGB8, true) => FORMAT_BGR8,
        (FORMAT_BGRA8, true) => FORMAT_RGBA8,
        (FORMAT_RGBA8, true) => FORMAT_BGRA8,
        (f, _) => f,
    })
}

impl PyPipeline {
    /// The open pipeline, or ShuttingDown once closed.
    fn core(&self, py: Python<'_>) -> PyResult<Arc<lmbatch::Pipeline>> {
        self.core
            .read()
            .clone()
            .ok_or_else(|| raise(py, "ShuttingDown", "the pipeline is closed", None))
    }

    /// Enqueues a frame of checked planes (`frame` without them) with the GIL released during
    /// the copy of strided planes and the crop.
    fn submit(
        &self,
        py: Python<'_>,
        core: &lmbatch::Pipeline,
        id: u64,
        frame: FrameRef<'static>,
        planes: &[Plane<'_>],
        face: Face,
    ) -> PyResult<()> {
        py.detach(|| {
            let bytes: Vec<_> = planes.iter().map(|p| p.bytes.read()).collect();
            let mut slices = [None; 4];
            let mut strides = [0usize; 4];
            for (i, (b, p)) in bytes.iter().zip(planes).enumerate() {
                slices[i] = Some(&b[..]);
                strides[i] = p.stride;
            }
            let frame = FrameRef {
                planes: slices,
                strides,
                ..frame
            };
            // Only a packed frame's single plane may be mirrored (YUV planes are packed first).
            let mirror = planes.first().map(|p| p.mirror).unwrap_or_default();
            core.enqueue_mirrored_frame(id, &frame, mirror, &face)
        })
        .map_err(|e| to_py(py, &e, Some(id)))
    }

    /// An input refused before the core saw it: counted in stats and logged like the core's own.
    fn refuse(
        &self,
        py: Python<'_>,
        core: &lmbatch::Pipeline,
        id: u64,
        call: &str,
        why: String,
    ) -> PyErr {
        let e = core.refuse_invalid(id, call, Error::invalid(why));
        to_py(py, &e, Some(id))
    }

    /// One popped state as Python: Landmarks, or the exception that names the state.
    fn answer(py: Python<'_>, id: u64, popped: Popped) -> PyResult<Landmarks> {
        let (class, message) = match popped {
            Popped::Landmarks(l) => return Landmarks::new(py, id, l),
            Popped::Failed(why) => ("InferenceFailed", why),
            Popped::Pending => ("Pending", format!("event id {id} is still pending")),
            Popped::Timeout => ("Timeout", format!("event id {id} did not finish in time")),
            Popped::NotFound => (
                "NotFound",
                format!("event id {id} is unknown or was already popped"),
            ),
            Popped::Expired => (
                "Expired",
                format!("the result of event id {id} expired unpopped"),
            ),
            Popped::Cancelled => ("Cancelled", format!("event id {id} was cancelled")),
            Popped::BufferTooSmall { num_points, .. } => (
                "Internal",
                format!(
                    "a pop without a point limit answered BufferTooSmall ({num_points} points)"
                ),
            ),
        };
        Err(raise(py, class, &message, Some(id)))
    }
}

/// The checked planes of a YUV frame (uint8, 2-D or interleaved pairs); whether their sizes fit
/// the frame is the core's check (it names the plane).
fn yuv_planes<'a>(
    arrays: &[(&'a Bound<'_, PyAny>, &str, &[usize])],
) -> Result<Vec<Plane<'a>>, String> {
    let mut planes = Vec::with_capacity(arrays.len());
    for (array, what, channels) in arrays {
        let g = geometry(array, what, channels)?;
        let p = plane(array, &g, false)?;
        if p.reversed {
            return Err(format!("{what}: reversed channels are not a YUV layout"));
        }
        planes.push(p);
    }
    Ok(planes)
}

#[pymethods]
impl PyPipeline {
    #[new]
    #[pyo3(signature = (
        backend = "auto", model = None, desc = None, max_batch = 32, max_wait_ms = 10.0,
        cpu_threads = None, precision = "default", queue_capacity = None, result_capacity = 4096,
        result_ttl_ms = Some(30000.0), drain_timeout_ms = 1000.0, device_id = 0,
        engine_cache_dir = None, opt_batch = None, self_check = true, chip_size = 0,
        chip_format = "rgb"
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        backend: &str,
        model: Option<PathBuf>,
        desc: Option<PathBuf>,
        max_batch: usize,
        max_wait_ms: f64,
        cpu_threads: Option<usize>,
        precision: &str,
        queue_capacity: Option<usize>,
        result_capacity: usize,
        result_ttl_ms: Option<f64>,
        drain_timeout_ms: f64,
        device_id: u32,
        engine_cache_dir: Option<PathBuf>,
        opt_batch: Option<usize>,
        self_check: bool,
        chip_size: u32,
        chip_format: &str,
    ) -> PyResult<Self> {
        let backend = parse_backend(backend).ok_or_else(|| {
            invalid(
                py,
                format!(
                    "backend {backend:?} is not one of auto, cpu (tract), tensorrt, onnxruntime, \
                     openvino"
                ),
            )
        })?;
        let precision = parse_precision(precision).ok_or_else(|| {
            invalid(
                py,
                format!("precision {precision:?} is not one of default, fp32, reduced"),
            )
        })?;
        let chip_format = match chip_format.to_ascii_lowercase().as_str() {
            "rgb" => ChipFormat::Rgb,
            "bgr" => ChipFormat::Bgr,
            _ => {
                return Err(invalid(
                    py,
                    format!("chip_format {chip_format:?} is not one of rgb, bgr"),
                ))
            }
        };
        let result_ttl = match result_ttl_ms {
            Some(ms) => Some(millis(py, "result_ttl_ms", ms)?),
            None => None,
        };
        let pump = Pump::start().map_err(|e| {
            raise(
                py,
                "Internal",
                &format!("cannot start the Python delivery thread: {e}"),
                None,
            )
        })?;
        let config = Config {
            model: model.map_or(ModelSource::Bundled, ModelSource::Path),
            backend,
            device_id,
            max_batch,
            queue_capacity,
            max_wait: millis(py, "max_wait_ms", max_wait_ms)?,
            result_capacity,
            result_ttl,
            drain_timeout: millis(py, "drain_timeout_ms", drain_timeout_ms)?,
            engine_cache_dir,
            opt_batch,
            self_check,
            cpu_threads: cpu_threads.filter(|&n| n > 0),
            model_desc: desc,
            precision,
            chip_size,
            chip_format,
            logger: pump.logger(),
            remote: None,
            on_ready: Some(pump.ready_callback()),
        };
        // Opening a model takes a while (and may log): without the GIL.
        let opened = py.detach(|| lmbatch::Pipeline::new(config));
        match opened {
            Ok(core) => Ok(PyPipeline {
                core: RwLock::new(Some(Arc::new(core))),
                pump,
            }),
            Err(e) => {
                py.detach(|| pump.stop(true));
                Err(to_py(py, &e, None))
            }
        }
    }

    /// Enqueues one face of a packed frame: `(H, W, 3|4)` or `(H, W)` (gray) uint8.
    #[pyo3(signature = (event_id, frame, r#box, *, eyes = None, roll = None, fmt = None))]
    // The arguments are the Python signature's.
    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &self,
        py: Python<'_>,
        event_id: u64,
        frame: &Bound<'_, PyAny>,
        r#box: &Bound<'_, PyAny>,
        eyes: Option<&Bound<'_, PyAny>>,
        roll: Option<f32>,
        fmt: Option<&str>,
    ) -> PyResult<()> {
        let core = self.core(py)?;
        let face = face(py, r#box, eyes, roll).map_err(|e| {
            let message = e.value(py).to_string();
            self.refuse(py, &core, event_id, "enqueue", message)
        })?;
        let checked = geometry(frame, "frame", &[3, 4]).and_then(|g| {
            let p = plane(frame, &g, true)?;
            let format = packed_format(p.channels, fmt, p.reversed)?;
            Ok((p, format))
        });
        let (p, format) =
            checked.map_err(|why| self.refuse(py, &core, event_id, "enqueue", why))?;
        let frame = FrameRef {
            format,
            width: p.cols as u32,
            height: p.rows as u32,
            ..FrameRef::default()
        };
        self.submit(py, &core, event_id, frame, &[p], face)
    }

    /// Enqueues one face of an NV12 (or NV21) frame: `y` `(H, W)`, `uv` `(ceil(H/2), ceil(W/2), 2)`
    /// or `(ceil(H/2), 2·ceil(W/2))`, both uint8.
    #[pyo3(signature = (event_id, y, uv, r#box, *, eyes = None, roll = None, nv21 = false,
                        color_matrix = 0, color_range = 0, chroma_location = 0))]
    #[allow(clippy::too_many_arguments)]
    fn enqueue_nv12(
        &self,
        py: Python<'_>,
        event_id: u64,
        y: &Bound<'_, PyAny>,
        uv: &Bound<'_, PyAny>,
        r#box: &Bound<'_, PyAny>,
        eyes: Option<&Bound<'_, PyAny>>,
        roll: Option<f32>,
        nv21: bool,
        color_matrix: i32,
        color_range: i32,
        chroma_location: i32,
    ) -> PyResult<()> {
        let core = self.core(py)?;
        let face = face(py, r#box, eyes, roll).map_err(|e| {
            let message = e.value(py).to_string();
            self.refuse(py, &core, event_id, "enqueue_nv12", message)
        })?;
        let planes = yuv_planes(&[(y, "y", &[]), (uv, "uv", &[2])])
            .map_err(|why| self.refuse(py, &core, event_id, "enqueue_nv12", why))?;
        let frame = FrameRef {
            format: if nv21 { FORMAT_NV21 } else { FORMAT_NV12 },
            width: planes[0].cols as u32,
            height: planes[0].rows as u32,
            color_matrix,
            color_range,
            chroma_location,
            ..FrameRef::default()
        };
        self.submit(py, &core, event_id, frame, &planes, face)
    }

    /// Enqueues one face of an I420 frame: `y` `(H, W)`, `u` and `v` `(ceil(H/2), ceil(W/2))`.
    #[pyo3(signature = (event_id, y, u, v, r#box, *, eyes = None, roll = None,
                        color_matrix = 0, color_range = 0, chroma_location = 0))]
    #[allow(clippy::too_many_arguments)]
    fn enqueue_i420(
        &self,
        py: Python<'_>,
        event_id: u64,
        y: &Bound<'_, PyAny>,
        u: &Bound<'_, PyAny>,
        v: &Bound<'_, PyAny>,
        r#box: &Bound<'_, PyAny>,
        eyes: Option<&Bound<'_, PyAny>>,
        roll: Option<f32>,
        color_matrix: i32,
        color_range: i32,
        chroma_location: i32,
    ) -> PyResult<()> {
        let core = self.core(py)?;
        let face = face(py, r#box, eyes, roll).map_err(|e| {
            let message = e.value(py).to_string();
            self.refuse(py, &core, event_id, "enqueue_i420", message)
        })?;
        let planes = yuv_planes(&[(y, "y", &[]), (u, "u", &[]), (v, "v", &[])])
            .map_err(|why| self.refuse(py, &core, event_id, "enqueue_i420", why))?;
        let frame = FrameRef {
            format: FORMAT_I420,
            width: planes[0].cols as u32,
            height: planes[0].rows as u32,
            color_matrix,
            color_range,
            chroma_location,
            ..FrameRef::default()
        };
        self.submit(py, &core, event_id, frame, &planes, face)
    }

    /// The final state of `event_id`, once; raises Pending while it runs.
    fn pop(&self, py: Python<'_>, event_id: u64) -> PyResult<Landmarks> {
        let core = self.core(py)?;
        Self::answer(py, event_id, core.pop(event_id))
    }

    /// As pop, waiting up to `timeout` seconds (None: forever); raises Timeout.
    #[pyo3(signature = (event_id, timeout = None))]
    fn pop_wait(&self, py: Python<'_>, event_id: u64, timeout: Option<f64>) -> PyResult<Landmarks> {
        let core = self.core(py)?;
        let deadline = self::timeout(py, timeout)?.map(|t| Instant::now() + t);
        loop {
            let slice = deadline.map_or(WAIT_SLICE, |d| {
                d.saturating_duration_since(Instant::now()).min(WAIT_SLICE)
            });
            let popped = py.detach(|| core.pop_wait(event_id, slice));
            let more = deadline.is_none_or(|d| Instant::now() < d);
            if !(matches!(popped, Popped::Timeout) && more) {
                return Self::answer(py, event_id, popped);
            }
            py.check_signals()?;
        }
    }

    /// The earliest-finished result of any id, waiting up to `timeout` seconds (None: forever);
    /// None when nothing finished in time. A failed or expired item raises with its event_id.
    #[pyo3(signature = (timeout = None))]
    fn pop_next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Landmarks>> {
        let core = self.core(py)?;
        let deadline = self::timeout(py, timeout)?.map(|t| Instant::now() + t);
        loop {
            let slice = deadline.map_or(WAIT_SLICE, |d| {
                d.saturating_duration_since(Instant::now()).min(WAIT_SLICE)
            });
            if let Some((id, popped)) = py.detach(|| core.pop_next(slice)) {
                return Self::answer(py, id, popped).map(Some);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }

    /// Cancels a live id; False when it is unknown, delivered or already cancelled.
    fn cancel(&self, py: Python<'_>, event_id: u64) -> PyResult<bool> {
        Ok(self.core(py)?.cancel(event_id))
    }

    fn stats(&self, py: Python<'_>) -> PyResult<Stats> {
        Ok(Stats::from(self.core(py)?.stats()))
    }

    fn model_info(&self, py: Python<'_>) -> PyResult<ModelInfo> {
        Ok(ModelInfo::from(self.core(py)?.model_info()))
    }

    #[getter]
    fn closed(&self) -> bool {
        self.core.read().is_none()
    }

    /// Stops intake, lets queued work finish for up to drain_timeout_ms, joins the worker and the
    /// delivery thread. Idempotent.
    fn close(&self, py: Python<'_>) {
        let core = self.core.write().take();
        py.detach(|| {
            if let Some(core) = core {
                core.close();
            }
            self.pump.stop(true);
        });
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }

    /// Registers `callback` to be scheduled on `event_loop` (call_soon_threadsafe) once
    /// `event_id` has a final state; for pop_async.
    fn _watch(
        &self,
        py: Python<'_>,
        event_id: u64,
        event_loop: Py<PyAny>,
        callback: Py<PyAny>,
    ) -> PyResult<u64> {
        self.core(py)?;
        Ok(self.pump.watch(event_id, event_loop, callback))
    }

    fn _unwatch(&self, event_id: u64, token: u64) {
        self.pump.unwatch(event_id, token);
    }
}

impl Drop for PyPipeline {
    /// A pipeline the garbage collector takes: the worker is closed (it never needs the GIL, which
    /// the destructor holds) and the delivery thread told to end without waiting for it.
    fn drop(&mut self) {
        if let Some(core) = self.core.get_mut().take() {
            core.close();
        }
        self.pump.stop(false);
    }
}
