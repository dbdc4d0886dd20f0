//! The C ABI's contract, called through the `extern "C"` functions: statuses for every bad input,
//! struct sizes, exactly-once pops, and the small functions.
#![cfg(feature = "cpu-tract")]

mod common;

use std::ffi::{c_char, c_void, CStr, CString};
use std::mem::{offset_of, size_of};
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;

fn pop(h: *mut lm_handle, id: u64, timeout_ms: u32) -> (lm_status, Vec<f32>, lm_landmarks) {
    let mut points = vec![0f32; 468 * 3];
    let mut out = landmarks_buf(&mut points);
    // SAFETY: live handle, buffer of 468 points.
    let status = unsafe { lm_pop_wait(h, id, timeout_ms, &mut out) };
    (status, points, out)
}

#[test]
fn config_init_fills_the_documented_defaults() {
    let c = default_config();
    assert_eq!(c.struct_size, size_of::<lm_config>());
    assert!(c.model_path.is_null() && c.engine_cache_dir.is_null() && c.log_fn.is_none());
    assert_eq!(
        (c.backend, c.device_id, c.max_batch, c.queue_capacity),
        (0, 0, 32, 96)
    );
    assert_eq!(
        (
            c.max_wait_us,
            c.result_capacity,
            c.result_ttl_ms,
            c.drain_timeout_ms
        ),
        (10_000, 4096, 30_000, 1000)
    );
    // SAFETY: NULL is documented to do nothing.
    unsafe { lm_config_init(null_mut()) };
    // SAFETY: as above.
    unsafe { lm_config_init_sized(null_mut(), size_of::<lm_config>()) };
}

