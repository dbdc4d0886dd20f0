//! End-to-end throughput and latency through the C ABI: P producer threads enqueue the evaluation
//! set's faces (all pixel formats, 36 to 550 px) at a fixed rate or as fast as they are accepted,
//! a consumer pops every accepted face; then the same backend's raw batched `infer` on full
//! batches, for the library's overhead.
//!
//!     cargo bench --bench e2e -- [--backend cpu|onnxruntime|openvino|auto|remote]
//!                                [--endpoints URL[,URL]] [--precision fp32|reduced] [--threads N]
//!                                [--producers 4] [--seconds 20]
//!                                [--rate FACES_PER_S (0 = as fast as accepted)] [--max-wait-us 10000]
//!                                [--max-batch 32] [--max-faces N] [--consumer per-id|pop-next|both]
//!                                [--model FILE.onnx [--desc FILE.lmbatch.toml]]
//!
//! `--model` runs a described model (its sidecar descriptor, or `--desc`) instead of the bundled
//! one, end to end only (the raw-infer ceiling is the bundled model's).
//!
//! `--consumer` picks how the one consumer thread takes results: `per-id` (default) waits in
//! `lm_pop_wait` for each accepted id in turn; `pop-next` loops on `lm_pop_next` (ABI 1.3), whatever
//! the id, in completion order; `both` runs the two one after the other with the same settings and
//! prints them side by side.
//!
//! `--backend null` runs no model (the library's own costs only); with `--max-faces 1000000` it is
//! the long memory run: RSS after the first 100,000 faces and after the last.
//!
//! The last line is one JSON object with the figures, for bench/compare.sh.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lmbatch::backend::{self, BackendChoice, ModelSource, OpenRequest};
use lmbatch::ffi::*;
use lmbatch::BatchOutput;

struct Face {
    frame: Arc<Vec<u8>>,
    image: (u32, u32, usize, i32),
    bbox: lm_box,
}

fn faces() -> Vec<Face> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/faces");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    let mut out = Vec::new();
    for case in manifest["cases"].as_array().expect("cases") {
        let frame = Arc::new(
            std::fs::read(dir.join(case["raw_file"].as_str().expect("raw"))).expect("raw file"),
        );
        let format = match case["pixel_format"].as_str().expect("format") {
            "BGR8" => 0,
            "RGB8" => 1,
            "BGRA8" => 2,
            "RGBA8" => 3,
            _ => 4,
        };
        let n = |v: &serde_json::Value| v.as_u64().expect("number");
        for b in case["boxes"].as_array().expect("boxes") {
            let v: Vec<f32> = b["box"]
                .as_array()
                .expect("box")
                .iter()
                .map(|x| x.as_f64().expect("f") as f32)
                .collect();
            out.push(Face {
                frame: frame.clone(),
                image: (
                    n(&case["width"]) as u32,
                    n(&case["height"]) as u32,
                    n(&case["stride_bytes"]) as usize,
                    format,
                ),
                bbox: lm_box {
                    x1: v[0],
                    y1: v[1],
                    x2: v[2],
                    y2: v[3],
                },
            });
        }
    }
    out
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Latency samples kept (the first ones), so that a long memory run measures the library, not
/// this program's sample vectors.
const SAMPLE_CAP: usize = 100_000;

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

#[derive(Clone, Copy)]
struct Shared(*mut lm_handle);
// SAFETY: enqueue, pop and stats may be called from many threads at once; destroy comes last.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

/// How the consumer thread takes results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Completion {
    /// `lm_pop_wait` on each accepted id, in enqueue order.
    PerId,
    /// `lm_pop_next` in a loop: whatever finished first.
    PopNext,
}

impl Completion {
    fn name(self) -> &'static str {
        match self {
            Completion::PerId => "per-id lm_pop_wait",
            Completion::PopNext => "one lm_pop_next consumer",
        }
    }
}

struct Opts {
    choice: BackendChoice,
    null: bool,
    producers: u64,
    seconds: f64,
    rate: f64,
    max_wait_us: u32,
    max_batch: u32,
    max_faces: u64,
    queue: u32,
    cache_dir: String,
    /// REMOTE: the servers' gRPC endpoints, "http://host:port[,http://host2:port]".
    endpoints: String,
    /// lm_config.precision (lm_precision).
    precision: i32,
    /// lm_config.cpu_threads (0: every core).
    cpu_threads: u32,
    /// A described model instead of the bundled one, and its descriptor (empty: none given).
    model: String,
    desc: String,
}

