//! Shared helpers of the integration tests: the vendored evaluation set, a scriptable fake
//! backend, and small C ABI wrappers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use lmbatch::ffi::*;
use lmbatch::{Backend, BatchOutput, ModelSpec};
use parking_lot::Mutex;

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// One face of the evaluation set, with its frame.
#[derive(Clone, Debug)]
pub struct EvalFace {
    pub case: String,
    pub frame: Arc<Vec<u8>>,
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub format: i32,
    pub bbox: [f32; 4],
    pub reference: Vec<[f64; 3]>,
    pub inter_ocular: f64,
    pub face_score: f64,
}

pub fn format_code(name: &str) -> i32 {
    match name {
        "BGR8" => 0,
        "RGB8" => 1,
        "BGRA8" => 2,
        "RGBA8" => 3,
        "GRAY8" => 4,
        other => panic!("unknown format {other}"),
    }
}

pub fn eval_faces() -> Vec<EvalFace> {
    let dir = data_dir().join("faces");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let mut faces = Vec::new();
    for case in manifest["cases"].as_array().unwrap() {
        let frame = Arc::new(std::fs::read(dir.join(case["raw_file"].as_str().unwrap())).unwrap());
        for b in case["boxes"].as_array().unwrap() {
            let f = |v: &serde_json::Value| v.as_f64().unwrap();
            let bx = b["box"].as_array().unwrap();
            faces.push(EvalFace {
                case: case["name"].as_str().unwrap().to_string(),
                frame: frame.clone(),
                width: case["width"].as_u64().unwrap() as u32,
                height: case["height"].as_u64().unwrap() as u32,
                stride: case["stride_bytes"].as_u64().unwrap() as usize,
                format: format_code(case["pixel_format"].as_str().unwrap()),
                bbox: [
                    f(&bx[0]) as f32,
                    f(&bx[1]) as f32,
                    f(&bx[2]) as f32,
                    f(&bx[3]) as f32,
                ],
                reference: b["landmarks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let p = p.as_array().unwrap();
                        [f(&p[0]), f(&p[1]), f(&p[2])]
                    })
                    .collect(),
                inter_ocular: f(&b["inter_ocular"]),
                face_score: f(&b["face_score"]),
            });
        }
    }
    faces
}

impl EvalFace {
    pub fn image(&self) -> lm_image {
        lm_image {
            data: self.frame.as_ptr(),
            width: self.width,
            height: self.height,
            stride: self.stride,
            format: self.format,
        }
    }

    pub fn lm_box(&self) -> lm_box {
        lm_box {
            x1: self.bbox[0],
            y1: self.bbox[1],
            x2: self.bbox[2],
            y2: self.bbox[3],
        }
    }

    pub fn raw(&self) -> lmbatch::RawFrame<'_> {
        lmbatch::RawFrame {
            data: Some(&self.frame),
            width: self.width,
            height: self.height,
            stride: self.stride,
            format: self.format,
        }
    }

    pub fn face_box(&self) -> lmbatch::FaceBox {
        lmbatch::FaceBox {
            x1: self.bbox[0],
            y1: self.bbox[1],
            x2: self.bbox[2],
            y2: self.bbox[3],
        }
    }

    /// Mean 2-D point distance to the reference over the inter-ocular distance.
    pub fn nme(&self, points: &[f32]) -> f64 {
        let sum: f64 = points
            .chunks_exact(3)
            .zip(&self.reference)
            .map(|(p, r)| (f64::from(p[0]) - r[0]).hypot(f64::from(p[1]) - r[1]))
            .sum();
        sum / self.reference.len() as f64 / self.inter_ocular
    }

    /// [`nme`](Self::nme) against other points of this face (e.g. an FP32 run's) instead of the
    /// reference landmarks; the same inter-ocular normalisation.
    pub fn nme_against(&self, points: &[f32], reference: &[f32]) -> f64 {
        let sum: f64 = points
            .chunks_exact(3)
            .zip(reference.chunks_exact(3))
            .map(|(p, r)| f64::from(p[0] - r[0]).hypot(f64::from(p[1] - r[1])))
            .sum();
        sum / (points.len() / 3) as f64 / self.inter_ocular
    }
}

/// A uniform gray BGR frame with a box in the middle, for tests that do not look at the points.
pub struct Gray {
    pub pixels: Vec<u8>,
}

impl Gray {
    pub fn new() -> Self {
        Gray {
            pixels: vec![128; 64 * 64 * 3],
        }
    }

    pub fn image(&self) -> lm_image {
        lm_image {
            data: self.pixels.as_ptr(),
            width: 64,
            height: 64,
            stride: 64 * 3,
            format: 0,
        }
    }