/// A caller's struct at the start of a larger buffer of canary bytes: returns the buffer after
/// `init` ran on it, so a test can see every byte the call wrote.
fn init_into_canaries(init: impl FnOnce(*mut lm_config)) -> Vec<u8> {
    // u64 words keep the struct aligned; 0xA5 is no default value of any field.
    let mut words = vec![0xA5A5_A5A5_A5A5_A5A5u64; (size_of::<lm_config>() + 256) / 8];
    init(words.as_mut_ptr() as *mut lm_config);
    words.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

#[test]
fn config_init_never_writes_past_an_abi_1_0_struct() {
    // What a binary built against the 1.0 header passes: 72 bytes (struct_size .. log_user).
    assert_eq!(LM_CONFIG_SIZE_1_0, 72);
    // SAFETY: the buffer holds the whole current struct and more.
    let bytes = init_into_canaries(|cfg| unsafe { lm_config_init(cfg) });
    assert!(
        bytes[LM_CONFIG_SIZE_1_0..].iter().all(|&b| b == 0xA5),
        "lm_config_init wrote past the 1.0 struct"
    );
    let size = usize::from_ne_bytes(bytes[..8].try_into().unwrap());
    assert_eq!(size, LM_CONFIG_SIZE_1_0);
    // The 1.0 fields hold their defaults: max_batch 32, queue 96, max_wait 10 ms.
    let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(word(offset_of!(lm_config, max_batch)), 32);
    assert_eq!(word(offset_of!(lm_config, queue_capacity)), 96);
    assert_eq!(word(offset_of!(lm_config, max_wait_us)), 10_000);
}

#[test]
fn config_init_sized_writes_exactly_the_callers_size() {
    // Every earlier layout's size, a size inside a field, and the current one.
    let sizes = [
        8,
        LM_CONFIG_SIZE_1_0,
        offset_of!(lm_config, self_check) + 4,         // 1.2
        offset_of!(lm_config, remote_ca_file) + 8 - 1, // cuts remote_ca_file
        size_of::<lm_config>(),
    ];
    for size in sizes {
        // SAFETY: the buffer holds the whole current struct and more.
        let bytes = init_into_canaries(|cfg| unsafe { lm_config_init_sized(cfg, size) });
        assert!(
            bytes[size..].iter().all(|&b| b == 0xA5),
            "lm_config_init_sized({size}) wrote past the caller's size"
        );
        let written = usize::from_ne_bytes(bytes[..8].try_into().unwrap());
        assert!(written <= size, "struct_size {written} > {size}");
    }
    // A struct from a newer header than this library: the unknown tail is zeroed and kept.
    let bigger = size_of::<lm_config>() + 40;
    // SAFETY: the buffer holds the whole current struct and 256 more bytes.
    let bytes = init_into_canaries(|cfg| unsafe { lm_config_init_sized(cfg, bigger) });
    assert!(bytes[size_of::<lm_config>()..bigger]
        .iter()
        .all(|&b| b == 0));
    assert!(bytes[bigger..].iter().all(|&b| b == 0xA5));
    assert_eq!(usize::from_ne_bytes(bytes[..8].try_into().unwrap()), bigger);
    // A size that cannot hold struct_size writes nothing.
    // SAFETY: as above.
    let bytes = init_into_canaries(|cfg| unsafe { lm_config_init_sized(cfg, 4) });
    assert!(bytes.iter().all(|&b| b == 0xA5));
}

#[test]
fn a_config_from_the_1_0_init_creates_a_pipeline_with_1_0_defaults() {
    // A 1.0 binary's struct: exactly 72 bytes, the rest of the library's view never read.
    let mut words = [0u64; LM_CONFIG_SIZE_1_0 / 8];
    let cfg = words.as_mut_ptr() as *mut lm_config;
    // SAFETY: 72 writable, aligned bytes.
    unsafe { lm_config_init(cfg) };
    // SAFETY: backend lies inside the 1.0 prefix.
    unsafe { std::ptr::addr_of_mut!((*cfg).backend).write(lm_backend::LM_BACKEND_CPU as i32) };
    let mut h = null_mut();
    // SAFETY: the config holds its struct_size (72) readable bytes; lm_create reads no more.
    let status = unsafe { lm_create(cfg, &mut h, null_mut(), 0) };
    assert_eq!(status, LM_STATUS_OK);
    // SAFETY: a live handle, destroyed once.
    unsafe { lm_destroy(h) };
}

#[test]
fn create_reports_why_it_failed_in_the_callers_buffer() {
    let mut h = null_mut();
    let mut buf = [1 as c_char; 64];
    // SAFETY: NULL config is the case under test; the buffer is 64 bytes.
    assert_eq!(
        unsafe { lm_create(null(), &mut h, buf.as_mut_ptr(), buf.len()) },
        LM_STATUS_NULL_ARGUMENT
    );
    // SAFETY: NUL-terminated by the library.
    assert!(unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .contains("NULL"));
    let cfg = default_config();
    // SAFETY: NULL out is the case under test; no buffer.
    assert_eq!(
        unsafe { lm_create(&cfg, null_mut(), null_mut(), 0) },
        LM_STATUS_NULL_ARGUMENT
    );

    type Edit = Box<dyn Fn(&mut lm_config)>;
    let cases: Vec<(Edit, lm_status, &str)> = vec![
        (
            Box::new(|c| c.max_batch = 0),
            LM_STATUS_INVALID_ARGUMENT,
            "max_batch",
        ),
        (
            Box::new(|c| c.max_batch = 33),
            LM_STATUS_INVALID_ARGUMENT,
            "max_batch",
        ),
        (
            Box::new(|c| c.queue_capacity = 0),
            LM_STATUS_INVALID_ARGUMENT,
            "queue_capacity",
        ),
        (
            Box::new(|c| c.result_capacity = 0),
            LM_STATUS_INVALID_ARGUMENT,
            "result_capacity",
        ),
        (
            Box::new(|c| c.backend = 6),
            LM_STATUS_INVALID_ARGUMENT,
            "backend",
        ),
        (
            Box::new(|c| c.backend = -1),
            LM_STATUS_INVALID_ARGUMENT,
            "backend",
        ),
        (
            Box::new(|c| c.device_id = -1),
            LM_STATUS_INVALID_ARGUMENT,
            "device_id",
        ),
        (
            Box::new(|c| c.struct_size = 8),
            LM_STATUS_INVALID_ARGUMENT,
            "struct_size",
        ),
        (
            Box::new(|c| c.struct_size = 0),
            LM_STATUS_INVALID_ARGUMENT,
            "struct_size",
        ),
        (
            Box::new(|c| c.backend = 2),
            LM_STATUS_BACKEND_UNAVAILABLE,
            "TensorRT",
        ),
    ];
    for (edit, want, word) in cases {
        let mut cfg = default_config();
        edit(&mut cfg);
        let (status, h, message) = create(&cfg);
        assert_eq!(status, want, "{message}");
        assert!(h.is_null());
        assert!(message.contains(word), "{message:?} should mention {word}");
    }
    // A message longer than the buffer is truncated and still terminated.
    let mut cfg = default_config();
    cfg.max_batch = 99;
    let mut small = [1 as c_char; 8];
    // SAFETY: valid pointers; 8-byte buffer.
    assert_eq!(
        unsafe { lm_create(&cfg, &mut h, small.as_mut_ptr(), small.len()) },
        LM_STATUS_INVALID_ARGUMENT
    );
    assert_eq!(small[7], 0);
    // SAFETY: terminated as checked.
    assert_eq!(
        unsafe { CStr::from_ptr(small.as_ptr()) }.to_bytes().len(),
        7
    );
}

#[test]
fn onnxruntime_loads_from_ort_dylib_path_or_says_why_not() {
    let mut cfg = default_config();
    cfg.backend = lm_backend::LM_BACKEND_ONNXRUNTIME as i32;
    let (status, h, message) = create(&cfg);
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        assert_eq!(status, LM_STATUS_OK, "{message}");
        // SAFETY: live handle.
        unsafe { lm_destroy(h) };
    } else {
        assert_eq!(status, LM_STATUS_BACKEND_UNAVAILABLE);
        assert!(message.contains("ORT_DYLIB_PATH"), "{message}");
    }
}

