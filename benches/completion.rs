//! Completion with 1,000 faces in flight (ABI 1.3), on the null backend (no model: the library's
//! own costs only):
//!
//! - the round trip of `lm_pop_next(h, 0, ...)` on a store holding ready results, against
//!   `lm_pop(h, id)` of a known id;
//! - the latency from the end of a batch's inference to (a) the ready callback for each of its
//!   faces, (b) a consumer thread's `lm_pop_next` returning it.
//!
//!     cargo bench --bench completion -- [--rounds 50] [--in-flight 1000] [--max-batch 32]
//!
//! Each face's id is painted into its (uniform, 8×8) frame, so the backend reads it back from
//! the crop and stamps the instant its batch ended.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lmbatch::backend::null::NullBackend;
use lmbatch::ffi::*;
use lmbatch::{Backend, BatchOutput, Config, ModelSpec, Pipeline, ReadyCallback};
use parking_lot::Mutex;

type Stamps = Arc<Mutex<HashMap<u32, Instant>>>;

/// The null backend, stamping when each face's batch ended.
struct Stamping {
    inner: NullBackend,
    stamps: Stamps,
}

impl Backend for Stamping {
    fn name(&self) -> &str {
        "null-stamping"
    }
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }
    fn spec(&self) -> &ModelSpec {
        self.inner.spec()
    }
    fn infer(&mut self, crops: &[&[u8]], out: &mut BatchOutput) -> lmbatch::Result<()> {
        self.inner.infer(crops, out)?;
        let end = Instant::now();
        let mut stamps = self.stamps.lock();
        for crop in crops {
            stamps.insert(id_of_crop(crop), end);
        }
        Ok(())
    }
}

fn id_of_crop(crop: &[u8]) -> u32 {
    u32::from(crop[0]) | u32::from(crop[1]) << 8 | u32::from(crop[2]) << 16
}

