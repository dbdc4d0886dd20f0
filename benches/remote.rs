//! LM_BACKEND_REMOTE against a running Open Inference Protocol server (Triton from
//! scripts/triton-model-repo.sh or tests/remote_servers/pytriton_server.py):
//!
//! 1. raw: the backend's own overlapped start/finish on pre-staged uint8 batches of 32, two in
//!    flight: the same requests bench/remote_peer.py (Python tritonclient[grpc]) sends;
//! 2. pipeline: faces through the C-ABI-equivalent pipeline (crop + resize + batch + gRPC) from
//!    4 producers as fast as accepted;
//! 3. latency: one face alone, enqueue to pop, REMOTE vs the local ONNX Runtime backend (tract
//!    when ORT_DYLIB_PATH is unset).
//!
//! Client CPU time is this process's user + system time (/proc/self/stat) over the run.
//!
//!     cargo bench --bench remote -- --endpoints http://127.0.0.1:8001 [--seconds 10]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lmbatch::backend::remote::RemoteSettings;
use lmbatch::backend::{self, BackendChoice, ModelSource, OpenRequest};
use lmbatch::{BatchOutput, Config, FaceBox, Pipeline, Popped, RawFrame};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's CPU time (user + system) in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name).
    (ticks(11) + ticks(12)) / 100.0
}

fn settings(endpoints: &str) -> RemoteSettings {
    RemoteSettings::parse(Some(endpoints), None, None, 10_000, 2000, None, None)
        .expect("--endpoints")
}

fn raw(endpoints: &str, seconds: f64) {
    let request = OpenRequest {
        model: ModelSource::Bundled,
        max_batch: 32,
        device_id: 0,
        engine_cache_dir: None,
        opt_batch: None,
        self_check: false,
        cpu_threads: None,
        spec: lmbatch::model::ModelSpec::face_landmark_468(),
        precision: Default::default(),
        logger: Default::default(),
        remote: Some(settings(endpoints)),
        remote_counters: Default::default(),
    };
    let (mut backend, _) = backend::open(BackendChoice::Remote, &request).expect("remote");
    let mut seed = 1u32;
    let crops: Vec<Vec<u8>> = (0..32)
        .map(|_| {
            (0..192 * 192 * 3)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 24) as u8
                })
                .collect()
        })
        .collect();
    let views: Vec<&[u8]> = crops.iter().map(Vec::as_slice).collect();
    let ov = backend.overlapped().expect("REMOTE overlaps");
    let mut out = BatchOutput::default();
    for _ in 0..4 {
        ov.start(&views).expect("start");
        ov.finish(&mut out).expect("finish");
    }
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let mut faces = 0u64;
    ov.start(&views).expect("start");
    while t0.elapsed().as_secs_f64() < seconds {
        ov.start(&views).expect("start");
        ov.finish(&mut out).expect("finish");
        faces += 32;
    }
    ov.finish(&mut out).expect("finish");
    faces += 32;
    let (elapsed, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    println!(
        "lmbatch REMOTE raw -> {endpoints}: batch 32, 2 in flight: {:.1} faces/s, client CPU {:.1} us/face",
        faces as f64 / elapsed,
        cpu / faces as f64 * 1e6
    );
}

fn frame() -> (Vec<u8>, FaceBox) {
    let mut seed = 7u32;
    let pixels = (0..640 * 480 * 3)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 24) as u8
        })
        .collect();
    let face = FaceBox {
        x1: 220.0,
        y1: 140.0,
        x2: 420.0,
        y2: 340.0,
    };
    (pixels, face)
}

fn pipeline(endpoints: &str, seconds: f64) {
    let config = Config {
        backend: BackendChoice::Remote,
        remote: Some(settings(endpoints)),
        queue_capacity: Some(128),
        result_capacity: 1 << 16,
        ..Config::default()
    };
    let p = Arc::new(Pipeline::new(config).expect("remote pipeline"));
    let (pixels, face) = frame();
    let pixels = Arc::new(pixels);
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let (tx, rx) = crossbeam_channel::unbounded::<u64>();
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let (p, pixels, stop, next, tx) = (
                p.clone(),
                pixels.clone(),
                stop.clone(),
                next.clone(),
                tx.clone(),
            );
            std::thread::spawn(move || {
                let raw = RawFrame {
                    data: Some(&pixels),
                    width: 640,
                    height: 480,
                    stride: 640 * 3,
                    format: 0,
                };
                while !stop.load(Ordering::Relaxed) {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if p.enqueue(id, &raw, &face).is_ok() {
                        let _ = tx.send(id);
                    } else {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = {
        let p = p.clone();
        std::thread::spawn(move || {
            let mut ok = 0u64;
            for id in rx {
                if let Popped::Landmarks(_) = p.pop_wait(id, Duration::from_secs(30)) {
                    ok += 1;
                }
            }
            ok
        })
    };
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in producers {
        let _ = t.join();
    }
    let ok = consumer.join().unwrap_or(0);
    let (elapsed, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let (retries, failovers) = p.remote_stats();
    println!(
        "lmbatch REMOTE pipeline -> {endpoints}: 4 producers: {:.1} faces/s, client CPU {:.1} us/face (crop + resize included), retries {retries}, failovers {failovers}",
        ok as f64 / elapsed,
        cpu / ok.max(1) as f64 * 1e6
    );
}

fn latency(label: &str, config: Config) {
    let p = Pipeline::new(config).expect(label);
    let (pixels, face) = frame();
    let raw = RawFrame {
        data: Some(&pixels),
        width: 640,
        height: 480,
        stride: 640 * 3,
        format: 0,
    };
    let mut times = Vec::new();
    for id in 0..120u64 {
        let t0 = Instant::now();
        p.enqueue(id, &raw, &face).expect("enqueue");
        let popped = p.pop_wait(id, Duration::from_secs(30));
        assert!(matches!(popped, Popped::Landmarks(_)), "{popped:?}");
        if id >= 20 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "one face alone, {label} ({}): p50 {:.2} ms, p90 {:.2} ms over {} faces",
        p.model_info().backend,
        times[times.len() / 2],
        times[times.len() * 9 / 10],
        times.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let endpoints: String = arg(&args, "--endpoints", String::new());
    let seconds: f64 = arg(&args, "--seconds", 10.0);
    if endpoints.is_empty() {
        println!("remote bench: no --endpoints given; nothing to measure");
        return;
    }
    raw(&endpoints, seconds);
    pipeline(&endpoints, seconds);
    let quick = Config {
        max_wait: Duration::ZERO,
        ..Config::default()
    };
    latency(
        "REMOTE",
        Config {
            backend: BackendChoice::Remote,
            remote: Some(settings(&endpoints)),
            ..quick.clone()
        },
    );
    let local = if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        BackendChoice::OnnxRuntime
    } else {
        BackendChoice::Cpu
    };
    latency(
        "local",
        Config {
            backend: local,
            ..quick
        },
    );
}