#[test]
fn a_missing_or_broken_model_is_a_model_error() {
    let missing = CString::new("/nonexistent/model.onnx").unwrap();
    let mut cfg = default_config();
    cfg.model_path = missing.as_ptr();
    let (status, _, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_MODEL_ERROR);
    assert!(message.contains("/nonexistent/model.onnx"), "{message}");

    let junk = std::env::temp_dir().join(format!("lmbatch-junk-{}.onnx", std::process::id()));
    std::fs::write(&junk, b"this is not an onnx model").unwrap();
    let junk_c = CString::new(junk.to_str().unwrap()).unwrap();
    cfg.model_path = junk_c.as_ptr();
    cfg.backend = lm_backend::LM_BACKEND_CPU as i32;
    let (status, _, message) = create(&cfg);
    std::fs::remove_file(&junk).unwrap();
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
}

#[test]
fn an_explicit_model_path_to_the_bundled_file_works() {
    let path = CString::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/face_landmark_468.onnx"
    ))
    .unwrap();
    let mut cfg = default_config();
    cfg.model_path = path.as_ptr();
    cfg.max_wait_us = 0;
    let (status, h, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let face = astronaut();
    // SAFETY: live handle, valid frame.
    assert_eq!(
        unsafe { lm_enqueue(h, 1, &face.image(), &face.lm_box()) },
        LM_STATUS_OK
    );
    let (status, points, _) = pop(h, 1, 30_000);
    assert_eq!(status, LM_STATUS_OK);
    assert!(face.nme(&points) < 0.01);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
}

