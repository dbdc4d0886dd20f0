//! Models described by a descriptor file (ABI 1.4, "Your model"), through lm_create on every CPU
//! backend that runs here: the served u8 wrapper of the bundled model (uint8 NHWC, found as its
//! sidecar) gives the bundled points; MediaPipe's 478-point model (NHWC 256, a logit score) tracks
//! the faces set and puts its irises inside the eyes; the lookup order and its refusals.
#![cfg(feature = "cpu-tract")]

mod common;

use std::ffi::{CStr, CString};
use std::path::PathBuf;

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;

fn model_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

fn c_path(p: &std::path::Path) -> CString {
    CString::new(p.to_str().expect("a UTF-8 path")).expect("no NUL")
}

/// Creates a handle on `backend` for `model` (and `desc`, if given).
fn create_described(
    backend: i32,
    model: &std::path::Path,
    desc: Option<&std::path::Path>,
) -> (lm_status, *mut lm_handle, String) {
    let (model_c, desc_c) = (c_path(model), desc.map(c_path));
    let mut cfg = default_config();
    cfg.backend = backend;
    cfg.max_wait_us = 0;
    cfg.model_path = model_c.as_ptr();
    if let Some(d) = &desc_c {
        cfg.model_desc_path = d.as_ptr();
    }
    create(&cfg)
}

fn model_info(h: *mut lm_handle) -> lm_model_info {
    // SAFETY: lm_model_info is plain data.
    let mut info: lm_model_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<lm_model_info>();
    // SAFETY: live handle, writable struct.
    assert_eq!(unsafe { lm_get_model_info(h, &mut info) }, LM_STATUS_OK);
    info
}

/// Every face of the set through `h`: (points, score) per face.
fn run_faces(h: *mut lm_handle, faces: &[EvalFace], points: u32) -> Vec<(Vec<f32>, f32)> {
    for (id, face) in faces.iter().enumerate() {
        // SAFETY: live handle, valid frame and box.
        let st = unsafe { lm_enqueue(h, id as u64, &face.image(), &face.lm_box()) };
        assert_eq!(st, LM_STATUS_OK);
    }
    (0..faces.len())
        .map(|id| {
            let mut buf = vec![0f32; points as usize * 3];
            let mut out = landmarks_buf(&mut buf);
            // SAFETY: live handle, buffer of `points` points.
            let st = unsafe { lm_pop_wait(h, id as u64, 120_000, &mut out) };
            assert_eq!(st, LM_STATUS_OK, "face {id}");
            assert_eq!(out.num_points, points);
            (buf, out.face_score)
        })
        .collect()
}

#[test]
fn the_u8_wrapper_runs_locally_through_its_sidecar_and_gives_the_bundled_points() {
    let faces = eval_faces();
    for (backend, name) in cpu_backends() {
        if name == "tensorrt" {
            continue;
        }
        let bundled = cpu_handle(32, 0);
        let want = run_faces(bundled, &faces, 468);
        // SAFETY: live handle.
        unsafe { lm_destroy(bundled) };
        let (status, h, message) =
            create_described(backend, &model_file("face_landmark_468_u8.onnx"), None);
        assert_eq!(status, LM_STATUS_OK, "{name}: {message}");
        let info = model_info(h);
        // SAFETY: the library NUL-terminates it.
        let scheme = unsafe { CStr::from_ptr(info.scheme.as_ptr()) };
        assert_eq!(
            (info.dims, scheme.to_str().unwrap(), info.precision),
            (3, "mediapipe468", lm_precision::LM_PRECISION_FP32 as i32)
        );
        let got = run_faces(h, &faces, 468);
        // SAFETY: live handle.
        unsafe { lm_destroy(h) };
        let worst = got
            .iter()
            .zip(&want)
            .flat_map(|((a, _), (b, _))| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0f32, f32::max);
        println!("{name}: u8 NHWC wrapper vs the bundled model, worst |d| {worst:e} px");
        // tract's u8 plan is a different graph (Cast, scale, Transpose): 1e-3 px as DESIGN's
        // batch invariance.
        assert!(worst <= 1e-3, "{name}: {worst}");
    }
}

/// Face Mesh's eye contours (16 points each, in order around the eye) of the first 468 points.
const RIGHT_EYE_CONTOUR: [usize; 16] = [
    33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
];
const LEFT_EYE_CONTOUR: [usize; 16] = [
    263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
];

/// Whether (x, y) lies inside the polygon of `points`' `contour` (even-odd rule).
fn inside(points: &[f32], contour: &[usize], x: f32, y: f32) -> bool {
    let at = |i: usize| (points[3 * contour[i]], points[3 * contour[i] + 1]);
    let mut inside = false;
    for i in 0..contour.len() {
        let ((xa, ya), (xb, yb)) = (at(i), at((i + 1) % contour.len()));
        if (ya > y) != (yb > y) && x < xa + (y - ya) / (yb - ya) * (xb - xa) {
            inside = !inside;
        }
    }
    inside
}