    pub fn raw(&self) -> lmbatch::RawFrame<'_> {
        lmbatch::RawFrame {
            data: Some(&self.pixels),
            width: 64,
            height: 64,
            stride: 64 * 3,
            format: 0,
        }
    }
}

pub fn center_box() -> lm_box {
    lm_box {
        x1: 16.0,
        y1: 16.0,
        x2: 48.0,
        y2: 48.0,
    }
}

pub fn center_face() -> lmbatch::FaceBox {
    lmbatch::FaceBox {
        x1: 16.0,
        y1: 16.0,
        x2: 48.0,
        y2: 48.0,
    }
}

/// What the fake backend does with a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Fail,
    Panic,
    Nan,
}

/// A backend whose behaviour the test scripts: it records batch sizes, optionally waits for a
/// gate before each batch, sleeps, or fails in a chosen way. Points are all at the crop centre.
pub struct FakeBackend {
    spec: ModelSpec,
    max_batch: usize,
    pub sizes: Arc<Mutex<Vec<usize>>>,
    pub gate: Option<Receiver<()>>,
    pub entered: Option<Sender<usize>>,
    pub sleep: Duration,
    pub faults: Arc<Mutex<Vec<Fault>>>,
    /// Random faults: (generator, percent of batches that fail, panic or give NaN, max extra sleep).
    pub chaos: Option<(Rng, u64, Duration)>,
    /// Every k-th batch fails.
    pub fail_every: Option<usize>,
    /// Run as an overlapping backend (start/finish, like the GPU): `start` computes the batch
    /// and queues its output, `finish` hands out the oldest (after `finish_sleep`).
    pub overlap: bool,
    pub finish_sleep: Duration,
    /// Largest number of batches started and not yet finished, seen so far.
    pub max_in_flight: Arc<Mutex<usize>>,
    pending: std::collections::VecDeque<lmbatch::Result<BatchOutput>>,
    batches: usize,
}

impl FakeBackend {
    pub fn new(max_batch: usize) -> Self {
        let mut spec = ModelSpec::face_landmark_468();
        spec.num_points = 4;
        FakeBackend {
            spec,
            max_batch,
            sizes: Arc::default(),
            gate: None,
            entered: None,
            sleep: Duration::ZERO,
            faults: Arc::default(),
            chaos: None,
            fail_every: None,
            overlap: false,
            finish_sleep: Duration::ZERO,
            max_in_flight: Arc::default(),
            pending: Default::default(),
            batches: 0,
        }
    }
}

impl lmbatch::backend::Overlapped for FakeBackend {
    fn start(&mut self, crops: &[&[u8]]) -> lmbatch::Result<()> {
        let mut out = BatchOutput::default();
        let result = self.infer(crops, &mut out).map(|()| out);
        // A failure at start is reported at once; the worker never finishes such a batch.
        let result = result?;
        self.pending.push_back(Ok(result));
        // Recorded, not asserted: a panic here would be caught by the worker as a failed batch.
        let mut most = self.max_in_flight.lock();
        *most = (*most).max(self.pending.len());
        Ok(())
    }
    fn finish(&mut self, out: &mut BatchOutput) -> lmbatch::Result<()> {
        std::thread::sleep(self.finish_sleep);
        let done = self
            .pending
            .pop_front()
            .expect("the worker finishes only batches it started")?;
        *out = done;
        Ok(())
    }
}

impl Backend for FakeBackend {
    fn name(&self) -> &str {
        "fake"
    }
    fn max_batch(&self) -> usize {
        self.max_batch
    }
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    fn overlapped(&mut self) -> Option<&mut dyn lmbatch::backend::Overlapped> {
        if self.overlap {
            Some(self)
        } else {
            None
        }
    }
    fn infer(&mut self, crops: &[&[u8]], out: &mut BatchOutput) -> lmbatch::Result<()> {
        self.sizes.lock().push(crops.len());
        if let Some(tx) = &self.entered {
            let _ = tx.send(crops.len());
        }
        if let Some(gate) = &self.gate {
            let _ = gate.recv();
        }
        std::thread::sleep(self.sleep);
        self.batches += 1;
        let mut fault = {
            let mut f = self.faults.lock();
            if f.is_empty() {
                Fault::None
            } else {
                f.remove(0)
            }
        };
        if self
            .fail_every
            .is_some_and(|k| self.batches.is_multiple_of(k))
        {
            fault = Fault::Fail;
        }
        if let Some((rng, percent, max_sleep)) = &mut self.chaos {
            std::thread::sleep(max_sleep.mul_f32(rng.range_f32(0.0, 1.0)));
            if rng.below(100) < *percent {
                fault = [Fault::Fail, Fault::Panic, Fault::Nan][rng.below(3) as usize];
            }
        }
        match fault {
            Fault::Fail => {
                return Err(lmbatch::Error::new(
                    lmbatch::ErrorKind::InferenceFailed,
                    "scripted failure",
                ))
            }
            Fault::Panic => panic!("scripted panic"),
            _ => {}
        }
        let v = if fault == Fault::Nan { f32::NAN } else { 96.0 };
        out.points = vec![v; crops.len() * self.spec.point_floats()];
        out.scores = vec![0.75; crops.len()];
        Ok(())
    }
}