#[test]
fn auto_falls_back_to_the_cpu_and_says_why() {
    let (status, h, message) = create(&default_config());
    assert_eq!(status, LM_STATUS_OK, "{message}");
    // SAFETY: lm_model_info is plain data.
    let mut info: lm_model_info = unsafe { std::mem::zeroed() };
    info.struct_size = size_of::<lm_model_info>();
    // SAFETY: live handle, writable struct.
    assert_eq!(unsafe { lm_get_model_info(h, &mut info) }, LM_STATUS_OK);
    // SAFETY: the library NUL-terminates both strings.
    let backend = unsafe { CStr::from_ptr(info.backend.as_ptr()) }
        .to_str()
        .unwrap();
    // SAFETY: as above.
    let reason = unsafe { CStr::from_ptr(info.fallback_reason.as_ptr()) }
        .to_str()
        .unwrap();
    // tract, or OpenVINO / ONNX Runtime where its library loads (OPENVINO_LIB_PATH,
    // ORT_DYLIB_PATH).
    assert!(
        ["cpu-tract", "cpu-onnxruntime", "cpu-openvino"].contains(&backend),
        "{backend}"
    );
    assert!(reason.contains("TensorRT not used"), "{reason}");
    assert_eq!(
        (
            info.num_points,
            info.input_width,
            info.input_height,
            info.max_batch
        ),
        (468, 192, 192, 32)
    );

    // A struct that ends before fallback_reason: the reason is not written.
    // SAFETY: as above.
    let mut short: lm_model_info = unsafe { std::mem::zeroed() };
    short.struct_size = offset_of!(lm_model_info, fallback_reason);
    short.fallback_reason[0] = 42;
    // SAFETY: live handle; the struct is larger than its declared size.
    assert_eq!(unsafe { lm_get_model_info(h, &mut short) }, LM_STATUS_OK);
    assert_eq!(
        (short.num_points, short.max_batch, short.fallback_reason[0]),
        (468, 32, 42)
    );
    short.struct_size = 4;
    // SAFETY: as above.
    assert_eq!(
        unsafe { lm_get_model_info(h, &mut short) },
        LM_STATUS_INVALID_ARGUMENT
    );
    // SAFETY: NULL arguments are the case under test.
    assert_eq!(
        unsafe { lm_get_model_info(h, null_mut()) },
        LM_STATUS_NULL_ARGUMENT
    );
    // SAFETY: as above.
    assert_eq!(
        unsafe { lm_get_model_info(null_mut(), &mut info) },
        LM_STATUS_NULL_ARGUMENT
    );
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
}

