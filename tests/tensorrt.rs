//! The TensorRT backend on a machine without a GPU: every way it cannot run ends in a clear
//! BACKEND_UNAVAILABLE (explicit request) or a CPU fallback with the reason (AUTO), never a crash.
//! One test function, because the cases change the process environment one after another.
//! On a machine with TensorRT or a CUDA driver, the cases that assume their absence are skipped
//! with the reason printed (scripts/gpu-check.sh covers that machine).
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

/// What this machine has of what the cases below assume absent.
struct Machine {
    /// The TensorRT major the shim was built for.
    major: u32,
    nvinfer_installed: bool,
    cuda_driver: bool,
}

#[cfg(lmbatch_trt_shim)]
fn this_machine() -> Machine {
    let built_for = tensorrt::shim::header_version();
    Machine {
        major: built_for.major,
        nvinfer_installed: tensorrt::library::NvInfer::open(built_for).is_ok(),
        cuda_driver: tensorrt::cuda::driver_present(),
    }
}

/// Without the shim the test returns before asking (see `tensorrt::BUILT`).
#[cfg(not(lmbatch_trt_shim))]
fn this_machine() -> Machine {
    unreachable!("only asked where the shim is built")
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

    let machine = this_machine();

    // 1. No libnvinfer on the loader path.
    if machine.nvinfer_installed {
        println!(
            "SKIPPED no libnvinfer: libnvinfer.so.{} is installed here",
            machine.major
        );
    } else {
        refused_then_fallback("no libnvinfer", &format!("libnvinfer.so.{}", machine.major));
    }

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
    if machine.cuda_driver {
        println!("SKIPPED libnvinfer_lean.so.11 without libcuda: a CUDA driver is present here");
    } else if let Some(path) = lean {
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

/// scripts/gpu-check.sh finds TensorRT's headers by build.rs's rule: a folder counts only with
/// BOTH NvInfer.h and NvOnnxParser.h (build.rs refuses one without the parser's header).
#[test]
fn the_header_search_of_the_scripts_follows_build_rs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = std::env::temp_dir().join(format!("lmbatch-trt-headers-{}", std::process::id()));
    let runtime_only = base.join("runtime-only");
    let both = base.join("both");
    for (dir, files) in [
        (&runtime_only, &["NvInfer.h"][..]),
        (&both, &["NvInfer.h", "NvOnnxParser.h"][..]),
    ] {
        std::fs::create_dir_all(dir).unwrap();
        for file in files {
            std::fs::write(dir.join(file), b"").unwrap();
        }
    }
    let find = |dirs: &[&std::path::Path]| {
        std::process::Command::new(root.join("scripts/tensorrt-find-headers.sh"))
            .args(dirs)
            .output()
            .expect("bash runs")
    };
    let found = find(&[&runtime_only, &both]);
    assert!(found.status.success());
    assert_eq!(
        String::from_utf8_lossy(&found.stdout).trim(),
        both.to_string_lossy()
    );
    let none = find(&[&runtime_only]);
    assert!(
        !none.status.success(),
        "a folder without NvOnnxParser.h was taken"
    );
    assert!(none.stdout.is_empty());
    std::fs::remove_dir_all(&base).unwrap();
}

#[path = "../shim/header_watch.rs"]
mod header_watch;

/// Where no headers are found, build.rs watches each searched folder or, while it is missing, its
/// nearest existing ancestor: a later install lands inside a watched folder, and no watched path is
/// missing (Cargo would rerun the build script on every build).
#[test]
fn missing_header_folders_are_watched_through_their_nearest_existing_folder() {
    let base = std::env::temp_dir().join(format!("lmbatch-trt-watch-{}", std::process::id()));
    let usr = base.join("usr");
    let opt = base.join("opt");
    std::fs::create_dir_all(usr.join("include")).unwrap();
    std::fs::create_dir_all(&opt).unwrap();
    let searched = [
        usr.join("include/x86_64-linux-gnu"),
        usr.join("include"),
        usr.join("local/TensorRT/include"),
        opt.join("tensorrt/include"),
        std::path::PathBuf::from("/lmbatch-nonexistent/include"),
    ];
    let watched = header_watch::watched(&searched);
    assert_eq!(watched, vec![usr.clone(), opt.clone()], "{watched:?}");
    for dir in &searched[..4] {
        assert!(
            watched.iter().any(|w| dir.starts_with(w)),
            "{} is not watched: {watched:?}",
            dir.display()
        );
    }
    assert!(watched.iter().all(|w| w.is_dir()), "{watched:?}");
    // The root is never watched (any change anywhere would rebuild).
    assert!(!watched.iter().any(|w| w.parent().is_none()), "{watched:?}");
    std::fs::remove_dir_all(&base).unwrap();
}