/// A uniform 8×8 RGB frame whose colour is `id` (24 bits).
fn frame_of(id: u32) -> Vec<u8> {
    [id as u8, (id >> 8) as u8, (id >> 16) as u8].repeat(64)
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentiles(mut v: Vec<u64>) -> (u64, u64, u64, usize) {
    v.sort_unstable();
    let at = |q: f64| {
        if v.is_empty() {
            0
        } else {
            v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
        }
    };
    (at(0.5), at(0.99), at(1.0), v.len())
}

#[derive(Clone, Copy)]
struct Shared(*mut lm_handle);
// SAFETY: the calls used here may run on many threads at once; destroy comes last.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

fn pipeline(
    max_batch: usize,
    in_flight: usize,
    stamps: &Stamps,
    ready: Option<ReadyCallback>,
) -> Shared {
    let stamps = stamps.clone();
    let config = Config {
        max_batch,
        queue_capacity: Some(in_flight + max_batch),
        max_wait: Duration::from_micros(200),
        result_capacity: 4 * in_flight,
        on_ready: ready,
        ..Config::default()
    };
    let p = Pipeline::with_backend(config, move || {
        Ok(Box::new(Stamping {
            inner: NullBackend::new(max_batch),
            stamps,
        }) as Box<dyn Backend>)
    })
    .expect("pipeline");
    Shared(handle_from_pipeline(p))
}

fn enqueue_round(h: Shared, round: u32, in_flight: u32) -> Vec<u32> {
    let bx = lm_box {
        x1: 2.0,
        y1: 2.0,
        x2: 6.0,
        y2: 6.0,
    };
    let mut ids = Vec::with_capacity(in_flight as usize);
    for i in 0..in_flight {
        let id = (round * in_flight + i) & 0xFF_FFFF;
        let frame = frame_of(id);
        let image = lm_image {
            data: frame.as_ptr(),
            width: 8,
            height: 8,
            stride: 24,
            format: lm_pixel_format::LM_PIXEL_FORMAT_RGB8 as i32,
        };
        // SAFETY: live handle; the frame outlives the call.
        let status = unsafe { lm_enqueue(h.0, u64::from(id), &image, &bx) };
        assert_eq!(status, lm_status::LM_STATUS_OK, "enqueue {id}");
        ids.push(id);
    }
    ids
}

fn stats(h: Shared) -> lm_stats {
    let mut s = lm_stats::sized();
    // SAFETY: live handle, writable struct.
    unsafe { lm_get_stats(h.0, &mut s) };
    s
}

fn wait_ready(h: Shared, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats(h).ready < n {
        assert!(Instant::now() < deadline, "results did not arrive");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: u32 = arg(&args, "--rounds", 50);
    let in_flight: u32 = arg(&args, "--in-flight", 1000);
    let max_batch: usize = arg(&args, "--max-batch", 32);
    let mut points = vec![0f32; 468 * 3];

    // 1. Round trips on a store holding `in_flight` ready results.
    let stamps = Stamps::default();
    let h = pipeline(max_batch, in_flight as usize, &stamps, None);
    let (mut next_ns, mut by_id_ns) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let ids = enqueue_round(h, round, in_flight);
        wait_ready(h, u64::from(in_flight));
        for (i, id) in ids.iter().enumerate() {
            let mut out = lm_landmarks::for_points(&mut points);
            let t0 = Instant::now();
            let status = if i % 2 == 0 {
                let mut got = 0u64;
                // SAFETY: live handle, valid pointers.
                let s = unsafe { lm_pop_next(h.0, 0, &mut got, &mut out) };
                next_ns.push(t0.elapsed().as_nanos() as u64);
                s
            } else {
                // SAFETY: live handle, valid buffer. (Its id may already be taken by
                // lm_pop_next, which answers in completion order: then NOT_FOUND.)
                let s = unsafe { lm_pop(h.0, u64::from(*id), &mut out) };
                by_id_ns.push(t0.elapsed().as_nanos() as u64);
                s
            };
            assert!(matches!(
                status,
                lm_status::LM_STATUS_OK | lm_status::LM_STATUS_NOT_FOUND
            ));
        }
        // Whatever lm_pop's misses left behind.
        let mut got = 0u64;
        let mut out = lm_landmarks::for_points(&mut points);
        // SAFETY: as above.
        while unsafe { lm_pop_next(h.0, 0, &mut got, &mut out) } == lm_status::LM_STATUS_OK {}
    }
    // SAFETY: nothing races the destroy.
    unsafe { lm_destroy(h.0) };

    // 2. Batch end -> ready callback.
    let stamps = Stamps::default();
    let callback_us = Arc::new(Mutex::new(Vec::new()));
    let announced = Arc::new(AtomicU64::new(0));
    let (samples, count, st) = (callback_us.clone(), announced.clone(), stamps.clone());
    let callback = ReadyCallback::new(move |id, _| {
        let now = Instant::now();
        if let Some(end) = st.lock().get(&(id as u32)) {
            samples
                .lock()
                .push(now.saturating_duration_since(*end).as_nanos() as u64);
        }
        count.fetch_add(1, Ordering::Relaxed);
    });
    let h = pipeline(max_batch, in_flight as usize, &stamps, Some(callback));
    for round in 0..rounds {
        enqueue_round(h, round, in_flight);
        let want = u64::from((round + 1) * in_flight);
        let deadline = Instant::now() + Duration::from_secs(30);
        while announced.load(Ordering::Relaxed) < want {
            assert!(Instant::now() < deadline, "callbacks did not arrive");
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut got = 0u64;
        let mut out = lm_landmarks::for_points(&mut points);
        // SAFETY: live handle, valid pointers.
        while unsafe { lm_pop_next(h.0, 0, &mut got, &mut out) } == lm_status::LM_STATUS_OK {}
    }
    let cb_stats = stats(h);
    // SAFETY: nothing races the destroy.
    unsafe { lm_destroy(h.0) };

    // 3. Batch end -> lm_pop_next returning in a consumer thread that waits in it.
    let stamps = Stamps::default();
    let h = pipeline(max_batch, in_flight as usize, &stamps, None);
    let total = u64::from(rounds * in_flight);
    let consumer = {
        let stamps = stamps.clone();
        std::thread::spawn(move || {
            let h = h;
            let mut points = vec![0f32; 468 * 3];
            let mut samples = Vec::new();
            let mut taken = 0u64;
            let mut empty_polls = 0u64;
            while taken < total {
                let mut got = 0u64;
                let mut out = lm_landmarks::for_points(&mut points);
                // SAFETY: live handle, valid pointers; joined before destroy.
                let status = unsafe { lm_pop_next(h.0, 100, &mut got, &mut out) };
                let now = Instant::now();
                match status {
                    lm_status::LM_STATUS_OK => {
                        taken += 1;
                        if let Some(end) = stamps.lock().get(&(got as u32)) {
                            samples.push(now.saturating_duration_since(*end).as_nanos() as u64);
                        }
                    }
                    lm_status::LM_STATUS_TIMEOUT => empty_polls += 1,
                    other => panic!("lm_pop_next: {other:?}"),
                }
            }
            (samples, empty_polls)
        })
    };
    for round in 0..rounds {
        enqueue_round(h, round, in_flight);
        let deadline = Instant::now() + Duration::from_secs(30);
        while stats(h).popped < u64::from((round + 1) * in_flight) {
            assert!(Instant::now() < deadline, "the consumer fell behind");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let (next_wake_ns, empty_polls) = consumer.join().expect("consumer");
    // SAFETY: the consumer is joined; nothing races the destroy.
    unsafe { lm_destroy(h.0) };

    let row = |name: &str, v: Vec<u64>| {
        let (p50, p99, max, n) = percentiles(v);
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {n} |",
            p50 as f64 / 1e3,
            p99 as f64 / 1e3,
            max as f64 / 1e3
        );
    };
    println!(
        "completion, null backend, {in_flight} faces in flight, max_batch {max_batch}, {rounds} rounds"
    );
    println!("| measure | p50 us | p99 us | max us | samples |");
    println!("|---|---:|---:|---:|---:|");
    row("lm_pop_next(timeout 0), results ready", next_ns);
    row("lm_pop(id), results ready", by_id_ns);
    row("batch end -> ready callback", callback_us.lock().clone());
    row("batch end -> waiting lm_pop_next returns", next_wake_ns);
    println!(
        "ready callbacks {} ({} us in them, max {} us); pop_next consumer: {empty_polls} empty 100 ms waits",
        cb_stats.ready_callbacks, cb_stats.ready_callback_us, cb_stats.ready_callback_max_us
    );
}
