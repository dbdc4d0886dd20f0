//! The safe API: a pipeline owns the queue, the worker thread and the result store.
//!
//! ```no_run
//! use lmbatch::{Config, FaceBox, Pipeline, Popped, RawFrame};
//! use std::time::Duration;
//!
//! let pipeline = Pipeline::new(Config::default())?;
//! let pixels = vec![0u8; 640 * 480 * 3];
//! let frame = RawFrame { data: Some(&pixels), width: 640, height: 480, stride: 640 * 3, format: 0 };
//! let face = FaceBox { x1: 200.0, y1: 100.0, x2: 300.0, y2: 220.0 };
//! pipeline.enqueue(7, &frame, &face)?; // never blocks; QueueFull when the worker is behind
//! match pipeline.pop_wait(7, Duration::from_secs(1)) {
//!     Popped::Landmarks(l) => println!("{} points, score {}", l.points.len() / 3, l.face_score),
//!     other => println!("not ready: {other:?}"),
//! }
//! # Ok::<(), lmbatch::Error>(())
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::backend::remote::{RemoteCounters, RemoteSettings};
use crate::backend::{self, Backend, BackendChoice, ModelSource, OpenRequest, Precision};
use crate::batcher::{panic_message, ChipSettings, DrainDeadline, Job, Msg, Worker};
use crate::chip::{ChipFormat, ChipSource};
use crate::error::{Error, ErrorKind, Result};
use crate::golden::Golden;
use crate::image::{
    sample_crop, CropRect, CropScratch, Face, FaceBox, FaceCrop, Frame, FrameRef, FrameView,
    Mirror, PixelFormat, ResizeScratch,
};
use crate::log::{LogLevel, Logger};
use crate::model::ModelSpec;
use crate::ready::ReadyCallback;
use crate::results::{Popped, Refusal, ResultStore, Room, Stats};

/// Largest batch any backend is asked for.
pub const MAX_BATCH_LIMIT: usize = 32;

/// Everything `lm_config` carries, with the same defaults.
#[derive(Clone, Debug)]
pub struct Config {
    pub model: ModelSource,
    pub backend: BackendChoice,
    pub device_id: u32,
    /// 1..=32.
    pub max_batch: usize,
    /// Faces waiting for the worker; `None` = 3 × `max_batch`.
    pub queue_capacity: Option<usize>,
    /// Deadline of a batch, from its first item's enqueue.
    pub max_wait: Duration,
    /// Finished results waiting to be popped.
    pub result_capacity: usize,
    /// `None`: results never expire by age.
    pub result_ttl: Option<Duration>,
    /// How long destroy lets queued work finish; zero discards it.
    pub drain_timeout: Duration,
    pub engine_cache_dir: Option<PathBuf>,
    /// TensorRT's optimal batch size; `None`: `max_batch`.
    pub opt_batch: Option<usize>,
    /// Batch-invariance self-check of a GPU engine at create.
    pub self_check: bool,
    /// Threads a CPU engine may run one batch on (the worker included); `None`: every core. A VMS
    /// keeps cores for its decoders.
    pub cpu_threads: Option<usize>,
    /// The model's descriptor file; `None`: looked up beside the model, in its metadata, or the
    /// bundled one (see [`crate::descriptor::resolve`]).
    pub model_desc: Option<PathBuf>,
    pub precision: Precision,
    /// The aligned chip's side in px (0: none; 112 = ArcFace), at most [`crate::chip::MAX_CHIP_SIZE`].
    pub chip_size: u32,
    pub chip_format: ChipFormat,
    pub logger: Logger,
    /// The server(s) of `BackendChoice::Remote`.
    pub remote: Option<RemoteSettings>,
    /// Told once per final state as it becomes poppable (see [`ReadyCallback`]).
    pub on_ready: Option<ReadyCallback>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            model: ModelSource::Bundled,
            backend: BackendChoice::Auto,
            device_id: 0,
            max_batch: 32,
            queue_capacity: None,
            max_wait: Duration::from_micros(10_000),
            result_capacity: 4096,
            result_ttl: Some(Duration::from_millis(30_000)),
            drain_timeout: Duration::from_millis(1000),
            engine_cache_dir: None,
            opt_batch: None,
            self_check: true,
            cpu_threads: None,
            model_desc: None,
            precision: Precision::Default,
            chip_size: 0,
            chip_format: ChipFormat::Rgb,
            logger: Logger::default(),
            remote: None,
            on_ready: None,
        }
    }
}