/// Points the pop buffers hold: enough for the shipped models (468, 478).
const MAX_POINTS: usize = 478;

/// What one end-to-end run measured.
struct Run {
    backend_used: String,
    elapsed: f64,
    popped: u64,
    failed: u64,
    rejected: u64,
    stats: lm_stats,
    total_us: Vec<u64>,
    queue_us: Vec<u64>,
    enqueue_ns: Vec<u64>,
    rss_100k: u64,
    rss_end: u64,
    /// CPU seconds of the whole process during the run.
    cpu_s: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend_name: String = arg(&args, "--backend", "cpu".to_string());
    let opts = Opts {
        null: backend_name == "null",
        choice: match backend_name.as_str() {
            "cpu" | "tract" => BackendChoice::Cpu,
            "onnxruntime" => BackendChoice::OnnxRuntime,
            "openvino" => BackendChoice::OpenVino,
            "tensorrt" => BackendChoice::TensorRt,
            "remote" => BackendChoice::Remote,
            _ => BackendChoice::Auto,
        },
        producers: arg(&args, "--producers", 4),
        seconds: arg(&args, "--seconds", 20.0),
        rate: arg(&args, "--rate", 0.0),
        max_wait_us: arg(&args, "--max-wait-us", 10_000),
        max_batch: arg(&args, "--max-batch", 32),
        max_faces: arg(&args, "--max-faces", 0),
        // Faces that may wait for the worker; default 3 × max_batch (the library's default).
        queue: arg(&args, "--queue", 0),
        // TensorRT: where plans are cached (so a second run, and trtexec, use the same plan).
        cache_dir: arg(&args, "--cache-dir", String::new()),
        endpoints: arg(&args, "--endpoints", String::new()),
        precision: match arg(&args, "--precision", "default".to_string()).as_str() {
            "fp32" => lm_precision::LM_PRECISION_FP32 as i32,
            "reduced" => lm_precision::LM_PRECISION_REDUCED as i32,
            _ => lm_precision::LM_PRECISION_DEFAULT as i32,
        },
        cpu_threads: arg(&args, "--threads", 0),
        model: arg(&args, "--model", String::new()),
        desc: arg(&args, "--desc", String::new()),
    };
    let modes: Vec<Completion> = match arg(&args, "--consumer", "per-id".to_string()).as_str() {
        "pop-next" => vec![Completion::PopNext],
        "both" => vec![Completion::PerId, Completion::PopNext],
        _ => vec![Completion::PerId],
    };
    let faces = Arc::new(faces());
    let runs: Vec<(Completion, Run)> = modes
        .iter()
        .map(|&mode| {
            let run = run(&opts, &faces, mode);
            report(&opts, &run, mode);
            (mode, run)
        })
        .collect();
    if runs.len() > 1 {
        println!("| consumer | faces/s | total latency p50 us | p99 us | p99.9 us | failed |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (mode, r) in &runs {
            println!(
                "| {} | {:.1} | {} | {} | {} | {} |",
                mode.name(),
                r.popped as f64 / r.elapsed,
                percentile(&r.total_us, 0.5),
                percentile(&r.total_us, 0.99),
                percentile(&r.total_us, 0.999),
                r.failed
            );
        }
    }
    if opts.null || !opts.model.is_empty() {
        return;
    }
    let (_, first) = &runs[0];
    let faces_per_s = first.popped as f64 / first.elapsed;
    raw_and_summary(&opts, &faces, first, faces_per_s);
}

