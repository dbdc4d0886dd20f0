//! Destroy under load and in loops, through the C ABI. These checks count the process's threads,
//! so they run one after another inside ONE test (the harness's own test threads would blur the
//! counts), in a binary of their own.
#![cfg(feature = "cpu-tract")]

mod common;
#[cfg(feature = "remote")]
mod fake_oip;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;

/// The thread count with every process-wide resource already made: ONNX Runtime's environment
/// keeps one thread from the first ONNX Runtime handle to the end of the process (documented);
/// every other library thread must end with its handle.
fn baseline_threads() -> usize {
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        let mut cfg = default_config();
        cfg.backend = lm_backend::LM_BACKEND_ONNXRUNTIME as i32;
        let (status, h, message) = create(&cfg);
        assert_eq!(status, LM_STATUS_OK, "{message}");
        // SAFETY: live handle.
        unsafe { lm_destroy(h) };
    }
    thread_count()
}

/// The raw handle, shareable with producer threads (the C ABI allows concurrent enqueues).
#[derive(Clone, Copy)]
struct Shared(*mut lm_handle);
// SAFETY: lm_enqueue and lm_get_stats may be called from any number of threads at once.
unsafe impl Send for Shared {}

fn destroy_with_a_full_queue_from_four_producers_is_bounded_and_leaks_no_thread() {
    let threads_before = baseline_threads();
    let mut cfg = default_config();
    cfg.backend = lm_backend::LM_BACKEND_CPU as i32;
    // 16 batches queued: running them all takes far longer than the bound below (5x the drain
    // timeout plus a batch), so a destroy that ignores its drain timeout still shows.
    cfg.drain_timeout_ms = 100;
    cfg.queue_capacity = 16 * cfg.max_batch;
    let (status, h, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let shared = Shared(h);
    let face = Arc::new(astronaut());
    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..4u64)
        .map(|t| {
            let (face, stop) = (face.clone(), stop.clone());
            std::thread::spawn(move || {
                let h = shared;
                let (mut accepted, mut full, mut id) = (0u64, 0u64, t << 40);
                while !stop.load(Ordering::Relaxed) {
                    // SAFETY: the handle outlives the producers (joined before destroy).
                    match unsafe { lm_enqueue(h.0, id, &face.image(), &face.lm_box()) } {
                        LM_STATUS_OK => accepted += 1,
                        LM_STATUS_QUEUE_FULL => full += 1,
                        other => panic!("unexpected {other:?}"),
                    }
                    id += 1;
                }
                (accepted, full)
            })
        })
        .collect();
    // Run until the queue has overflowed for a while, then stop the producers (the contract:
    // destroy must not race other calls).
    let t0 = Instant::now();
    // At least two batches done, so the batch time below is a measured one.
    while (stats(h).rejected_full < 200 || stats(h).batches < 2)
        && t0.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let (mut accepted, mut full) = (0, 0);
    for p in producers {
        let (a, f) = p.join().unwrap();
        accepted += a;
        full += f;
    }
    let s = stats(h);
    assert_eq!(
        (s.accepted, s.rejected_full),
        (accepted, full),
        "every refusal was reported and counted"
    );
    assert!(full >= 200 && s.queued > 0, "{s:?}");
    assert!(c_reconciles(&s));
    let batch_us = s.infer_us_p99.max(1);
    let t0 = Instant::now();
    // SAFETY: live handle, no other call racing.
    unsafe { lm_destroy(h) };
    let took = t0.elapsed();
    let promised = Duration::from_millis(100) + Duration::from_micros(batch_us);
    let bound = promised * 5;
    println!(
        "destroy took {took:?} (promised {promised:?}, bound {bound:?}, batch p99 {batch_us} us)"
    );
    assert!(
        took <= bound,
        "destroy took {took:?}, more than drain timeout + a batch ({bound:?})"
    );
    assert_eq!(
        thread_count(),
        threads_before,
        "a library thread outlived lm_destroy"
    );
}

