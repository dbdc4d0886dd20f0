//! Soak: the real CPU backend at saturation for a while, with RSS and thread count sampled every
//! second; prints the samples and the drift between the first minute and the end.
//!
//!     cargo run --release --example soak -- [SECONDS=600] [PRODUCERS=4]
//!
//! Producers enqueue the bundled photo's face as fast as they are accepted (QUEUE_FULL counts as
//! backpressure), pop what they enqueued, and sometimes cancel or leave results to expire, so
//! every path of the result store keeps running.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lmbatch::{Config, FaceBox, Pipeline, Popped, RawFrame};

/// (VmRSS in KiB, threads) of this process.
fn sample() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(600);
    let producers = args.get(1).copied().unwrap_or(4);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let frame = Arc::new(std::fs::read(
        root.join("tests/data/faces/astronaut_rgb8_native.raw"),
    )?);
    let face = FaceBox {
        x1: 177.2828,
        y1: 80.559,
        x2: 271.8469,
        y2: 175.1234,
    };
    let pipeline = Arc::new(Pipeline::new(Config {
        result_capacity: 256,
        result_ttl: Some(Duration::from_millis(500)),
        ..Config::default()
    })?);
    println!(
        "soak: {seconds} s, {producers} producers, backend {}",
        pipeline.model_info().backend
    );
    let stop = Arc::new(AtomicBool::new(false));
    let popped = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let (pipeline, frame, stop, popped) = (
                pipeline.clone(),
                frame.clone(),
                stop.clone(),
                popped.clone(),
            );
            std::thread::spawn(move || {
                let raw = RawFrame {
                    data: Some(&frame),
                    width: 512,
                    height: 512,
                    stride: 1536,
                    format: 1,
                };
                let mut id = p << 48;
                while !stop.load(Ordering::Relaxed) {
                    id += 1;
                    if pipeline.enqueue(id, &raw, &face).is_err() {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                    match id % 16 {
                        0 => {
                            pipeline.cancel(id);
                        }
                        1 => {} // left to expire
                        _ => {
                            if let Popped::Landmarks(_) =
                                pipeline.pop_wait(id, Duration::from_secs(10))
                            {
                                popped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    let mut samples = Vec::new();
    println!(
        "{:>6} {:>10} {:>8} {:>10} {:>10}",
        "s", "RSS KiB", "threads", "popped", "faces/s"
    );
    let mut last_popped = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        let (rss, threads) = sample();
        let now = popped.load(Ordering::Relaxed);
        samples.push((rss, threads));
        let t = samples.len();
        if t <= 5 || t % 30 == 0 {
            println!(
                "{t:>6} {rss:>10} {threads:>8} {now:>10} {:>10}",
                now - last_popped
            );
        }
        last_popped = now;
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let s = pipeline.stats();
    let c = &s.counters;
    println!(
        "accepted {}, popped {}, expired {}, cancelled {}, failed {}, rejected full {}, batches {}",
        c.accepted, c.popped, c.expired, c.cancelled, c.failed, c.rejected_full, c.batches
    );
    let reconciles =
        c.accepted == c.queued + c.in_flight + c.ready + c.popped + c.expired + c.cancelled;
    drop(pipeline);
    let (rss_after, threads_after) = sample();
    let window = samples.len().min(60);
    let max_first = samples[..window].iter().map(|s| s.0).max().unwrap_or(0);
    let max_last = samples[samples.len() - window..]
        .iter()
        .map(|s| s.0)
        .max()
        .unwrap_or(0);
    println!(
        "RSS: max over the first {window} s {max_first} KiB, over the last {window} s {max_last} KiB, drift {:+} KiB",
        max_last as i64 - max_first as i64
    );
    println!(
        "threads: first {}, last {}, after destroy {threads_after} (RSS {rss_after} KiB); stats reconcile: {reconciles}",
        samples.first().map_or(0, |s| s.1),
        samples.last().map_or(0, |s| s.1)
    );
    Ok(())
}