/// Opens a handle for the options (the null backend through the Rust API).
fn open(o: &Opts) -> *mut lm_handle {
    let queue = if o.queue > 0 {
        o.queue
    } else {
        3 * o.max_batch
    };
    if o.null {
        let max_batch = o.max_batch as usize;
        let config = lmbatch::Config {
            max_batch,
            queue_capacity: Some(queue as usize),
            max_wait: Duration::from_micros(u64::from(o.max_wait_us)),
            result_capacity: 1 << 16,
            ..lmbatch::Config::default()
        };
        let pipeline = lmbatch::Pipeline::with_backend(config, move || {
            Ok(
                Box::new(lmbatch::backend::null::NullBackend::new(max_batch))
                    as Box<dyn lmbatch::Backend>,
            )
        })
        .expect("pipeline");
        return handle_from_pipeline(pipeline);
    }
    let cache_dir_c = std::ffi::CString::new(o.cache_dir.clone()).expect("no NUL in --cache-dir");
    let mut cfg = lm_config::with_defaults();
    cfg.backend = o.choice as i32;
    let endpoints_c = std::ffi::CString::new(o.endpoints.clone()).expect("no NUL in --endpoints");
    if o.choice == BackendChoice::Remote {
        cfg.remote_endpoints = endpoints_c.as_ptr();
    }
    if !o.cache_dir.is_empty() {
        cfg.engine_cache_dir = cache_dir_c.as_ptr();
    }
    let model_c = std::ffi::CString::new(o.model.clone()).expect("no NUL in --model");
    let desc_c = std::ffi::CString::new(o.desc.clone()).expect("no NUL in --desc");
    if !o.model.is_empty() {
        cfg.model_path = model_c.as_ptr();
    }
    if !o.desc.is_empty() {
        cfg.model_desc_path = desc_c.as_ptr();
    }
    cfg.max_wait_us = o.max_wait_us;
    cfg.precision = o.precision;
    cfg.cpu_threads = o.cpu_threads;
    cfg.max_batch = o.max_batch;
    cfg.queue_capacity = queue;
    cfg.result_capacity = 1 << 16;
    let mut h = std::ptr::null_mut();
    let mut err = [0 as std::ffi::c_char; 512];
    // SAFETY: valid pointers.
    let status = unsafe { lm_create(&cfg, &mut h, err.as_mut_ptr(), err.len()) };
    if status != lm_status::LM_STATUS_OK {
        // SAFETY: NUL-terminated by the library.
        eprintln!(
            "lm_create: {status:?}: {}",
            unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) }.to_string_lossy()
        );
        std::process::exit(1);
    }
    h
}

/// What the consumer measured: (total latencies, queue waits, failed, popped).
type Consumed = (Vec<u64>, Vec<u64>, u64, u64);

/// The per-id consumer: lm_pop_wait on each accepted id, in order.
fn consume_per_id(
    h: Shared,
    rx: crossbeam_channel::Receiver<(u64, Instant)>,
    mut on_popped: impl FnMut(u64),
) -> Consumed {
    let mut points = vec![0f32; MAX_POINTS * 3];
    let (mut total_us, mut queue_us, mut failed, mut popped) = (Vec::new(), Vec::new(), 0u64, 0u64);
    for (id, t0) in rx {
        let mut out = lm_landmarks::for_points(&mut points);
        // SAFETY: live handle and buffer.
        match unsafe { lm_pop_wait(h.0, id, 60_000, &mut out) } {
            lm_status::LM_STATUS_OK => {
                popped += 1;
                if total_us.len() < SAMPLE_CAP {
                    total_us.push(t0.elapsed().as_micros() as u64);
                    queue_us.push(out.queue_us);
                }
                on_popped(popped);
            }
            _ => failed += 1,
        }
    }
    (total_us, queue_us, failed, popped)
}