fn create_and_destroy_in_a_loop_leaves_no_thread_behind() {
    let threads_before = baseline_threads();
    let face = astronaut();
    for round in 0..20u64 {
        let h = cpu_handle(4, 0);
        if round % 2 == 0 {
            // With work queued and in flight at destroy.
            for id in 0..6 {
                // SAFETY: live handle, valid frame.
                let _ = unsafe { lm_enqueue(h, id, &face.image(), &face.lm_box()) };
            }
        }
        // SAFETY: live handle, no other call racing.
        unsafe { lm_destroy(h) };
        assert_eq!(thread_count(), threads_before, "round {round}");
    }
}

fn five_hundred_create_destroy_cycles_with_work_in_flight_leave_no_thread_behind() {
    let threads_before = baseline_threads();
    let frame = Gray::new();
    for round in 0..500u64 {
        let mut backend = FakeBackend::new(4);
        backend.sleep = std::time::Duration::from_micros(200 * (round % 5));
        let config = lmbatch::Config {
            max_batch: 4,
            max_wait: Duration::from_micros(100 * (round % 3)),
            drain_timeout: Duration::from_millis(round % 4),
            ..lmbatch::Config::default()
        };
        let pipeline = lmbatch::Pipeline::with_backend(config, move || {
            Ok(Box::new(backend) as Box<dyn lmbatch::Backend>)
        })
        .unwrap();
        let h = handle_from_pipeline(pipeline);
        for id in 0..(round % 9) {
            // SAFETY: live handle, valid frame.
            let _ = unsafe { lm_enqueue(h, id, &frame.image(), &center_box()) };
        }
        // SAFETY: live handle, no other call racing.
        unsafe { lm_destroy(h) };
    }
    assert_eq!(
        thread_count(),
        threads_before,
        "a library thread outlived lm_destroy"
    );
}

/// REMOTE: the handle's tokio runtime and connections end with lm_destroy, also when destroy
/// comes while the server hangs on a call.
#[cfg(feature = "remote")]
fn remote_create_and_destroy_leave_no_thread_behind() {
    // The fake server's own threads exist before the baseline is taken.
    let server = fake_oip::FakeServer::start(fake_oip::FakeModel::FirstByte);
    let threads_before = baseline_threads();
    let endpoints = std::ffi::CString::new(server.url()).unwrap();
    let frame = Gray::new();
    for round in 0..10u64 {
        server.set(|f| f.hang = round % 3 == 2);
        let mut cfg = default_config();
        cfg.backend = lm_backend::LM_BACKEND_REMOTE as i32;
        cfg.remote_endpoints = endpoints.as_ptr();
        cfg.remote_timeout_ms = 300;
        cfg.drain_timeout_ms = 100;
        cfg.max_batch = 4;
        let (status, h, message) = create(&cfg);
        assert_eq!(status, LM_STATUS_OK, "{message}");
        for id in 0..(round % 9) {
            // SAFETY: live handle, valid frame.
            let _ = unsafe { lm_enqueue(h, id, &frame.image(), &center_box()) };
        }
        let t0 = Instant::now();
        // SAFETY: live handle, no other call racing.
        unsafe { lm_destroy(h) };
        let took = t0.elapsed();
        // drain 100 ms + one request timeout 300 ms, 5x for a loaded machine: only a destroy
        // that waits on the hung server without a bound must show.
        println!("round {round}: destroy took {took:?}");
        assert!(
            took < Duration::from_millis(5 * 400),
            "round {round}: destroy took {took:?}"
        );
        assert_eq!(thread_count(), threads_before, "round {round}");
    }
}

#[test]
fn shutdown_scenarios() {
    #[cfg(feature = "remote")]
    remote_create_and_destroy_leave_no_thread_behind();
    destroy_with_a_full_queue_from_four_producers_is_bounded_and_leaks_no_thread();
    create_and_destroy_in_a_loop_leaves_no_thread_behind();
    five_hundred_create_destroy_cycles_with_work_in_flight_leave_no_thread_behind();
}