#[test]
fn an_older_smaller_config_takes_defaults_for_the_rest() {
    // A caller that knows only struct_size, model_path, backend and device_id.
    let mut cfg = default_config();
    cfg.struct_size = offset_of!(lm_config, max_batch);
    cfg.max_batch = 0; // past struct_size: must be ignored, not rejected
    cfg.backend = lm_backend::LM_BACKEND_CPU as i32;
    let (status, h, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    // SAFETY: as in the test above.
    let mut info: lm_model_info = unsafe { std::mem::zeroed() };
    info.struct_size = size_of::<lm_model_info>();
    // SAFETY: live handle.
    assert_eq!(unsafe { lm_get_model_info(h, &mut info) }, LM_STATUS_OK);
    assert_eq!(info.max_batch, 32);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };

    // A newer, larger config: the extra bytes are ignored.
    #[repr(C)]
    struct Newer {
        cfg: lm_config,
        extra: [u64; 4],
    }
    let mut newer = Newer {
        cfg: default_config(),
        extra: [u64::MAX; 4],
    };
    newer.cfg.struct_size = size_of::<Newer>();
    newer.cfg.backend = lm_backend::LM_BACKEND_CPU as i32;
    let (status, h, message) = create(&newer.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    assert_eq!(newer.extra[0], u64::MAX);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
}

#[test]
fn every_bad_input_gets_its_status_and_is_counted() {
    let h = cpu_handle(4, 1000);
    let frame = Gray::new();
    let good_img = frame.image();
    let good_box = center_box();
    // SAFETY: NULL handle, frame and box are the cases under test.
    unsafe {
        assert_eq!(
            lm_enqueue(null_mut(), 1, &good_img, &good_box),
            LM_STATUS_NULL_ARGUMENT
        );
        assert_eq!(lm_enqueue(h, 1, null(), &good_box), LM_STATUS_NULL_ARGUMENT);
        assert_eq!(lm_enqueue(h, 1, &good_img, null()), LM_STATUS_NULL_ARGUMENT);
    }
    let tiny = [0u8; 16];
    let images: Vec<(&str, lm_image)> = vec![
        (
            "NULL data",
            lm_image {
                data: null(),
                ..good_img
            },
        ),
        (
            "zero width",
            lm_image {
                width: 0,
                ..good_img
            },
        ),
        (
            "zero height",
            lm_image {
                height: 0,
                ..good_img
            },
        ),
        (
            "width over 32768",
            lm_image {
                width: 40_000,
                stride: 120_000,
                ..good_img
            },
        ),
        (
            "stride below a row",
            lm_image {
                stride: 64 * 3 - 1,
                ..good_img
            },
        ),
        (
            "format 5",
            lm_image {
                format: 5,
                ..good_img
            },
        ),
        (
            "format -1",
            lm_image {
                format: -1,
                ..good_img
            },
        ),
        // The size overflows: the library must refuse before touching the 16 bytes.
        (
            "stride x height overflows",
            lm_image {
                data: tiny.as_ptr(),
                width: 4,
                height: 30_000,
                stride: usize::MAX / 1000,
                format: 0,
            },
        ),
    ];
    for (what, img) in &images {
        // SAFETY: live handle; the view is invalid on purpose but never read past its buffer.
        assert_eq!(
            unsafe { lm_enqueue(h, 1, img, &good_box) },
            LM_STATUS_INVALID_ARGUMENT,
            "{what}"
        );
    }
    let boxes: Vec<(&str, lm_box)> = vec![
        (
            "NaN",
            lm_box {
                x1: f32::NAN,
                ..good_box
            },
        ),
        (
            "infinite",
            lm_box {
                x2: f32::INFINITY,
                ..good_box
            },
        ),
        (
            "-infinite",
            lm_box {
                y1: f32::NEG_INFINITY,
                ..good_box
            },
        ),
        (
            "inverted x",
            lm_box {
                x1: 48.0,
                x2: 16.0,
                ..good_box
            },
        ),
        (
            "inverted y",
            lm_box {
                y1: 48.0,
                y2: 16.0,
                ..good_box
            },
        ),
        (
            "empty",
            lm_box {
                x2: 16.0,
                ..good_box
            },
        ),
        (
            "left of the frame",
            lm_box {
                x1: -40.0,
                x2: -1.0,
                ..good_box
            },
        ),
        (
            "touching the left edge",
            lm_box {
                x1: -40.0,
                x2: 0.0,
                ..good_box
            },
        ),
        (
            "below the frame",
            lm_box {
                y1: 64.0,
                y2: 90.0,
                ..good_box
            },
        ),
        (
            "enormous",
            lm_box {
                x1: -1e7,
                y1: -1e7,
                x2: 1e7,
                y2: 1e7,
            },
        ),
    ];
    for (what, b) in &boxes {
        // SAFETY: live handle, valid frame.
        assert_eq!(
            unsafe { lm_enqueue(h, 1, &good_img, b) },
            LM_STATUS_INVALID_ARGUMENT,
            "{what}"
        );
    }
    let s = stats(h);
    assert_eq!(s.rejected_invalid, (images.len() + boxes.len()) as u64);
    assert_eq!(s.accepted, 0);
    // A box partly outside the frame is fine.
    // SAFETY: live handle, valid frame.
    assert_eq!(
        unsafe {
            lm_enqueue(
                h,
                1,
                &good_img,
                &lm_box {
                    x1: -10.0,
                    y1: -10.0,
                    x2: 20.0,
                    y2: 20.0,
                },
            )
        },
        LM_STATUS_OK
    );
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
}

#[test]
fn pop_exactly_once_with_buffer_checks() {
    let h = cpu_handle(4, 0);
    let face = astronaut();
    // SAFETY: live handle, valid frame.
    assert_eq!(
        unsafe { lm_enqueue(h, 0, &face.image(), &face.lm_box()) },
        LM_STATUS_OK
    );
    // SAFETY: live handle, valid frame.
    assert_eq!(
        unsafe { lm_enqueue(h, 0, &face.image(), &face.lm_box()) },
        LM_STATUS_DUPLICATE_ID
    );
    let mut points = vec![0f32; 468 * 3];
    let mut out = landmarks_buf(&mut points);
    // SAFETY: the checks below pass bad landmark structs on purpose; the handle is live.
    unsafe {
        // NULL points with a capacity.
        let mut bad = lm_landmarks {
            points: null_mut(),
            ..out
        };
        assert_eq!(lm_pop_wait(h, 0, 30_000, &mut bad), LM_STATUS_NULL_ARGUMENT);
        // struct_size not covering num_points.
        let mut short = lm_landmarks {
            struct_size: offset_of!(lm_landmarks, num_points),
            ..out
        };
        assert_eq!(
            lm_pop_wait(h, 0, 30_000, &mut short),
            LM_STATUS_INVALID_ARGUMENT
        );
        assert_eq!(
            lm_pop_wait(h, 0, 30_000, null_mut()),
            LM_STATUS_NULL_ARGUMENT
        );
        assert_eq!(
            lm_pop_wait(null_mut(), 0, 30_000, &mut out),
            LM_STATUS_NULL_ARGUMENT
        );
        // Too small: waits for the result, then tells the size and consumes nothing.
        let mut small_points = vec![0f32; 10 * 3];
        let mut small = landmarks_buf(&mut small_points);
        assert_eq!(
            lm_pop_wait(h, 0, 30_000, &mut small),
            LM_STATUS_BUFFER_TOO_SMALL
        );
        assert_eq!(small.num_points, 468);
        assert!(small_points.iter().all(|v| *v == 0.0));
        let mut none = lm_landmarks {
            points: null_mut(),
            capacity: 0,
            ..out
        };
        assert_eq!(lm_pop(h, 0, &mut none), LM_STATUS_BUFFER_TOO_SMALL);
        assert_eq!(none.num_points, 468);
        // A struct that ends after num_points: the later fields are not written.
        let mut older = lm_landmarks {
            struct_size: offset_of!(lm_landmarks, face_score),
            face_score: -7.0,
            ..out
        };
        assert_eq!(lm_pop(h, 0, &mut older), LM_STATUS_OK);
        assert_eq!((older.num_points, older.face_score), (468, -7.0));
        assert!(face.nme(&points) < 0.01);
        assert_eq!(lm_pop(h, 0, &mut out), LM_STATUS_NOT_FOUND);
        let t0 = Instant::now();
        assert_eq!(lm_pop_wait(h, 12345, 5_000, &mut out), LM_STATUS_NOT_FOUND);
        let took = t0.elapsed();
        println!("pop_wait of an unknown id took {took:?}");
        // Only waiting out the 5 s timeout must show; a loaded machine may be slow to answer.
        assert!(
            took < Duration::from_millis(2_500),
            "unknown ids answer at once, without waiting for the timeout: {took:?}"
        );
        // The id is free again.
        assert_eq!(
            lm_enqueue(h, 0, &face.image(), &face.lm_box()),
            LM_STATUS_OK
        );
        assert_eq!(lm_pop_wait(h, 0, 30_000, &mut out), LM_STATUS_OK);
        assert!(out.face_score > 0.9 && out.infer_us > 0);
        lm_destroy(h);
    }
}

#[test]
fn pending_cancel_and_stats_through_the_abi() {
    // A long deadline keeps a lone item pending.
    let h = cpu_handle(32, 5_000_000);
    let face = astronaut();
    // SAFETY: live handle, valid frame and buffers throughout.
    unsafe {
        assert_eq!(
            lm_enqueue(h, 7, &face.image(), &face.lm_box()),
            LM_STATUS_OK
        );
        let mut none = lm_landmarks {
            points: null_mut(),
            capacity: 0,
            ..landmarks_buf(&mut [])
        };
        assert_eq!(
            lm_pop(h, 7, &mut none),
            LM_STATUS_PENDING,
            "pending wins over a small buffer"
        );
        let (status, _, _) = pop(h, 7, 0);
        assert_eq!(status, LM_STATUS_PENDING);
        let (status, _, _) = pop(h, 7, 30);
        assert_eq!(status, LM_STATUS_TIMEOUT);
        assert_eq!(lm_cancel(h, 7), LM_STATUS_OK);
        assert_eq!(lm_cancel(h, 7), LM_STATUS_NOT_FOUND);
        assert_eq!(lm_cancel(null_mut(), 7), LM_STATUS_NULL_ARGUMENT);
        let (status, _, _) = pop(h, 7, 0);
        assert_eq!(status, LM_STATUS_NOT_FOUND);
        let s = stats(h);
        assert_eq!((s.accepted, s.cancelled, s.queued), (1, 1, 0));
        assert!(c_reconciles(&s));

        // A smaller lm_stats: fields past it stay as they were.
        let mut short: lm_stats = std::mem::zeroed();
        short.struct_size = offset_of!(lm_stats, queued);
        short.queued = 777;
        assert_eq!(lm_get_stats(h, &mut short), LM_STATUS_OK);
        assert_eq!((short.accepted, short.queued), (1, 777));
        short.struct_size = 0;
        assert_eq!(lm_get_stats(h, &mut short), LM_STATUS_INVALID_ARGUMENT);
        assert_eq!(lm_get_stats(h, null_mut()), LM_STATUS_NULL_ARGUMENT);
        assert_eq!(
            lm_get_stats(null_mut(), &mut short),
            LM_STATUS_NULL_ARGUMENT
        );
        lm_destroy(h);
    }
}

#[test]
fn small_functions_and_null_handles() {
    // SAFETY: static strings and NULL-tolerant functions.
    unsafe {
        lm_destroy(null_mut());
        let mut minor = 99;
        lm_api_version(null_mut(), &mut minor);
        assert_eq!(minor, LM_API_VERSION_MINOR);
        let mut major = 0;
        lm_api_version(&mut major, null_mut());
        assert_eq!(major, LM_API_VERSION_MAJOR);
        lm_api_version(null_mut(), null_mut());
        assert_eq!(
            CStr::from_ptr(lm_version_string()).to_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(
            CStr::from_ptr(lm_status_string(LM_STATUS_QUEUE_FULL as i32))
                .to_str()
                .unwrap(),
            "queue full"
        );
        assert_eq!(
            CStr::from_ptr(lm_status_string(1000)).to_str().unwrap(),
            "unknown status"
        );
        let mut out = landmarks_buf(&mut []);
        assert_eq!(lm_pop(null_mut(), 1, &mut out), LM_STATUS_NULL_ARGUMENT);
    }
}

#[test]
fn the_log_callback_gets_messages_with_its_user_pointer() {
    let sink = LogSink::default();
    let mut cfg = default_config();
    cfg.log_fn = Some(collect_log);
    cfg.log_user = &sink as *const _ as *mut c_void;
    let (status, h, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    let logged = sink.lock();
    assert!(
        logged
            .iter()
            .any(|(level, m)| *level == 2 && m.contains("TensorRT not used")),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|(level, m)| *level == 2 && m.contains("ready")),
        "{logged:?}"
    );
}