impl Config {
    fn validate(&self) -> Result<usize> {
        if !(1..=MAX_BATCH_LIMIT).contains(&self.max_batch) {
            return Err(Error::invalid(format!(
                "max_batch {} is outside 1..=32",
                self.max_batch
            )));
        }
        if let Some(opt) = self.opt_batch {
            if !(1..=self.max_batch).contains(&opt) {
                return Err(Error::invalid(format!(
                    "opt_batch {opt} is outside 1..=max_batch ({})",
                    self.max_batch
                )));
            }
        }
        let queue_capacity = self.queue_capacity.unwrap_or(3 * self.max_batch);
        if queue_capacity == 0 {
            return Err(Error::invalid("queue_capacity must be at least 1"));
        }
        if self.result_capacity == 0 {
            return Err(Error::invalid("result_capacity must be at least 1"));
        }
        crate::chip::validate_chip_size(self.chip_size)?;
        Ok(queue_capacity)
    }
}

/// A frame as the caller describes it; validated by [`Pipeline::enqueue`].
#[derive(Clone, Copy, Debug)]
pub struct RawFrame<'a> {
    /// `None` stands for a NULL pointer from C.
    pub data: Option<&'a [u8]>,
    pub width: u32,
    pub height: u32,
    /// Bytes per row.
    pub stride: usize,
    /// An `lm_pixel_format` value.
    pub format: i32,
}

/// What `lm_get_model_info` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    pub backend: String,
    pub num_points: u32,
    pub input_width: u32,
    pub input_height: u32,
    pub max_batch: u32,
    /// Why AUTO did not pick TensorRT; empty if it did or was not asked.
    pub fallback_reason: String,
    /// 2 or 3: the model's point dimensions (2: z is 0).
    pub dims: u32,
    /// The point scheme: "mediapipe468", "mediapipe478", "five_point" or "custom".
    pub scheme: String,
    /// What runs (lm_precision): FP32, or BF16 on OpenVINO where REDUCED was asked and the CPU
    /// has it.
    pub precision: i32,
}

/// A landmark pipeline: enqueue faces from any thread, pop results by event id.
pub struct Pipeline {
    store: Arc<ResultStore>,
    tx: Sender<Msg>,
    queue_capacity: usize,
    /// Staging buffers the worker hands back, so steady enqueues reuse them.
    recycled: Receiver<Vec<u8>>,
    drain: Arc<DrainDeadline>,
    drain_timeout: Duration,
    worker: Mutex<Option<JoinHandle<()>>>,
    spec: ModelSpec,
    info: ModelInfo,
    logger: Logger,
    remote_counters: Arc<RemoteCounters>,
    /// Whether enqueue keeps the pixels of an aligned chip (`chip_size` > 0).
    keeps_chip: bool,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<ResizeScratch> = std::cell::RefCell::new(ResizeScratch::default());
    static FRAME_SCRATCH: std::cell::RefCell<CropScratch> = std::cell::RefCell::new(CropScratch::default());
}

impl Pipeline {
    /// Loads the model on a new worker thread and starts it.
    ///
    /// Errors: `InvalidArgument` for a bad config value, `ModelError` for a missing or unusable
    /// model, `BackendUnavailable` when an explicitly requested backend cannot run here.
    pub fn new(config: Config) -> Result<Pipeline> {
        let (spec, golden) = resolve_spec(&config)?;
        let request = OpenRequest {
            model: config.model.clone(),
            max_batch: config.max_batch,
            device_id: config.device_id,
            engine_cache_dir: config.engine_cache_dir.clone(),
            opt_batch: config.opt_batch,
            self_check: config.self_check,
            cpu_threads: config.cpu_threads,
            spec,
            precision: config.precision,
            logger: config.logger.clone(),
            remote: config.remote.clone(),
            remote_counters: Arc::default(),
        };
        let choice = config.backend;
        let counters = request.remote_counters.clone();
        let mut pipeline = Self::start(config, move || {
            let (mut backend, reason) = backend::open(choice, &request)?;
            // The descriptor's golden case, through the engine that will run the batches.
            if let Some(golden) = golden {
                let report = golden.verify(backend.as_mut())?;
                request.logger.log(
                    LogLevel::Info,
                    &format!(
                        "golden check passed on {}: worst point {} at {:.4} px (tolerance {} px)",
                        backend.name(),
                        report.worst_point,
                        report.worst_px,
                        report.tolerance_px
                    ),
                );
            }
            Ok((backend, reason))
        })?;
        pipeline.remote_counters = counters;
        Ok(pipeline)
    }

