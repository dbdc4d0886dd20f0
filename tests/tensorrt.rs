//! The TensorRT backend on a machine without a GPU: every way it cannot run ends in a clear
//! BACKEND_UNAVAILABLE (explicit request) or a CPU fallback with the reason (AUTO), never a crash.
//! One test function, because the cases change the process environment one after another.
//!
//! Libraries used when the environment names them (scripts/test.sh fetches both PyPI wheels of
//! `tensorrt-lean-cu12-libs`; CI sets LMBATCH_REQUIRE_TENSORRT_SHIM=1, which makes them required):
//! - LMBATCH_TRT_LEAN_LIB: libnvinfer_lean.so of the major the shim was built for (11);
//! - LMBATCH_TRT_LEAN10_LIB: libnvinfer_lean.so.10, a major this build must refuse.
#![cfg(feature = "tensorrt")]

mod common;

use std::ffi::CStr;
use std::mem::size_of;

use common::*;
use lmbatch::backend::tensorrt::{self, library::NVINFER_ENV};
use lmbatch::ffi::*;

/// Creates with `backend`; returns the status and the create message, or for a created handle
/// the backend it runs and its fallback reason.
fn try_backend(backend: lm_backend) -> (lm_status, String) {
    let mut cfg = default_config();
    cfg.backend = backend as i32;
    let (status, h, message) = create(&cfg);
    if status != lm_status::LM_STATUS_OK {
        return (status, message);
    }
    // SAFETY: lm_model_info is plain data.
    let mut info: lm_model_info = unsafe { std::mem::zeroed() };
    info.struct_size = size_of::<lm_model_info>();
    // SAFETY: live handle, writable struct; then the library NUL-terminates both strings.
    let described = unsafe {
        assert_eq!(lm_get_model_info(h, &mut info), lm_status::LM_STATUS_OK);
        format!(
            "{} | {}",
            CStr::from_ptr(info.backend.as_ptr()).to_string_lossy(),
            CStr::from_ptr(info.fallback_reason.as_ptr()).to_string_lossy()
        )
    };
    // SAFETY: live handle, no other call racing.
    unsafe { lm_destroy(h) };
    (status, described)
}

/// TENSORRT is refused with `expected` in the message; AUTO runs on a CPU backend and reports
/// the same reason.
fn refused_then_fallback(case: &str, expected: &str) {
    let (status, message) = try_backend(lm_backend::LM_BACKEND_TENSORRT);
    println!("{case}: TENSORRT -> {status:?}: {message}");
    assert_eq!(status, lm_status::LM_STATUS_BACKEND_UNAVAILABLE, "{case}");
    assert!(message.contains(expected), "{case}: {message}");
    let (status, described) = try_backend(lm_backend::LM_BACKEND_AUTO);
    println!("{case}: AUTO -> {described}");
    assert_eq!(status, lm_status::LM_STATUS_OK, "{case}: {described}");
    assert!(described.starts_with("cpu-"), "{case}: {described}");
    assert!(
        described.contains("TensorRT not used"),
        "{case}: {described}"
    );
    assert!(described.contains(expected), "{case}: {described}");
}

#[test]
fn tensorrt_without_a_gpu_is_unavailable_with_the_reason_never_a_crash() {
    let required = std::env::var("LMBATCH_REQUIRE_TENSORRT_SHIM").as_deref() == Ok("1");
    if !tensorrt::BUILT {
        assert!(!required, "CI must build the TensorRT shim");
        refused_then_fallback("no shim", "built without");
        return;
    }
    // SAFETY (env): this is the only test in this binary; nothing else reads the environment.
    std::env::remove_var(NVINFER_ENV);

    // 1. No libnvinfer on the loader path.
    refused_then_fallback("no libnvinfer", "libnvinfer.so.11");

    let lean = std::env::var_os("LMBATCH_TRT_LEAN_LIB");
    let lean10 = std::env::var_os("LMBATCH_TRT_LEAN10_LIB");
    assert!(
        !required || (lean.is_some() && lean10.is_some()),
        "CI must test the real lean runtimes (scripts/test.sh fetches them)"
    );

    // 2. The real TensorRT 10 lean runtime: another major, refused before any call into it.
    if let Some(path) = lean10 {
        std::env::set_var(NVINFER_ENV, &path);
        refused_then_fallback("libnvinfer_lean.so.10", "found TensorRT 10.");
    } else {
        println!("LMBATCH_TRT_LEAN10_LIB is not set: the wrong-major case is not tested");
    }

    // 3. The real lean runtime of our major: accepted, then the CUDA probe finds no driver (the
    //    case where cudarc would panic if asked to load libcuda): unavailable, no panic.
    if let Some(path) = lean {
        std::env::set_var(NVINFER_ENV, &path);
        refused_then_fallback("libnvinfer_lean.so.11 without libcuda", "no CUDA driver");
    } else {
        println!("LMBATCH_TRT_LEAN_LIB is not set: the no-CUDA case is not tested");
    }

    // 4. A path that is not a library at all.
    let not_a_library =
        std::env::temp_dir().join(format!("lmbatch-not-a-lib-{}", std::process::id()));
    std::fs::write(&not_a_library, b"not an ELF file").unwrap();
    std::env::set_var(NVINFER_ENV, &not_a_library);
    refused_then_fallback("not a library", "file too short");
    std::fs::remove_file(&not_a_library).unwrap();
    std::env::remove_var(NVINFER_ENV);
}