/// The completion-queue consumer: lm_pop_next in a loop, matching each id with its enqueue time
/// (which may reach this thread after the result does).
fn consume_pop_next(
    h: Shared,
    rx: crossbeam_channel::Receiver<(u64, Instant)>,
    mut on_popped: impl FnMut(u64),
) -> Consumed {
    let mut points = vec![0f32; MAX_POINTS * 3];
    let (mut total_us, mut queue_us, mut failed, mut popped) = (Vec::new(), Vec::new(), 0u64, 0u64);
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    // Results whose enqueue record has not arrived yet: id -> (done, ok, queue_us).
    let mut early: HashMap<u64, (Instant, bool, u64)> = HashMap::new();
    let mut producers_done = false;
    loop {
        loop {
            match rx.try_recv() {
                Ok((id, t0)) => {
                    if let Some((done, ok, q)) = early.remove(&id) {
                        if ok && total_us.len() < SAMPLE_CAP {
                            total_us.push(done.saturating_duration_since(t0).as_micros() as u64);
                            queue_us.push(q);
                        }
                    } else {
                        sent.insert(id, t0);
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    producers_done = true;
                    break;
                }
            }
        }
        if producers_done && sent.is_empty() {
            break;
        }
        let mut out = lm_landmarks::for_points(&mut points);
        let mut id = 0u64;
        // SAFETY: live handle, valid pointers; joined before destroy.
        let status = unsafe { lm_pop_next(h.0, 20, &mut id, &mut out) };
        let done = Instant::now();
        let ok = match status {
            lm_status::LM_STATUS_TIMEOUT => continue,
            lm_status::LM_STATUS_OK => {
                popped += 1;
                on_popped(popped);
                true
            }
            _ => {
                failed += 1;
                false
            }
        };
        match sent.remove(&id) {
            Some(t0) => {
                if ok && total_us.len() < SAMPLE_CAP {
                    total_us.push(done.saturating_duration_since(t0).as_micros() as u64);
                    queue_us.push(out.queue_us);
                }
            }
            None => {
                early.insert(id, (done, ok, out.queue_us));
            }
        }
    }
    (total_us, queue_us, failed, popped)
}

/// One end-to-end run: producers enqueue, one consumer takes every accepted face.
fn run(o: &Opts, faces: &Arc<Vec<Face>>, mode: Completion) -> Run {
    let h = open(o);
    let (producers, rate, max_faces) = (o.producers, o.rate, o.max_faces);
    let shared = Shared(h);
    let stop = Arc::new(AtomicBool::new(false));
    let rejected = Arc::new(AtomicU64::new(0));
    let (tx, rx) = crossbeam_channel::unbounded::<(u64, Instant)>();
    let accepted = Arc::new(AtomicU64::new(0));
    let rss_after_100k = Arc::new(AtomicU64::new(0));
    let rss_100k = rss_after_100k.clone();

    // The memory mode prints RSS every 100,000 faces: growth, not a step, is what drifts.
    let trace_rss = max_faces >= 200_000;
    let on_popped = move |popped: u64| {
        let h = shared; // the whole wrapper, not its raw pointer field
        if popped == 100_000 {
            rss_100k.store(rss_kib(), Ordering::Relaxed);
        }
        if trace_rss && popped.is_multiple_of(100_000) {
            let mut s = lm_stats::sized();
            // SAFETY: live handle, writable struct.
            unsafe { lm_get_stats(h.0, &mut s) };
            println!(
                "RSS after {popped} faces: {} KiB (waiting: {} queued, {} ready)",
                rss_kib(),
                s.queued,
                s.ready
            );
        }
    };
    // One consumer takes every accepted face.
    let consumer = std::thread::spawn(move || match mode {
        Completion::PerId => consume_per_id(shared, rx, on_popped),
        Completion::PopNext => consume_pop_next(shared, rx, on_popped),
    });

    let start = Instant::now();
    let cpu_start = process_cpu_s();
    let deadline = start + Duration::from_secs_f64(o.seconds);
    let threads: Vec<_> = (0..producers)
        .map(|p| {
            let (faces, stop, rejected, tx) =
                (faces.clone(), stop.clone(), rejected.clone(), tx.clone());
            let accepted = accepted.clone();
            std::thread::spawn(move || {
                let h = shared;
                let period = if rate > 0.0 {
                    Some(Duration::from_secs_f64(producers as f64 / rate))
                } else {
                    None
                };
                let mut next = Instant::now();
                let mut id = p << 40;
                let mut enqueue_ns = Vec::new();
                while !stop.load(Ordering::Relaxed)
                    && Instant::now() < deadline
                    && (max_faces == 0 || accepted.load(Ordering::Relaxed) < max_faces)
                {
                    if let Some(period) = period {
                        next += period;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    let f = &faces[(id % faces.len() as u64) as usize];
                    let (w, hh, stride, format) = f.image;
                    let image = lm_image {
                        data: f.frame.as_ptr(),
                        width: w,
                        height: hh,
                        stride,
                        format,
                    };
                    let t0 = Instant::now();
                    // SAFETY: live handle; the frame outlives the call.
                    let status = unsafe { lm_enqueue(h.0, id, &image, &f.bbox) };
                    if enqueue_ns.len() < SAMPLE_CAP / producers as usize {
                        enqueue_ns.push(t0.elapsed().as_nanos() as u64);
                    }
                    match status {
                        lm_status::LM_STATUS_OK => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            let _ = tx.send((id, t0));
                        }
                        lm_status::LM_STATUS_QUEUE_FULL => {
                            rejected.fetch_add(1, Ordering::Relaxed);
                            if period.is_none() {
                                std::thread::sleep(Duration::from_micros(500));
                            }
                        }
                        other => panic!("enqueue: {other:?}"),
                    }
                    id += 1;
                }
                enqueue_ns
            })
        })
        .collect();
    drop(tx);
    let mut enqueue_ns: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("producer"))
        .collect();
    stop.store(true, Ordering::Relaxed);
    let (mut total_us, mut queue_us, failed, popped) = consumer.join().expect("consumer");
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_s = process_cpu_s() - cpu_start;
    let mut stats = lm_stats::sized();
    // SAFETY: live handle, writable struct.
    unsafe { lm_get_stats(h, &mut stats) };
    // SAFETY: lm_model_info is plain data.
    let mut info: lm_model_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<lm_model_info>();
    // SAFETY: live handle, writable struct.
    unsafe { lm_get_model_info(h, &mut info) };
    // SAFETY: NUL-terminated.
    let mut backend_used = unsafe { std::ffi::CStr::from_ptr(info.backend.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    if info.precision == lm_precision::LM_PRECISION_BF16 as i32 {
        backend_used.push_str(" BF16");
    }
    let rss_end = rss_kib();
    // SAFETY: live handle, all threads joined.
    unsafe { lm_destroy(h) };
    total_us.sort_unstable();
    queue_us.sort_unstable();
    enqueue_ns.sort_unstable();
    Run {
        backend_used,
        elapsed,
        popped,
        failed,
        rejected: rejected.load(Ordering::Relaxed),
        stats,
        total_us,
        queue_us,
        enqueue_ns,
        rss_100k: rss_after_100k.load(Ordering::Relaxed),
        rss_end,
        cpu_s,
    }
}

/// CPU seconds (user + system) of every thread of the process so far, those that ended too
/// (/proc/self/stat's utime and stime, in USER_HZ ticks: 100 a second on Linux).
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(14) + ticks(15)) as f64 / 100.0
}

