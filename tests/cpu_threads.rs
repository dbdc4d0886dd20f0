//! lm_config.cpu_threads (ABI 1.4): a CPU engine given one thread runs every batch on one thread
//! (tract, ONNX Runtime, OpenVINO).
//! Checked by CPU accounting, not by speed: over a run of full batches, the CPU time of every
//! thread but the test's own (which only enqueues and pops) cannot exceed the wall time by more
//! than scheduling noise when one thread does the work. The same run with two threads is printed
//! beside it, so the log shows the measurement can see a second thread.
#![cfg(feature = "cpu-tract")]

mod common;

use std::time::Instant;

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;

/// CPU seconds (user + system) from a /proc stat line: fields 14 and 15, in clock ticks.
fn cpu_seconds(stat_path: &str) -> f64 {
    let text = std::fs::read_to_string(stat_path).expect("procfs");
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let after = &text[text.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { sysconf(SC_CLK_TCK) }.max(1);
    ticks as f64 / hz as f64
}

extern "C" {
    fn sysconf(name: i32) -> i64;
}
/// _SC_CLK_TCK on Linux (glibc and musl).
const SC_CLK_TCK: i32 = 2;

/// Runs `batches` full batches of 32 faces on `backend` with `cpu_threads`; returns the CPU
/// seconds of the library's threads, the wall seconds, and the process's threads at the end
/// (the handle still open).
fn library_cpu_over_wall(backend: lm_backend, cpu_threads: u32, batches: u64) -> (f64, f64, usize) {
    let face = astronaut();
    let mut cfg = default_config();
    cfg.backend = backend as i32;
    cfg.cpu_threads = cpu_threads;
    cfg.max_batch = 32;
    cfg.queue_capacity = 64;
    cfg.max_wait_us = 1_000_000; // batches leave full, so an engine has 32 faces to split
    let (status, h, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let mut points = vec![0f32; 468 * 3];
    let (process0, own0, t0) = (
        cpu_seconds("/proc/self/stat"),
        cpu_seconds("/proc/thread-self/stat"),
        Instant::now(),
    );
    for b in 0..batches {
        for k in 0..32u64 {
            // SAFETY: live handle, valid frame and box.
            let st = unsafe { lm_enqueue(h, b * 32 + k, &face.image(), &face.lm_box()) };
            assert_eq!(st, LM_STATUS_OK);
        }
        for k in 0..32u64 {
            let mut out = landmarks_buf(&mut points);
            // SAFETY: live handle, buffer of 468 points.
            let st = unsafe { lm_pop_wait(h, b * 32 + k, 60_000, &mut out) };
            assert_eq!(st, LM_STATUS_OK);
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let process = cpu_seconds("/proc/self/stat") - process0;
    let own = cpu_seconds("/proc/thread-self/stat") - own0;
    let threads = thread_count();
    // SAFETY: live handle, no other call racing.
    unsafe { lm_destroy(h) };
    (process - own, wall, threads)
}

fn one_thread_means_one_thread(backend: lm_backend) {
    let (one_cpu, one_wall, one_threads) = library_cpu_over_wall(backend, 1, 6);
    let (two_cpu, two_wall, two_threads) = library_cpu_over_wall(backend, 2, 6);
    println!(
        "{backend:?}: cpu_threads 1: {one_cpu:.2} s CPU in {one_wall:.2} s ({:.2}x), \
         {one_threads} threads; cpu_threads 2: {two_cpu:.2} s CPU in {two_wall:.2} s ({:.2}x), \
         {two_threads} threads",
        one_cpu / one_wall,
        two_cpu / two_wall
    );
    // An engine with a thread pool (ONNX Runtime) keeps it while the handle lives: one thread
    // more for two threads than for one. OpenVINO runs one stream per thread up to two, each
    // with its own thread. (tract's slices are scoped threads per batch: their count is the unit
    // test of slice_bounds.)
    if backend == lm_backend::LM_BACKEND_ONNXRUNTIME || backend == lm_backend::LM_BACKEND_OPENVINO {
        assert_eq!(
            two_threads,
            one_threads + 1,
            "{backend:?}'s threads do not follow cpu_threads"
        );
    }
    // One thread cannot use more CPU than wall time; 10% and two clock ticks cover the
    // accounting's granularity and the idle library threads' wakeups.
    assert!(
        one_cpu <= one_wall * 1.10 + 0.02,
        "{backend:?} with cpu_threads = 1 used {one_cpu:.2} s of CPU in {one_wall:.2} s"
    );
}

/// One test function: the CPU accounting is per process, so nothing else of this binary may run
/// beside the measurement.
#[test]
fn cpu_threads_1_runs_every_batch_on_one_thread() {
    // 0 is "every core" and any count is accepted (the engines cap it at max_batch).
    for threads in [0u32, 3, 1000] {
        let mut cfg = default_config();
        cfg.backend = lm_backend::LM_BACKEND_CPU as i32;
        cfg.cpu_threads = threads;
        let (status, h, message) = create(&cfg);
        assert_eq!(status, LM_STATUS_OK, "cpu_threads {threads}: {message}");
        // SAFETY: live handle.
        unsafe { lm_destroy(h) };
    }
    one_thread_means_one_thread(lm_backend::LM_BACKEND_CPU);
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        one_thread_means_one_thread(lm_backend::LM_BACKEND_ONNXRUNTIME);
    } else {
        println!("ONNX Runtime skipped: ORT_DYLIB_PATH names no library (scripts/test.sh sets it)");
    }
    #[cfg(feature = "openvino")]
    if openvino_available() {
        one_thread_means_one_thread(lm_backend::LM_BACKEND_OPENVINO);
    }
}