/// Counts the threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Log lines collected by [`collect_log`]: (level, message).
pub type LogSink = Mutex<Vec<(i32, String)>>;

/// An `lm_log_fn` that appends to the [`LogSink`] passed as `log_user`.
///
/// # Safety
/// `user` points to a live `LogSink`; `message` is a C string valid during the call.
pub unsafe extern "C" fn collect_log(
    level: i32,
    message: *const std::ffi::c_char,
    user: *mut std::ffi::c_void,
) {
    // SAFETY: the caller's promise: `user` is a live LogSink.
    let sink = unsafe { &*(user as *const LogSink) };
    // SAFETY: the caller's promise: `message` is a valid C string during the call.
    let text = unsafe { std::ffi::CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    sink.lock().push((level, text));
}

/// lm_landmarks over `points` with face_score -1 (a value lm_pop never writes).
pub fn landmarks_buf(points: &mut [f32]) -> lm_landmarks {
    lm_landmarks {
        face_score: -1.0,
        ..lm_landmarks::for_points(points)
    }
}

pub fn stats(h: *mut lm_handle) -> lm_stats {
    let mut s = lm_stats::sized();
    // SAFETY: h is a live handle and s a writable lm_stats.
    assert_eq!(unsafe { lm_get_stats(h, &mut s) }, lm_status::LM_STATUS_OK);
    s
}

pub fn reconciles(s: &lmbatch::Stats) -> bool {
    let c = &s.counters;
    c.accepted == c.queued + c.in_flight + c.ready + c.popped + c.expired + c.cancelled
}

pub fn c_reconciles(s: &lm_stats) -> bool {
    s.accepted == s.queued + s.in_flight + s.ready + s.popped + s.expired + s.cancelled
}

/// The defaults of lm_config_init_sized over the whole struct (what the header's lm_config_init
/// macro gives a C caller).
pub fn default_config() -> lm_config {
    let mut cfg = std::mem::MaybeUninit::<lm_config>::uninit();
    // SAFETY: lm_config_init_sized with the full size writes every field.
    unsafe {
        lm_config_init_sized(cfg.as_mut_ptr(), std::mem::size_of::<lm_config>());
        cfg.assume_init()
    }
}

/// lm_create with a message buffer; returns the status, the handle (NULL on failure), the message.
pub fn create(cfg: &lm_config) -> (lm_status, *mut lm_handle, String) {
    let mut h = std::ptr::null_mut();
    let mut buf = [0 as std::ffi::c_char; 512];
    // SAFETY: valid config, out pointer and buffer.
    let status = unsafe { lm_create(cfg, &mut h, buf.as_mut_ptr(), buf.len()) };
    // SAFETY: the library NUL-terminates the buffer (it starts zeroed).
    let message = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    (status, h, message)
}

/// A CPU handle with the given batch size and wait.
pub fn cpu_handle(max_batch: u32, max_wait_us: u32) -> *mut lm_handle {
    let mut cfg = default_config();
    cfg.backend = lm_backend::LM_BACKEND_CPU as i32;
    cfg.max_batch = max_batch;
    cfg.queue_capacity = 3 * max_batch;
    cfg.max_wait_us = max_wait_us;
    let (status, h, message) = create(&cfg);
    assert_eq!(status, lm_status::LM_STATUS_OK, "{message}");
    h
}

/// The astronaut face of the evaluation set.
pub fn astronaut() -> EvalFace {
    eval_faces()
        .into_iter()
        .find(|f| f.case == "astronaut_rgb8_native")
        .unwrap()
}

/// A small seeded generator (splitmix64), so a failing random run can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[lo, hi)`.
    pub fn range_f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// The seed of a randomised test: `LMBATCH_SEED` when set (to replay), else fresh; printed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("LMBATCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("{test}: seed {seed} (replay with LMBATCH_SEED={seed})");
    seed
}