    /// Like [`new`](Self::new), with a backend of the caller's own (opened on the worker thread).
    pub fn with_backend<F>(config: Config, open: F) -> Result<Pipeline>
    where
        F: FnOnce() -> Result<Box<dyn Backend>> + Send + 'static,
    {
        Self::start(config, move || open().map(|b| (b, String::new())))
    }

    fn start<F>(config: Config, open: F) -> Result<Pipeline>
    where
        F: FnOnce() -> Result<(Box<dyn Backend>, String)> + Send + 'static,
    {
        let queue_capacity = config.validate()?;
        // One slot more than callers may fill, so the shutdown sentinel always fits.
        let (tx, rx) = crossbeam_channel::bounded(queue_capacity + 1);
        let (recycle_tx, recycled) = crossbeam_channel::bounded(queue_capacity + MAX_BATCH_LIMIT);
        let mut store = ResultStore::new(config.result_capacity, config.result_ttl);
        if config.on_ready.is_some() {
            store = store.with_notices();
        }
        let store = Arc::new(store);
        let ready = config.on_ready.clone();
        let drain = Arc::new(DrainDeadline::default());
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let (worker_store, worker_drain, logger) =
            (store.clone(), drain.clone(), config.logger.clone());
        let (max_batch, max_wait) = (config.max_batch, config.max_wait);
        let chip = (config.chip_size > 0).then_some(ChipSettings {
            size: config.chip_size,
            format: config.chip_format,
        });
        let handle = std::thread::Builder::new()
            .name("lmbatch-worker".into())
            .spawn(move || {
                // The backend is opened here: thread-bound resources (a CUDA context) stay on the
                // thread that uses them.
                let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(open))
                    .unwrap_or_else(|p| Err(Error::new(ErrorKind::Panic, panic_message(&*p))));
                let backend = match opened {
                    Ok((backend, reason)) => {
                        let info = ModelInfo {
                            backend: backend.name().to_string(),
                            num_points: backend.spec().num_points,
                            input_width: backend.spec().input_width,
                            input_height: backend.spec().input_height,
                            max_batch: backend.max_batch() as u32,
                            fallback_reason: reason,
                            dims: backend.spec().points.dims,
                            scheme: backend.spec().scheme.label().to_string(),
                            precision: backend.precision(),
                        };
                        let _ = ready_tx.send(Ok((info, backend.spec().clone())));
                        backend
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                Worker {
                    backend,
                    rx,
                    store: worker_store,
                    drain: worker_drain,
                    recycle: recycle_tx,
                    max_batch,
                    max_wait,
                    logger,
                    ready,
                    chip,
                }
                .run();
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("cannot start the worker thread: {e}"),
                )
            })?;
        let opened = ready_rx.recv().unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Internal,
                "the worker thread ended while opening the backend",
            ))
        });
        let (info, spec) = match opened {
            Ok(v) => v,
            Err(e) => {
                let _ = handle.join();
                return Err(e);
            }
        };
        if chip.is_some() && !spec.scheme.has_five_points() {
            let _ = tx.send(Msg::Shutdown);
            let _ = handle.join();
            return Err(Error::invalid(format!(
                "chip_size {} needs a model whose scheme names both eyes, the nose tip and both \
                 mouth corners; scheme {} does not",
                config.chip_size,
                spec.scheme.label()
            )));
        }
        config.logger.log(
            LogLevel::Info,
            &format!(
                "lmbatch ready: backend {}, max_batch {}, queue {queue_capacity}",
                info.backend, info.max_batch
            ),
        );
        Ok(Pipeline {
            store,
            tx,
            queue_capacity,
            recycled,
            drain,
            drain_timeout: config.drain_timeout,
            worker: Mutex::new(Some(handle)),
            spec,
            info,
            logger: config.logger,
            remote_counters: Arc::default(),
            keeps_chip: chip.is_some(),
        })
    }

    /// Threads waiting in `pop_wait` on `id` right now: for tests that must know a waiter is
    /// parked before they cancel (a sleep loses that race on a loaded machine).
    #[doc(hidden)]
    pub fn waiters(&self, id: u64) -> u32 {
        self.store.waiters(id)
    }

    pub fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    /// Validates the frame and box, crops and resizes the face into a staging buffer and queues it
    /// without blocking. The frame is not used after the call returns.
    ///
    /// Errors: `InvalidArgument` (bad frame or box; counted), `QueueFull` (nothing kept; counted),
    /// `DuplicateId` (the id is still live), `ShuttingDown`.
    pub fn enqueue(&self, id: u64, frame: &RawFrame<'_>, face: &FaceBox) -> Result<()> {
        let (view, crop) = match self.validate(frame, face) {
            Ok(v) => v,
            Err(e) => return Err(self.refuse_invalid(id, "lm_enqueue", e)),
        };
        self.submit(
            id,
            FaceCrop::from(crop),
            |pixels| {
                let size = self.spec.sample_size();
                SCRATCH.with(|s| {
                    let scratch = &mut s.borrow_mut();
                    crate::image::crop_resize(
                        &view,
                        &crop,
                        size.width,
                        size.height,
                        scratch,
                        pixels,
                    )
                })
            },
            || self.chip_source(&Frame::Packed(view), face, 0.0, Mirror::NONE),
        )
    }

    /// [`enqueue`](Self::enqueue) for any frame `lm_enqueue_frame` takes (packed, or YUV 4:2:0
    /// with its colorimetry) and a face that may carry eyes or a roll: the crop is turned by the
    /// face's angle, and crop, resize and colour conversion run in one pass over the output.
    ///
    /// Errors: as `enqueue`; `InvalidArgument` also for memory other than host, a NULL plane the
    /// format needs, a plane too short, overlapping planes, an odd stride of a 16-bit format,
    /// unknown format, colorimetry or flag values, and non-finite eyes or roll.
    pub fn enqueue_frame(&self, id: u64, frame: &FrameRef<'_>, face: &Face) -> Result<()> {
        self.enqueue_mirrored_frame(id, frame, Mirror::NONE, face)
    }

    /// [`enqueue_frame`](Self::enqueue_frame) for a packed frame whose memory holds the image
    /// mirrored: bottom-up rows (a negative row stride, a bottom-up bitmap) and/or right-to-left
    /// pixels. `frame` describes the memory as it lies (positive strides from its lowest
    /// address); `face` and every result are in the image's coordinates. Nothing is copied: the
    /// crop reads the mirrored square and mirrors its own output, so the model sees the image's
    /// crop (the same source points; a bilinear weight rounded the other way may move a level).
    ///
    /// Errors: as `enqueue_frame`; `InvalidArgument` for a mirrored YUV frame.
    pub fn enqueue_mirrored_frame(
        &self,
        id: u64,
        frame: &FrameRef<'_>,
        mirror: Mirror,
        face: &Face,
    ) -> Result<()> {
        let checked = Frame::new(frame).and_then(|f| {
            if !mirror.is_none() && matches!(f, Frame::Yuv(_)) {
                return Err(Error::invalid(format!(
                    "a mirrored frame ({mirror:?}) must be packed; YUV planes are read top-down"
                )));
            }
            let turned = FaceCrop::for_face(face, f.width(), f.height(), self.spec.crop_scale)?;
            // The model's descriptor may say crop.rotate = false: its crops stay upright (the
            // eyes and roll were still checked; the chip's pixels still follow them).
            let crop = match self.spec.rotate {
                true => turned,
                false => FaceCrop::rotated(turned.rect, 0.0),
            };
            Ok((f, crop, turned.theta))
        });
        let (frame, crop, theta) = match checked {
            Ok(v) => v,
            Err(e) => return Err(self.refuse_invalid(id, "lm_enqueue_frame", e)),
        };
        let read = crop.mirrored(frame.width(), frame.height(), mirror);
        self.submit(
            id,
            crop,
            |pixels| {
                let size = self.spec.sample_size();
                FRAME_SCRATCH
                    .with(|s| sample_crop(&frame, &read, size, &mut s.borrow_mut(), pixels));
                mirror.apply(pixels, size, 3);
            },
            || self.chip_source(&frame, &face.bbox, theta, mirror),
        )
    }

    /// Counts an input refused as invalid and says why at debug level (the status alone does not
    /// say what was wrong). For the C skin too, when it refuses a struct before the core sees it.
    pub fn refuse_invalid(&self, id: u64, call: &str, e: Error) -> Error {
        self.store.count_invalid();
        if self.logger.is_set() {
            self.logger.log(
                LogLevel::Debug,
                &format!("{call} of id {id} refused: {}", e.message()),
            );
        }
        e
    }

    /// What enqueue keeps for the aligned chip of a face turned by `theta`: nothing when the
    /// pipeline makes no chips (or for a box whose kept square would pass the crop size limit:
    /// that result then has no chip, `chip_side` 0).
    fn chip_source(
        &self,
        frame: &Frame<'_>,
        bbox: &FaceBox,
        theta: f64,
        mirror: Mirror,
    ) -> Option<Box<ChipSource>> {
        if !self.keeps_chip {
            return None;
        }
        let rect = ChipSource::region(bbox, theta, (frame.width(), frame.height())).ok()?;
        let kept = FRAME_SCRATCH
            .with(|s| ChipSource::capture_mirrored(frame, rect, mirror, &mut s.borrow_mut()));
        Some(Box::new(kept))
    }

    /// Admits a validated face: refuses it early under overload, stages its crop (`fill` writes
    /// the model input into a recycled buffer) and what the chip needs (`keep`), and queues it
    /// without blocking.
    fn submit(
        &self,
        id: u64,
        crop: FaceCrop,
        fill: impl FnOnce(&mut [u8]),
        keep: impl FnOnce() -> Option<Box<ChipSource>>,
    ) -> Result<()> {
        // Under overload most faces are refused: refuse them before paying for the crop (a
        // duplicate id or a closing pipeline is still named as such, as `admit` would).
        self.store.check_admissible(id).map_err(refusal_error(id))?;
        if self.tx.len() >= self.queue_capacity {
            self.store.count_full();
            return Err(Error::new(ErrorKind::QueueFull, "the queue is full"));
        }
        let mut pixels = self.recycled.try_recv().unwrap_or_default();
        pixels.resize(self.spec.crop_bytes(), 0);
        fill(&mut pixels);
        let chip_source = keep();
        let enqueued_at = Instant::now();
        let mut job = Some(Job {
            id,
            ticket: 0,
            crop,
            pixels,
            chip_source,
            enqueued_at,
        });
        let admitted = self.store.admit(id, |ticket| {
            if self.tx.len() >= self.queue_capacity {
                return false;
            }
            let Some(mut job) = job.take() else {
                return false;
            };
            job.ticket = ticket;
            self.tx.try_send(Msg::Item(job)).is_ok()
        });
        admitted.map(|_| ()).map_err(refusal_error(id))
    }

    fn validate<'a>(
        &self,
        frame: &RawFrame<'a>,
        face: &FaceBox,
    ) -> Result<(FrameView<'a>, CropRect)> {
        let data = frame
            .data
            .ok_or_else(|| Error::invalid("image data is NULL"))?;
        let format = PixelFormat::from_raw(frame.format)?;
        let view = FrameView::new(data, frame.width, frame.height, frame.stride, format)?;
        let crop = CropRect::for_box(face, frame.width, frame.height, self.spec.crop_scale)?;
        Ok((view, crop))
    }

    /// The final state of `id`, once: `Landmarks` or `Failed`; `Pending` while it runs; `Expired`
    /// once for an evicted result; `NotFound` otherwise.
    pub fn pop(&self, id: u64) -> Popped {
        self.store.pop(id, Room::ANY)
    }

    /// Like [`pop`](Self::pop), but waits up to `timeout` (then `Timeout`); `Cancelled` when the
    /// item is cancelled meanwhile. A zero timeout is `pop`.
    pub fn pop_wait(&self, id: u64, timeout: Duration) -> Popped {
        self.store.pop_wait(id, Room::ANY, timeout)
    }

    /// Pop for a caller whose buffers hold `room`: `BufferTooSmall` consumes nothing.
    pub fn pop_into(&self, id: u64, room: Room, timeout: Duration) -> Popped {
        self.store.pop_wait(id, room, timeout)
    }

    /// The earliest-finished final state not delivered yet, whatever its id: `Landmarks`,
    /// `Failed`, or `Expired` (an evicted result, once). Waits up to `timeout`; `None` when
    /// nothing came. Competes with [`pop`](Self::pop): each final state goes to one call.
    ///
    /// ```no_run
    /// # let pipeline = lmbatch::Pipeline::new(lmbatch::Config::default())?;
    /// use lmbatch::Popped;
    /// match pipeline.pop_next(std::time::Duration::from_millis(100)) {
    ///     Some((id, Popped::Landmarks(l))) => println!("{id}: score {}", l.face_score),
    ///     Some((id, other)) => println!("{id}: {other:?}"),
    ///     None => println!("nothing finished within 100 ms"),
    /// }
    /// # Ok::<(), lmbatch::Error>(())
    /// ```
    pub fn pop_next(&self, timeout: Duration) -> Option<(u64, Popped)> {
        self.store.pop_next(Room::ANY, timeout)
    }

    /// [`pop_next`](Self::pop_next) for a caller whose buffer holds `room`:
    /// `BufferTooSmall` (with the id) consumes nothing.
    pub fn pop_next_into(&self, room: Room, timeout: Duration) -> Option<(u64, Popped)> {
        self.store.pop_next(room, timeout)
    }

    /// Cancels a live id; false when it is unknown (or already delivered or cancelled).
    pub fn cancel(&self, id: u64) -> bool {
        self.store.cancel(id)
    }

    pub fn stats(&self) -> Stats {
        self.store.stats()
    }

    /// REMOTE's batches sent again to another endpoint, and switches of endpoint (both 0 for
    /// the other backends).
    pub fn remote_stats(&self) -> (u64, u64) {
        (
            self.remote_counters.retries(),
            self.remote_counters.failovers(),
        )
    }

    /// Stops intake, lets queued work finish for up to the drain timeout (the rest is cancelled),
    /// and joins the worker: no ready callback runs after it returns. Idempotent; `Drop` calls it.
    pub fn close(&self) {
        let Some(handle) = self.worker.lock().take() else {
            return;
        };
        self.store.close();
        self.drain.set(Instant::now() + self.drain_timeout);
        // Cannot be full: callers fill at most `queue_capacity` of its `queue_capacity + 1` slots,
        // and intake is closed.
        if self.tx.try_send(Msg::Shutdown).is_err() {
            self.logger
                .log(LogLevel::Error, "could not queue the shutdown sentinel");
        }
        if handle.join().is_err() {
            self.logger
                .log(LogLevel::Error, "the lmbatch worker thread panicked");
        }
    }
}