#[test]
fn the_478_point_model_follows_the_faces_and_puts_its_irises_in_the_eyes() {
    let faces = eval_faces();
    let model = model_file("face_landmarks_478.onnx");
    for (backend, name) in cpu_backends() {
        if name == "tensorrt" {
            continue;
        }
        let (status, h, message) = create_described(backend, &model, None);
        assert_eq!(status, LM_STATUS_OK, "{name}: {message}");
        let info = model_info(h);
        // SAFETY: the library NUL-terminates it.
        let scheme = unsafe { CStr::from_ptr(info.scheme.as_ptr()) };
        assert_eq!(
            (info.num_points, info.input_width, scheme.to_str().unwrap()),
            (478, 256, "mediapipe478")
        );
        let got = run_faces(h, &faces, 478);
        // SAFETY: live handle.
        unsafe { lm_destroy(h) };
        let (mut nmes, mut irises_inside) = (Vec::new(), 0);
        for (face, (points, score)) in faces.iter().zip(&got) {
            // The faces set's references are the 468 model's: the 478 model's mesh differs by
            // design; measured, not equal.
            if face.face_score >= 0.9 {
                let nme = face.nme(points);
                nmes.push(nme);
                println!(
                    "{name}: {} NME {:.2}% score {score:.3}",
                    face.case,
                    100.0 * nme
                );
            }
            // Iris centres: 468 (the subject's right eye), 473 (left).
            let (rx, ry, lx, ly) = (
                points[468 * 3],
                points[468 * 3 + 1],
                points[473 * 3],
                points[473 * 3 + 1],
            );
            if inside(points, &RIGHT_EYE_CONTOUR, rx, ry)
                && inside(points, &LEFT_EYE_CONTOUR, lx, ly)
            {
                irises_inside += 1;
            }
        }
        nmes.sort_by(f64::total_cmp);
        let (median, mean) = (
            nmes[nmes.len() / 2],
            nmes.iter().sum::<f64>() / nmes.len() as f64,
        );
        println!(
            "{name}: 478 model vs the 468 references on {} faces: NME median {:.2}%, mean \
             {:.2}%, worst {:.2}%; irises inside the eye contours on {irises_inside} of {} faces",
            nmes.len(),
            100.0 * median,
            100.0 * mean,
            100.0 * nmes[nmes.len() - 1],
            faces.len()
        );
        // Measured: median 2.2%, mean 4.0% (two faces the 478 model scores low, near 10%). A wrong layout,
        // channel order or scaling puts the mesh tens of percent off (DESIGN), so these bounds
        // see a broken convention and not the models' own difference.
        assert!(
            median < 0.03 && mean < 0.06,
            "{name}: median {median}, mean {mean}"
        );
        assert!(
            irises_inside * 10 >= faces.len() * 9,
            "{name}: irises inside on only {irises_inside} of {} faces",
            faces.len()
        );
    }
}

#[test]
fn the_lookup_order_and_its_refusals() {
    let dir = std::env::temp_dir().join(format!("lmbatch-described-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A copy of the 478 model under another name has no sidecar and foreign tensor names.
    let copy = dir.join("mesh.onnx");
    std::fs::copy(model_file("face_landmarks_478.onnx"), &copy).unwrap();
    let cpu = lm_backend::LM_BACKEND_CPU as i32;
    let (status, _, message) = create_described(cpu, &copy, None);
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(
        message.contains("mesh.lmbatch.toml") && message.contains("model_desc_path"),
        "{message}"
    );
    // model_desc_path names one.
    let desc = model_file("face_landmarks_478.lmbatch.toml");
    let (status, h, message) = create_described(cpu, &copy, Some(&desc));
    assert_eq!(status, LM_STATUS_OK, "{message}");
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    // A sidecar is found; model_desc_path still wins over it.
    // (Its golden case's image, named relative to the descriptor, stays where it is.)
    let text = std::fs::read_to_string(&desc).unwrap().replace(
        "image = \"face_landmarks_478.check.png\"",
        &format!(
            "image = {:?}",
            model_file("face_landmarks_478.check.png")
                .display()
                .to_string()
        ),
    );
    std::fs::write(dir.join("mesh.lmbatch.toml"), &text).unwrap();
    let (status, h, message) = create_described(cpu, &copy, None);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    let lying = dir.join("lying.lmbatch.toml");
    std::fs::write(&lying, text.replace("\"Identity_1\"", "\"presence\"")).unwrap();
    let (status, _, message) = create_described(cpu, &copy, Some(&lying));
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(
        message.contains("score.output") && message.contains("presence"),
        "{message}"
    );
    // A descriptor whose point count disagrees with the output's shape.
    std::fs::write(&lying, text.replace("count = 478", "count = 477")).unwrap();
    let (status, _, message) = create_described(cpu, &copy, Some(&lying));
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(message.contains("points.count"), "{message}");
    // A broken descriptor names the key and the line.
    std::fs::write(
        &lying,
        text.replace("layout = \"NHWC\"", "layout = \"HWC\""),
    )
    .unwrap();
    let (status, _, message) = create_described(cpu, &copy, Some(&lying));
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(
        message.contains("line ") && message.contains("HWC"),
        "{message}"
    );
    // REMOTE and TensorRT do not run a described model yet: they say so (AUTO moves on).
    let (status, _, message) =
        create_described(lm_backend::LM_BACKEND_TENSORRT as i32, &copy, Some(&desc));
    assert_eq!(status, LM_STATUS_BACKEND_UNAVAILABLE, "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}
