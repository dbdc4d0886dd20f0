//! LM_BACKEND_OPENVINO through the C ABI: what it reports, AUTO's choice, precision, the model
//! cache, bad models, no thread left behind, and clear refusals when the library is absent or
//! lacks its CPU plugin. The accuracy, batch-invariance and described-model suites run on it
//! through `common::cpu_backends()`.
//!
//! One test function: the thread counts are per process, so nothing else of this binary may run
//! beside them. A library that cannot be swapped once loaded (OpenVINO is loaded once per
//! process) is tried in a child process: this binary again, with LMBATCH_OPENVINO_CHILD set.
#![cfg(feature = "openvino")]

mod common;

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;

const CHILD_ENV: &str = "LMBATCH_OPENVINO_CHILD";

fn info(h: *mut lm_handle) -> (String, String, i32) {
    // SAFETY: lm_model_info is plain data.
    let mut info: lm_model_info = unsafe { std::mem::zeroed() };
    info.struct_size = size_of::<lm_model_info>();
    // SAFETY: live handle, writable struct.
    assert_eq!(unsafe { lm_get_model_info(h, &mut info) }, LM_STATUS_OK);
    // SAFETY: the library NUL-terminates both strings.
    let text = |s: &[std::ffi::c_char]| {
        unsafe { CStr::from_ptr(s.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    (
        text(&info.backend),
        text(&info.fallback_reason),
        info.precision,
    )
}

/// Every eval face through `h`, in one burst; the points of each.
fn run_eval(h: *mut lm_handle, faces: &[EvalFace]) -> Vec<Vec<f32>> {
    for (i, face) in faces.iter().enumerate() {
        // SAFETY: live handle; the frame outlives the call.
        let st = unsafe { lm_enqueue(h, i as u64, &face.image(), &face.lm_box()) };
        assert_eq!(st, LM_STATUS_OK);
    }
    (0..faces.len())
        .map(|i| {
            let mut points = vec![0f32; 468 * 3];
            let mut out = landmarks_buf(&mut points);
            // SAFETY: live handle; `out` holds 468 points.
            let st = unsafe { lm_pop_wait(h, i as u64, 60_000, &mut out) };
            assert_eq!(st, LM_STATUS_OK, "face {i}");
            points
        })
        .collect()
}

fn openvino_config() -> lm_config {
    let mut cfg = default_config();
    cfg.backend = lm_backend::LM_BACKEND_OPENVINO as i32;
    cfg.max_wait_us = 1000;
    cfg
}

/// Waits (bounded) for the process to be back at `threads`: a pool's threads take a moment to
/// leave after they are told to.
fn settle_threads(threads: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = thread_count();
        if now <= threads || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn the_backend_reports_itself_and_matches_the_references(faces: &[EvalFace]) -> Vec<Vec<f32>> {
    let (status, h, message) = create(&openvino_config());
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let (backend, reason, precision) = info(h);
    assert_eq!(backend, "cpu-openvino");
    assert_eq!(reason, "");
    assert_eq!(precision, lm_precision::LM_PRECISION_FP32 as i32);
    let points = run_eval(h, faces);
    let worst = faces
        .iter()
        .zip(&points)
        .map(|(f, p)| f.nme(p))
        .fold(0.0, f64::max);
    println!(
        "OpenVINO FP32: worst NME {:.4}% over {} faces",
        worst * 100.0,
        faces.len()
    );
    assert!(worst < 0.01, "worst NME {worst}");
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    points
}

fn auto_picks_openvino_without_a_gpu_and_says_why() {
    let (status, h, message) = create(&default_config());
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let (backend, reason, _) = info(h);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    if backend == "tensorrt" {
        println!("AUTO picked TensorRT: a GPU machine");
        return;
    }
    assert_eq!(backend, "cpu-openvino", "{reason}");
    assert!(reason.contains("TensorRT not used"), "{reason}");
    assert!(!reason.contains("OpenVINO not used"), "{reason}");
}

/// Whether this CPU computes BF16 natively (what OpenVINO's CPU plugin looks for).
fn cpu_has_bf16() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|t| {
            t.split_whitespace()
                .any(|f| f == "avx512_bf16" || f == "amx_bf16")
        })
        .unwrap_or(false)
}

fn reduced_runs_bf16_where_the_cpu_has_it(faces: &[EvalFace], fp32: &[Vec<f32>]) {
    let sink = LogSink::default();
    let mut cfg = openvino_config();
    cfg.precision = lm_precision::LM_PRECISION_REDUCED as i32;
    cfg.log_fn = Some(collect_log);
    cfg.log_user = &sink as *const LogSink as *mut std::ffi::c_void;
    let (status, h, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let (_, _, precision) = info(h);
    let points = run_eval(h, faces);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    let log: Vec<String> = sink.lock().iter().map(|(_, l)| l.clone()).collect();
    let said_fp32 = log
        .iter()
        .filter(|l| l.contains("precision REDUCED"))
        .count();
    if cpu_has_bf16() {
        assert_eq!(precision, lm_precision::LM_PRECISION_BF16 as i32);
        assert_eq!(said_fp32, 0, "{log:?}");
    } else {
        assert_eq!(precision, lm_precision::LM_PRECISION_FP32 as i32);
        assert_eq!(said_fp32, 1, "{log:?}");
    }
    // NME of REDUCED's points against FP32's, per face (the FP32 points as the reference).
    let nme: Vec<f64> = faces
        .iter()
        .zip(points.iter().zip(fp32))
        .map(|(face, (got, reference))| face.nme_against(got, reference))
        .collect();
    let mean = nme.iter().sum::<f64>() / nme.len() as f64;
    let worst = nme.iter().cloned().fold(0.0, f64::max);
    println!(
        "OpenVINO REDUCED (lm_precision {precision}) vs FP32: set-mean NME {:.4}%, worst {:.4}%",
        mean * 100.0,
        worst * 100.0
    );
    assert!(mean < 0.005, "set-mean NME {mean}");
}

fn the_model_cache_fills_and_serves(faces: &[EvalFace], fp32: &[Vec<f32>]) {
    let dir = std::env::temp_dir().join(format!("lmbatch-ov-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dir_c = CString::new(dir.to_str().unwrap()).unwrap();
    let mut cfg = openvino_config();
    cfg.engine_cache_dir = dir_c.as_ptr();
    for round in 0..2 {
        let t0 = Instant::now();
        let (status, h, message) = create(&cfg);
        assert_eq!(status, LM_STATUS_OK, "{message}");
        let created = t0.elapsed();
        let points = run_eval(h, faces);
        // SAFETY: live handle.
        unsafe { lm_destroy(h) };
        let entries = std::fs::read_dir(&dir).unwrap().count();
        println!(
            "model cache round {round}: lm_create {created:?}, {entries} file(s) in the cache"
        );
        assert!(entries > 0, "nothing cached in {}", dir.display());
        assert_eq!(
            points, fp32,
            "round {round}: a cached model gave other points"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The 478-point model's descriptor carries a golden case (0.5 px): with self_check on it is
/// verified through the engine that runs, in the precision that runs, BF16's with the
/// reduced-precision allowance on top.
fn the_golden_check_runs_in_the_precision_that_runs() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/face_landmarks_478.onnx");
    let model_c = CString::new(model.to_str().unwrap()).unwrap();
    for precision in [
        lm_precision::LM_PRECISION_FP32,
        lm_precision::LM_PRECISION_REDUCED,
    ] {
        let sink = LogSink::default();
        let mut cfg = openvino_config();
        cfg.model_path = model_c.as_ptr();
        cfg.self_check = 1;
        cfg.precision = precision as i32;
        cfg.log_fn = Some(collect_log);
        cfg.log_user = &sink as *const LogSink as *mut std::ffi::c_void;
        let (status, h, message) = create(&cfg);
        let log: Vec<String> = sink.lock().iter().map(|(_, l)| l.clone()).collect();
        let golden = log.iter().find(|l| l.contains("golden check"));
        println!("478 model, {precision:?}: {status:?} {message} {golden:?}");
        assert_eq!(status, LM_STATUS_OK, "{message}");
        let tolerance = if precision == lm_precision::LM_PRECISION_REDUCED && cpu_has_bf16() {
            "tolerance 1.5 px"
        } else {
            "tolerance 0.5 px"
        };
        assert!(golden.is_some_and(|l| l.contains(tolerance)), "{log:?}");
        // SAFETY: live handle.
        unsafe { lm_destroy(h) };
    }
}

fn bad_models_are_model_errors() {
    let mut cfg = openvino_config();
    let missing = CString::new("/nonexistent/model.onnx").unwrap();
    cfg.model_path = missing.as_ptr();
    let (status, _, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(message.contains("/nonexistent/model.onnx"), "{message}");

    let junk = std::env::temp_dir().join(format!("lmbatch-ov-junk-{}.onnx", std::process::id()));
    std::fs::write(&junk, b"this is not an onnx model").unwrap();
    let junk_c = CString::new(junk.to_str().unwrap()).unwrap();
    cfg.model_path = junk_c.as_ptr();
    let (status, _, message) = create(&cfg);
    std::fs::remove_file(&junk).unwrap();
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    println!("a junk model: {message}");
}

/// This binary again, with `lib_path` as OPENVINO_LIB_PATH: its LM_BACKEND_OPENVINO create must
/// fail with BACKEND_UNAVAILABLE and a message holding `expect`.
fn child_refuses(lib_path: &Path, expect: &str) {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .args(["--exact", "openvino_scenarios", "--nocapture"])
        .env("OPENVINO_LIB_PATH", lib_path)
        .env(CHILD_ENV, expect)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child with {lib_path:?}:\n{text}");
    assert!(text.contains("child refused as expected"), "{text}");
}

fn child() {
    let expect = std::env::var(CHILD_ENV).unwrap();
    let (status, _, message) = create(&openvino_config());
    println!("child: {message}");
    assert_eq!(status, LM_STATUS_BACKEND_UNAVAILABLE, "{message}");
    assert!(message.contains(&expect), "{message}");
    // AUTO goes on to the next engine and says why.
    let (status, h, message) = create(&default_config());
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let (backend, reason, _) = info(h);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    assert_ne!(backend, "cpu-openvino");
    assert!(reason.contains("OpenVINO not used"), "{reason}");
    println!("child refused as expected");
}

/// The folder of the library OPENVINO_LIB_PATH names.
fn library_folder() -> PathBuf {
    let path = PathBuf::from(std::env::var_os("OPENVINO_LIB_PATH").unwrap());
    if path.is_dir() {
        path
    } else {
        path.parent().unwrap().to_path_buf()
    }
}

fn refusals_say_what_is_missing() {
    let root = std::env::temp_dir().join(format!("lmbatch-ov-refusals-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    // The wheel's folder without its CPU plugin (links to everything else).
    let no_cpu = root.join("no-cpu-plugin");
    std::fs::create_dir_all(&no_cpu).unwrap();
    for entry in std::fs::read_dir(library_folder()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().contains("intel_cpu_plugin") {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), no_cpu.join(&name)).unwrap();
    }
    child_refuses(&no_cpu, "no usable CPU plugin");
    // A folder without the library.
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    child_refuses(&empty, "holds no libopenvino_c.so");
    // A file that is not OpenVINO.
    child_refuses(Path::new("/proc/self/exe"), "cannot load OpenVINO");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn openvino_scenarios() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    if !openvino_available() {
        // Without the library: a clear refusal, and AUTO moves on.
        if std::env::var_os("OPENVINO_LIB_PATH").is_none() {
            let (status, _, message) = create(&openvino_config());
            assert_eq!(status, LM_STATUS_BACKEND_UNAVAILABLE, "{message}");
            assert!(message.contains("OPENVINO_LIB_PATH"), "{message}");
        }
        return;
    }
    let threads_before = thread_count();
    let faces = eval_faces();
    let fp32 = the_backend_reports_itself_and_matches_the_references(&faces);
    let after_first = settle_threads(threads_before);
    println!("threads: {threads_before} before the first OpenVINO handle, {after_first} after it");
    assert_eq!(after_first, threads_before, "a thread outlived lm_destroy");
    auto_picks_openvino_without_a_gpu_and_says_why();
    reduced_runs_bf16_where_the_cpu_has_it(&faces, &fp32);
    the_model_cache_fills_and_serves(&faces, &fp32);
    the_golden_check_runs_in_the_precision_that_runs();
    bad_models_are_model_errors();
    let after_all = settle_threads(threads_before);
    println!("threads: {after_all} after every scenario");
    assert_eq!(after_all, threads_before, "a thread outlived lm_destroy");
    refusals_say_what_is_missing();
}
