//! Accuracy of the CPU backend against onnxruntime's references: the backend alone on the exact
//! reference tensor, and every face of the evaluation set end to end through the C ABI.
#![cfg(feature = "cpu-tract")]

mod common;

use common::*;
use lmbatch::backend::cpu::TractBackend;
use lmbatch::backend::OpenRequest;
use lmbatch::ffi::*;
use lmbatch::{Backend, BatchOutput, ModelSource};

/// Reads a float32 C-order .npy file.
fn read_npy_f32(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape = shape_text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (shape, data)
}

#[test]
fn backend_matches_onnxruntime_on_the_reference_tensor() {
    let (shape, input) = read_npy_f32(&data_dir().join("reference_input_1x3x192x192.npy"));
    assert_eq!(shape, vec![1, 3, 192, 192]);
    // The reference tensor is bytes / 255: recover the bytes and stage them as the pipeline does
    // (interleaved RGB).
    let plane = 192 * 192;
    let mut crop = vec![0u8; plane * 3];
    for i in 0..plane {
        for c in 0..3 {
            let v = (input[c * plane + i] * 255.0).round();
            assert!(
                (v / 255.0 - input[c * plane + i]).abs() < 1e-6,
                "tensor is not bytes / 255"
            );
            crop[i * 3 + c] = v as u8;
        }
    }
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data_dir().join("reference_landmarks.json")).unwrap(),
    )
    .unwrap();
    let ref_points: Vec<f64> = reference["landmarks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let ref_score = reference["face_score"].as_f64().unwrap();

    let request = OpenRequest {
        model: ModelSource::Bundled,
        max_batch: 32,
        device_id: 0,
        engine_cache_dir: None,
        opt_batch: None,
        self_check: true,
        cpu_threads: None,
        spec: lmbatch::model::ModelSpec::face_landmark_468(),
        precision: Default::default(),
        logger: Default::default(),
        remote: None,
        remote_counters: Default::default(),
    };
    let mut backend = TractBackend::open(&request).unwrap();
    for n in [1usize, 3, 32] {
        let crops = vec![crop.as_slice(); n];
        let mut out = BatchOutput::default();
        backend.infer(&crops, &mut out).unwrap();
        assert_eq!(out.points.len(), n * 468 * 3);
        for item in 0..n {
            let got = &out.points[item * 1404..(item + 1) * 1404];
            let worst = got
                .iter()
                .zip(&ref_points)
                .map(|(g, r)| (f64::from(*g) - r).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-3, "batch {n} item {item}: max |diff| {worst} px");
            assert!((f64::from(out.scores[item]) - ref_score).abs() < 1e-4);
        }
    }
}

#[test]
fn every_eval_face_through_the_c_abi_is_within_tolerance() {
    for (backend, name) in cpu_backends() {
        eval_set_through_the_c_abi(backend, name);
    }
}

fn eval_set_through_the_c_abi(backend: i32, name: &str) {
    let faces = eval_faces();
    assert_eq!(faces.len(), 14);
    let mut cfg = default_config();
    cfg.backend = backend;
    cfg.max_wait_us = 1000;
    let (status, h, message) = create(&cfg);
    assert_eq!(status, lm_status::LM_STATUS_OK, "{name}: {message}");
    for (i, face) in faces.iter().enumerate() {
        // SAFETY: live handle; the frame outlives the call.
        assert_eq!(
            unsafe { lm_enqueue(h, i as u64, &face.image(), &face.lm_box()) },
            lm_status::LM_STATUS_OK
        );
    }
    let mut total = 0.0;
    println!("{name}\n{:<28} {:>8} {:>10}", "case", "NME %", "score");
    for (i, face) in faces.iter().enumerate() {
        let mut points = vec![0f32; 468 * 3];
        let mut out = landmarks_buf(&mut points);
        // SAFETY: live handle; `out` points at a buffer of 468 points.
        assert_eq!(
            unsafe { lm_pop_wait(h, i as u64, 60_000, &mut out) },
            lm_status::LM_STATUS_OK
        );
        assert_eq!(out.num_points, 468);
        let nme = face.nme(&points);
        println!(
            "{:<28} {:>8.4} {:>10.4}",
            face.case,
            nme * 100.0,
            out.face_score
        );
        assert!(
            nme <= 0.01,
            "{name} {}: NME {:.3}% > 1%",
            face.case,
            nme * 100.0
        );
        assert!(
            (f64::from(out.face_score) - face.face_score).abs() < 0.05,
            "{name} {}",
            face.case
        );
        total += nme;
    }
    let mean = total / faces.len() as f64;
    println!("{name}: set mean NME {:.4}%", mean * 100.0);
    assert!(
        mean <= 0.0025,
        "{name}: set mean NME {:.3}% > 0.25%",
        mean * 100.0
    );
    // SAFETY: live handle, no other call racing.
    unsafe { lm_destroy(h) };
}
