//! End-to-end throughput and latency through the C ABI: P producer threads enqueue the evaluation
//! set's faces (all pixel formats, 36 to 550 px) at a fixed rate or as fast as they are accepted,
//! a consumer pops every accepted face; then the same backend's raw batched `infer` on full
//! batches, for the library's overhead.
//!
//!     cargo bench --bench e2e -- [--backend cpu|onnxruntime|auto] [--producers 4] [--seconds 20]
//!                                [--rate FACES_PER_S (0 = as fast as accepted)] [--max-wait-us 10000]
//!                                [--max-batch 32] [--max-faces N]
//!
//! `--backend null` runs no model (the library's own costs only); with `--max-faces 1000000` it is
//! the long memory run: RSS after the first 100,000 faces and after the last.
//!
//! The last line is one JSON object with the figures, for bench/compare.sh.

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend_name: String = arg(&args, "--backend", "cpu".to_string());
    let producers: u64 = arg(&args, "--producers", 4);
    let seconds: f64 = arg(&args, "--seconds", 20.0);
    let rate: f64 = arg(&args, "--rate", 0.0);
    let max_wait_us: u32 = arg(&args, "--max-wait-us", 10_000);
    let max_batch: u32 = arg(&args, "--max-batch", 32);
    let max_faces: u64 = arg(&args, "--max-faces", 0);
    // Faces that may wait for the worker; default 3 × max_batch (the library's default).
    let queue: u32 = arg(&args, "--queue", 0);
    // TensorRT: where plans are cached (so a second run, and trtexec, use the same plan).
    let cache_dir: String = arg(&args, "--cache-dir", String::new());
    let cache_dir_c = std::ffi::CString::new(cache_dir.clone()).expect("no NUL in --cache-dir");
    let null = backend_name == "null";
    let choice = match backend_name.as_str() {
        "cpu" | "tract" => BackendChoice::Cpu,
        "onnxruntime" => BackendChoice::OnnxRuntime,
        "tensorrt" => BackendChoice::TensorRt,
        _ => BackendChoice::Auto,
    };
    let faces = Arc::new(faces());

    let mut cfg = lm_config {
        struct_size: 0,
        model_path: std::ptr::null(),
        backend: 0,
        device_id: 0,
        max_batch: 0,
        queue_capacity: 0,
        max_wait_us: 0,
        result_capacity: 0,
        result_ttl_ms: 0,
        drain_timeout_ms: 0,
        engine_cache_dir: std::ptr::null(),
        log_fn: None,
        log_user: std::ptr::null_mut(),
        opt_batch: 0,
        self_check: 0,
    };
    // SAFETY: cfg is a writable lm_config.
    unsafe { lm_config_init(&mut cfg) };
    cfg.backend = choice as i32;
    if !cache_dir.is_empty() {
        cfg.engine_cache_dir = cache_dir_c.as_ptr();
    }
    cfg.max_wait_us = max_wait_us;
    cfg.max_batch = max_batch;
    cfg.queue_capacity = if queue > 0 { queue } else { 3 * max_batch };
    cfg.result_capacity = 1 << 16;
    let h = if null {
        let config = lmbatch::Config {
            max_batch: max_batch as usize,
            queue_capacity: Some(if queue > 0 { queue } else { 3 * max_batch } as usize),
            max_wait: Duration::from_micros(u64::from(max_wait_us)),
            result_capacity: 1 << 16,
            ..lmbatch::Config::default()
        };
        let pipeline = lmbatch::Pipeline::with_backend(config, move || {
            Ok(
                Box::new(lmbatch::backend::null::NullBackend::new(max_batch as usize))
                    as Box<dyn lmbatch::Backend>,
            )
        })
        .expect("pipeline");
        handle_from_pipeline(pipeline)
    } else {
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
    };
    let shared = Shared(h);
    let stop = Arc::new(AtomicBool::new(false));
    let rejected = Arc::new(AtomicU64::new(0));
    let (tx, rx) = crossbeam_channel::unbounded::<(u64, Instant)>();
    let accepted = Arc::new(AtomicU64::new(0));
    let rss_after_100k = Arc::new(AtomicU64::new(0));
    let rss_100k = rss_after_100k.clone();

    // The memory mode prints RSS every 100,000 faces: growth, not a step, is what drifts.
    let trace_rss = max_faces >= 200_000;
    // One consumer pops every accepted face, in order.
    let consumer = std::thread::spawn(move || {
        let h = shared;
        let mut points = vec![0f32; 468 * 3];
        let (mut total_us, mut queue_us, mut failed, mut popped) =
            (Vec::new(), Vec::new(), 0u64, 0u64);
        for (id, t0) in rx {
            let mut out = lm_landmarks {
                struct_size: std::mem::size_of::<lm_landmarks>(),
                points: points.as_mut_ptr(),
                capacity: 468,
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
            };
            // SAFETY: live handle and buffer.
            match unsafe { lm_pop_wait(h.0, id, 60_000, &mut out) } {
                lm_status::LM_STATUS_OK => {
                    popped += 1;
                    if total_us.len() < SAMPLE_CAP {
                        total_us.push(t0.elapsed().as_micros() as u64);
                        queue_us.push(out.queue_us);
                    }
                    if popped == 100_000 {
                        rss_100k.store(rss_kib(), Ordering::Relaxed);
                    }
                    if trace_rss && popped % 100_000 == 0 {
                        // SAFETY: lm_stats is plain data; live handle, writable struct.
                        let s = unsafe {
                            let mut s: lm_stats = std::mem::zeroed();
                            s.struct_size = std::mem::size_of::<lm_stats>();
                            lm_get_stats(h.0, &mut s);
                            s
                        };
                        println!(
                            "RSS after {popped} faces: {} KiB (waiting: {} queued, {} ready)",
                            rss_kib(),
                            s.queued,
                            s.ready
                        );
                    }
                }
                _ => failed += 1,
            }
        }
        (total_us, queue_us, failed, popped)
    });

    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
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
    let stats = {
        // SAFETY: lm_stats is plain data.
        let mut s: lm_stats = unsafe { std::mem::zeroed() };
        s.struct_size = std::mem::size_of::<lm_stats>();
        // SAFETY: live handle, writable struct.
        unsafe { lm_get_stats(h, &mut s) };
        s
    };
    let mut info: lm_model_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<lm_model_info>();
    // SAFETY: live handle, writable struct.
    unsafe { lm_get_model_info(h, &mut info) };
    // SAFETY: NUL-terminated.
    let backend_used = unsafe { std::ffi::CStr::from_ptr(info.backend.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    let rss_end = rss_kib();
    // SAFETY: live handle, all threads joined.
    unsafe { lm_destroy(h) };

    total_us.sort_unstable();
    queue_us.sort_unstable();
    enqueue_ns.sort_unstable();
    let done = popped as f64;
    let faces_per_s = done / elapsed;
    println!(
        "backend {backend_used}: {producers} producers, {:.1} s, rate {}",
        elapsed,
        if rate > 0.0 {
            format!("{rate} faces/s")
        } else {
            "as fast as accepted".into()
        }
    );
    println!(
        "faces/s {faces_per_s:.1}; popped {done}, failed {failed}, rejected queue-full {}",
        rejected.load(Ordering::Relaxed)
    );
    let hist: Vec<String> = (1..=32)
        .filter(|&n| stats.batch_size_hist[n] > 0)
        .map(|n| format!("{n}:{}", stats.batch_size_hist[n]))
        .collect();
    println!("batches {}: sizes {}", stats.batches, hist.join(" "));
    println!(
        "queue wait us p50 {} p99 {} p99.9 {}; total latency us p50 {} p99 {} p99.9 {}",
        percentile(&queue_us, 0.5),
        percentile(&queue_us, 0.99),
        percentile(&queue_us, 0.999),
        percentile(&total_us, 0.5),
        percentile(&total_us, 0.99),
        percentile(&total_us, 0.999)
    );
    println!(
        "lm_enqueue us p50 {:.1} p99 {:.1} (over {} calls); batch inference p50 {} us; peak RSS {} KiB",
        percentile(&enqueue_ns, 0.5) as f64 / 1e3, percentile(&enqueue_ns, 0.99) as f64 / 1e3, enqueue_ns.len(),
        stats.infer_us_p50, peak_rss_kib()
    );

    let rss_100k = rss_after_100k.load(Ordering::Relaxed);
    if rss_100k > 0 {
        println!(
            "RSS after 100,000 faces {rss_100k} KiB, after {done} faces {rss_end} KiB: drift {:+} KiB",
            rss_end as i64 - rss_100k as i64
        );
    }
    if null {
        return;
    }

    // The same backend alone, on full batches of the same faces: the library's ceiling.
    let request = OpenRequest {
        model: ModelSource::Bundled,
        max_batch: max_batch as usize,
        device_id: 0,
        engine_cache_dir: (!cache_dir.is_empty()).then(|| cache_dir.clone().into()),
        opt_batch: None,
        self_check: true,
        logger: Default::default(),
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
    while t0.elapsed() < Duration::from_secs_f64((seconds / 4.0).max(3.0)) {
        raw.infer(&batch, &mut out).expect("infer");
        runs += 1;
    }
    let raw_faces_per_s = (runs * batch.len()) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "raw {} infer on batches of {max_batch}: {raw_faces_per_s:.1} faces/s; end to end / raw = {:.3}",
        raw.name(),
        faces_per_s / raw_faces_per_s
    );
    println!(
        "{{\"name\": \"lmbatch-{backend_used} (max_batch {max_batch})\", \"faces_per_s\": {faces_per_s:.2}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"raw_faces_per_s\": {raw_faces_per_s:.2}, \"rejected\": {}, \"enqueue_us_p50\": {:.2}, \"enqueue_us_p99\": {:.2}, \"peak_rss_kib\": {}}}",
        percentile(&total_us, 0.5) as f64 / 1e3,
        percentile(&total_us, 0.99) as f64 / 1e3,
        rejected.load(Ordering::Relaxed),
        percentile(&enqueue_ns, 0.5) as f64 / 1e3,
        percentile(&enqueue_ns, 0.99) as f64 / 1e3,
        peak_rss_kib()
    );
}