/// The backends to run the conformance tests on: tract always; ONNX Runtime when
/// `ORT_DYLIB_PATH` names its library (then it must work); OpenVINO when `OPENVINO_LIB_PATH`
/// names its library (then it must work; absent, [`openvino_available`] says "skipped: no
/// OpenVINO", a failure under LMBATCH_REQUIRE_OPENVINO=1); TensorRT when
/// `LMBATCH_TEST_TENSORRT=1` (a GPU machine with TensorRT: `scripts/gpu-check.sh`).
pub fn cpu_backends() -> Vec<(i32, &'static str)> {
    let mut backends = vec![(lm_backend::LM_BACKEND_CPU as i32, "cpu-tract")];
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        backends.push((lm_backend::LM_BACKEND_ONNXRUNTIME as i32, "cpu-onnxruntime"));
    } else {
        println!("ORT_DYLIB_PATH is not set: the ONNX Runtime backend is not tested");
    }
    if openvino_available() {
        backends.push((lm_backend::LM_BACKEND_OPENVINO as i32, "cpu-openvino"));
    }
    if std::env::var("LMBATCH_TEST_TENSORRT").as_deref() == Ok("1") {
        backends.push((lm_backend::LM_BACKEND_TENSORRT as i32, "tensorrt"));
    }
    backends
}

/// Whether the OpenVINO tests run: `OPENVINO_LIB_PATH` names the library (scripts/test.sh sets
/// it to the PyPI wheel's). Without it they print "skipped: no OpenVINO" and pass, except under
/// `LMBATCH_REQUIRE_OPENVINO=1` (CI), where its absence fails the test.
pub fn openvino_available() -> bool {
    if std::env::var_os("OPENVINO_LIB_PATH").is_some_and(|v| !v.is_empty()) {
        return true;
    }
    assert!(
        std::env::var("LMBATCH_REQUIRE_OPENVINO").as_deref() != Ok("1"),
        "LMBATCH_REQUIRE_OPENVINO=1 but OPENVINO_LIB_PATH is not set (scripts/test.sh sets it)"
    );
    println!("skipped: no OpenVINO (OPENVINO_LIB_PATH is not set)");
    false
}

/// The landmarks of `id`, waited for up to two minutes (tract on a loaded machine); any other
/// final state fails the test, naming it.
pub fn popped(p: &lmbatch::Pipeline, id: u64) -> lmbatch::Landmarks {
    match p.pop_wait(id, Duration::from_secs(120)) {
        lmbatch::Popped::Landmarks(l) => l,
        other => panic!("id {id}: {other:?}"),
    }
}

/// The rotated set's manifest (tests/data/faces_rotated).
pub fn rotated_manifest() -> serde_json::Value {
    let path = data_dir().join("faces_rotated/manifest.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A frame of the rotated set turned from an evaluation-set frame whose single face it holds,
/// confidently and away from the source frame's edge (there the turned frame fills with grey
/// where the upright one repeats its edge, so the two differ by construction): the pairs the
/// metamorphic tests compare.
pub struct TurnedFace {
    pub name: String,
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: i32,
    pub bbox: [f32; 4],
    /// The set's true roll of the face in the turned frame, radians.
    pub truth_roll: f32,
    /// How far the frame was turned, degrees.
    pub rotation_deg: f64,
    /// The same face in the upright frame.
    pub upright: EvalFace,
}

impl TurnedFace {
    pub fn face_box(&self) -> lmbatch::FaceBox {
        let [x1, y1, x2, y2] = self.bbox;
        lmbatch::FaceBox { x1, y1, x2, y2 }
    }
}

pub fn turned_faces() -> Vec<TurnedFace> {
    let faces = eval_faces();
    let dir = data_dir().join("faces_rotated");
    rotated_manifest()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|case| {
            let boxes = case["boxes"].as_array().unwrap();
            let source = case["source_case"].as_str().unwrap();
            let upright: Vec<_> = faces.iter().filter(|f| f.case == source).collect();
            if boxes.len() != 1
                || upright.len() != 1
                || boxes[0]["low_confidence"].as_bool().unwrap()
                || source.contains("edge")
            {
                return None;
            }
            let b = &boxes[0];
            Some(TurnedFace {
                name: case["name"].as_str().unwrap().into(),
                pixels: std::fs::read(dir.join(case["raw_file"].as_str().unwrap())).unwrap(),
                width: case["width"].as_u64().unwrap() as u32,
                height: case["height"].as_u64().unwrap() as u32,
                format: format_code(case["pixel_format"].as_str().unwrap()),
                bbox: [0, 1, 2, 3].map(|i| b["box"][i].as_f64().unwrap() as f32),
                truth_roll: b["truth_roll_deg"].as_f64().unwrap().to_radians() as f32,
                rotation_deg: case["rotation_deg"].as_f64().unwrap(),
                upright: upright[0].clone(),
            })
        })
        .collect()
}