fn report(o: &Opts, r: &Run, mode: Completion) {
    let done = r.popped as f64;
    let faces_per_s = done / r.elapsed;
    println!(
        "backend {}: {} producers, {:.1} s, rate {}, consumer: {}",
        r.backend_used,
        o.producers,
        r.elapsed,
        if o.rate > 0.0 {
            format!("{} faces/s", o.rate)
        } else {
            "as fast as accepted".into()
        },
        mode.name()
    );
    println!(
        "faces/s {faces_per_s:.1}; popped {done}, failed {}, rejected queue-full {}",
        r.failed, r.rejected
    );
    // What the process spent per face, every thread: noisy neighbours change faces/s far more.
    println!(
        "cpu ms per face {:.3} ({:.1} CPU s over {:.1} s)",
        r.cpu_s * 1e3 / done.max(1.0),
        r.cpu_s,
        r.elapsed
    );
    let hist: Vec<String> = (1..=32)
        .filter(|&n| r.stats.batch_size_hist[n] > 0)
        .map(|n| format!("{n}:{}", r.stats.batch_size_hist[n]))
        .collect();
    println!("batches {}: sizes {}", r.stats.batches, hist.join(" "));
    println!(
        "queue wait us p50 {} p99 {} p99.9 {}; total latency us p50 {} p99 {} p99.9 {}",
        percentile(&r.queue_us, 0.5),
        percentile(&r.queue_us, 0.99),
        percentile(&r.queue_us, 0.999),
        percentile(&r.total_us, 0.5),
        percentile(&r.total_us, 0.99),
        percentile(&r.total_us, 0.999)
    );
    println!(
        "lm_enqueue us p50 {:.1} p99 {:.1} (over {} calls); batch inference p50 {} us; peak RSS {} KiB",
        percentile(&r.enqueue_ns, 0.5) as f64 / 1e3, percentile(&r.enqueue_ns, 0.99) as f64 / 1e3, r.enqueue_ns.len(),
        r.stats.infer_us_p50, peak_rss_kib()
    );
    if r.rss_100k > 0 {
        println!(
            "RSS after 100,000 faces {} KiB, after {done} faces {} KiB: drift {:+} KiB",
            r.rss_100k,
            r.rss_end,
            r.rss_end as i64 - r.rss_100k as i64
        );
    }
}