/// The error for a refused admission of `id`.
fn refusal_error(id: u64) -> impl Fn(Refusal) -> Error {
    move |refusal| match refusal {
        Refusal::QueueFull => Error::new(ErrorKind::QueueFull, "the queue is full"),
        Refusal::DuplicateId => Error::new(
            ErrorKind::DuplicateId,
            format!("event id {id} is still pending or unpopped"),
        ),
        Refusal::ShuttingDown => {
            Error::new(ErrorKind::ShuttingDown, "the pipeline is shutting down")
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.close();
    }
}

/// The model's spec from its descriptor, found in DESIGN's order, and its golden case when the
/// descriptor has one and self_check is on; MODEL_ERROR names what is missing or wrong. Runs
/// before any engine opens, so every backend sees the same conventions.
fn resolve_spec(config: &Config) -> Result<(ModelSpec, Option<Golden>)> {
    let desc = config.model_desc.as_deref();
    let found = match &config.model {
        ModelSource::Bundled => crate::descriptor::resolve(None, desc)?,
        ModelSource::Path(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                Error::new(
                    ErrorKind::ModelError,
                    format!("cannot read model {}: {e}", path.display()),
                )
            })?;
            crate::descriptor::resolve(Some((path, &bytes)), desc)?
        }
    };
    config.logger.log(
        LogLevel::Debug,
        &format!("model descriptor: {}", found.origin),
    );
    let spec = ModelSpec::from_descriptor(&found.descriptor)?;
    let golden = match &found.descriptor.check {
        Some(check) if config.self_check => {
            Some(Golden::load(check, found.folder.as_deref(), &found.origin)?)
        }
        _ => None,
    };
    Ok((spec, golden))
}