/// The same backend alone, on full batches of the same faces: the library's ceiling; then the
/// JSON line for bench/compare.sh.
fn raw_and_summary(o: &Opts, faces: &[Face], first: &Run, faces_per_s: f64) {
    let (max_batch, cache_dir, seconds, choice) = (o.max_batch, &o.cache_dir, o.seconds, o.choice);
    let backend_used = &first.backend_used;
    let request = OpenRequest {
        model: ModelSource::Bundled,
        max_batch: max_batch as usize,
        device_id: 0,
        engine_cache_dir: (!cache_dir.is_empty()).then(|| cache_dir.clone().into()),
        opt_batch: None,
        self_check: true,
        cpu_threads: (o.cpu_threads > 0).then_some(o.cpu_threads as usize),
        spec: lmbatch::model::ModelSpec::face_landmark_468(),
        precision: lmbatch::backend::Precision::from_raw(o.precision).expect("--precision"),
        logger: Default::default(),
        remote: (choice == BackendChoice::Remote).then(|| {
            lmbatch::backend::remote::RemoteSettings::parse(
                Some(&o.endpoints),
                None,
                None,
                0,
                0,
                None,
                None,
            )
            .expect("--endpoints")
        }),
        remote_counters: Default::default(),
    };
    let (mut raw, _) = backend::open(choice, &request).expect("backend");
    let spec = raw.spec().clone();
    let crops: Vec<Vec<u8>> = faces
        .iter()
        .map(|f| {
            let (w, hh, stride, format) = f.image;
            let view = lmbatch::image::FrameView::new(
                &f.frame,
                w,
                hh,
                stride,
                lmbatch::image::PixelFormat::from_raw(format).expect("fmt"),
            )
            .expect("view");
            let face = lmbatch::FaceBox {
                x1: f.bbox.x1,
                y1: f.bbox.y1,
                x2: f.bbox.x2,
                y2: f.bbox.y2,
            };
            let crop =
                lmbatch::image::CropRect::for_box(&face, w, hh, spec.crop_scale).expect("crop");
            let mut out = vec![0u8; spec.crop_bytes()];
            lmbatch::image::crop_resize(&view, &crop, 192, 192, &mut Default::default(), &mut out);
            out
        })
        .collect();
    let batch: Vec<&[u8]> = (0..max_batch as usize)
        .map(|i| crops[i % crops.len()].as_slice())
        .collect();
    let mut out = BatchOutput::default();
    raw.infer(&batch, &mut out).expect("warm-up");
    let t0 = Instant::now();
    let mut runs = 0;
    let budget = Duration::from_secs_f64((seconds / 4.0).max(3.0));
    if let Some(overlapped) = raw.overlapped() {
        // As the worker drives it: two batches in flight.
        overlapped.start(&batch).expect("start");
        while t0.elapsed() < budget {
            overlapped.start(&batch).expect("start");
            overlapped.finish(&mut out).expect("finish");
            runs += 1;
        }
        overlapped.finish(&mut out).expect("finish");
        runs += 1;
    } else {
        while t0.elapsed() < budget {
            raw.infer(&batch, &mut out).expect("infer");
            runs += 1;
        }
    }
    let raw_faces_per_s = (runs * batch.len()) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "raw {} infer on batches of {max_batch}: {raw_faces_per_s:.1} faces/s; end to end / raw = {:.3}",
        raw.name(),
        faces_per_s / raw_faces_per_s
    );
    println!(
        "{{\"name\": \"lmbatch-{backend_used} (max_batch {max_batch})\", \"faces_per_s\": {faces_per_s:.2}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"raw_faces_per_s\": {raw_faces_per_s:.2}, \"rejected\": {}, \"enqueue_us_p50\": {:.2}, \"enqueue_us_p99\": {:.2}, \"peak_rss_kib\": {}}}",
        percentile(&first.total_us, 0.5) as f64 / 1e3,
        percentile(&first.total_us, 0.99) as f64 / 1e3,
        first.rejected,
        percentile(&first.enqueue_ns, 0.5) as f64 / 1e3,
        percentile(&first.enqueue_ns, 0.99) as f64 / 1e3,
        peak_rss_kib()
    );
}
