//! Tilted faces and following a face (ABI 1.3): every face of the rotated evaluation set through
//! `lm_enqueue_frame` with its box and eyes against the references, what the rotation gains over
//! the upright crop, the roll used exactly, and a face followed through a half turn from one
//! detector box by passing each result's track fields back.
#![cfg(feature = "cpu-tract")]

mod common;

use common::*;
use lmbatch::ffi::*;

struct RotFrame {
    name: String,
    pixels: Vec<u8>,
    width: u32,
    height: u32,
    format: i32,
}

struct RotFace {
    bbox: [f32; 4],
    right_eye: [f32; 2],
    left_eye: [f32; 2],
    roll: f64,
    truth_roll_deg: f64,
    landmarks: Vec<[f64; 3]>,
    truth: Vec<[f64; 3]>,
    face_score: f64,
    inter_ocular: f64,
    low_confidence: bool,
}

fn points(v: &serde_json::Value) -> Vec<[f64; 3]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p = p.as_array().unwrap();
            [0, 1, 2].map(|i| p[i].as_f64().unwrap())
        })
        .collect()
}

fn pair(v: &serde_json::Value) -> [f32; 2] {
    [0, 1].map(|i| v[i].as_f64().unwrap() as f32)
}

fn frame_of(c: &serde_json::Value) -> RotFrame {
    let dir = data_dir().join("faces_rotated");
    let width = c["width"].as_u64().unwrap() as u32;
    let stride = c["stride_bytes"].as_u64().unwrap() as usize;
    assert_eq!(stride, 3 * width as usize);
    RotFrame {
        name: c["name"].as_str().unwrap().into(),
        pixels: std::fs::read(dir.join(c["raw_file"].as_str().unwrap())).unwrap(),
        width,
        height: c["height"].as_u64().unwrap() as u32,
        format: format_code(c["pixel_format"].as_str().unwrap()),
    }
}

fn cases() -> Vec<(RotFrame, Vec<RotFace>)> {
    let m = rotated_manifest();
    m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let faces = c["boxes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| RotFace {
                    bbox: [0, 1, 2, 3].map(|i| b["box"][i].as_f64().unwrap() as f32),
                    right_eye: pair(&b["right_eye"]),
                    left_eye: pair(&b["left_eye"]),
                    roll: b["roll"].as_f64().unwrap(),
                    truth_roll_deg: b["truth_roll_deg"].as_f64().unwrap(),
                    landmarks: points(&b["landmarks"]),
                    truth: points(&b["truth"]),
                    face_score: b["face_score"].as_f64().unwrap(),
                    inter_ocular: b["inter_ocular"].as_f64().unwrap(),
                    low_confidence: b["low_confidence"].as_bool().unwrap(),
                })
                .collect();
            (frame_of(c), faces)
        })
        .collect()
}

impl RotFrame {
    fn lm_frame(&self) -> lm_frame {
        lm_frame {
            struct_size: std::mem::size_of::<lm_frame>(),
            format: self.format,
            width: self.width,
            height: self.height,
            planes: [
                self.pixels.as_ptr() as *const std::ffi::c_void,
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
            ],
            strides: [3 * self.width as usize, 0, 0, 0],
            color_matrix: 0,
            color_range: 0,
            chroma_location: 0,
            memory: 0,
        }
    }
}

fn lm_face_of(
    b: [f32; 4],
    flags: u32,
    right_eye: [f32; 2],
    left_eye: [f32; 2],
    roll: f32,
) -> lm_face {
    lm_face {
        struct_size: std::mem::size_of::<lm_face>(),
        r#box: lm_box {
            x1: b[0],
            y1: b[1],
            x2: b[2],
            y2: b[3],
        },
        flags,
        right_eye,
        left_eye,
        roll,
    }
}

fn nme(points: &[f32], reference: &[[f64; 3]], inter_ocular: f64) -> f64 {
    let sum: f64 = points
        .chunks_exact(3)
        .zip(reference)
        .map(|(p, r)| (f64::from(p[0]) - r[0]).hypot(f64::from(p[1]) - r[1]))
        .sum();
    sum / reference.len() as f64 / inter_ocular
}

/// One result: points, score and the lm_landmarks it came in.
struct Got {
    points: Vec<f32>,
    out: lm_landmarks,
}

fn run(h: *mut lm_handle, id: u64, frame: &lm_frame, face: &lm_face) -> Got {
    // SAFETY: live handle; frame and face point at live data.
    let status = unsafe { lm_enqueue_frame(h, id, frame, face) };
    assert_eq!(status, lm_status::LM_STATUS_OK, "enqueue {id}");
    let mut points = vec![0f32; 468 * 3];
    let mut out = landmarks_buf(&mut points);
    // SAFETY: live handle; `out` points at a buffer of 468 points.
    assert_eq!(
        unsafe { lm_pop_wait(h, id, 60_000, &mut out) },
        lm_status::LM_STATUS_OK
    );
    out.points = std::ptr::null_mut();
    Got { points, out }
}

#[test]
fn every_rotated_face_with_its_eyes_is_within_tolerance() {
    let h = cpu_handle(1, 0);
    let mut id = 0;
    let (mut total, mut counted) = (0.0, 0);
    // |truth roll| buckets: (faces, rotated NME vs truth, upright NME vs truth).
    let edges = [0.0, 15.0, 45.0, 90.0, 135.0, 180.1];
    let mut buckets = vec![(0u32, 0.0f64, 0.0f64); edges.len() - 1];
    println!(
        "{:<36} {:>3} {:>7} {:>8} {:>8} {:>10} {:>10}",
        "case", "#", "score", "NME ref", "truth°", "rot/truth", "up/truth"
    );
    for (frame, faces) in cases() {
        let lm = frame.lm_frame();
        for (k, f) in faces.iter().enumerate() {
            let rotated = run(
                h,
                id,
                &lm,
                &lm_face_of(f.bbox, LM_FACE_EYES, f.right_eye, f.left_eye, 0.0),
            );
            let upright = run(
                h,
                id + 1,
                &lm,
                &lm_face_of(f.bbox, 0, [0.0; 2], [0.0; 2], 0.0),
            );
            id += 2;
            let e = nme(&rotated.points, &f.landmarks, f.inter_ocular);
            let (rt, ut) = (
                nme(&rotated.points, &f.truth, f.inter_ocular),
                nme(&upright.points, &f.truth, f.inter_ocular),
            );
            println!(
                "{:<36} {k:>3} {:>7.3} {:>7.3}% {:>8.1} {:>9.2}% {:>9.2}%",
                frame.name,
                rotated.out.face_score,
                e * 100.0,
                f.truth_roll_deg,
                rt * 100.0,
                ut * 100.0
            );
            assert!(
                (f64::from(rotated.out.roll) - f.roll).abs() < 1e-4,
                "{}: roll {}",
                frame.name,
                rotated.out.roll
            );
            assert!(
                (f64::from(rotated.out.face_score) - f.face_score).abs() <= 0.005,
                "{} face {k}: score {} vs {}",
                frame.name,
                rotated.out.face_score,
                f.face_score
            );
            let b = edges
                .iter()
                .rposition(|&lo| f.truth_roll_deg.abs() >= lo)
                .unwrap();
            buckets[b].0 += 1;
            buckets[b].1 += rt;
            buckets[b].2 += ut;
            if f.low_confidence {
                continue;
            }
            assert!(
                e <= 0.01,
                "{} face {k}: NME {:.3}% > 1%",
                frame.name,
                e * 100.0
            );
            total += e;
            counted += 1;
        }
    }
    println!("\nmean NME vs truth by |truth roll| (rotated crop from the detector's eyes vs upright crop):");
    println!(
        "{:<12} {:>5} {:>9} {:>9}",
        "|roll|", "faces", "rotated", "upright"
    );
    for (w, (n, r, u)) in edges.windows(2).zip(&buckets) {
        if *n > 0 {
            let n_f = f64::from(*n);
            println!(
                "{:>3.0}-{:<3.0} deg {:>5} {:>8.2}% {:>8.2}%",
                w[0],
                w[1].min(180.0),
                n,
                r / n_f * 100.0,
                u / n_f * 100.0
            );
        }
    }
    let mean = total / f64::from(counted);
    println!(
        "faces_rotated: {counted} confident faces, set mean NME vs references {:.4}%",
        mean * 100.0
    );
    assert!(counted >= 15);
    assert!(mean <= 0.0025, "set mean NME {:.3}% > 0.25%", mean * 100.0);
    // SAFETY: live handle, nothing racing.
    unsafe { lm_destroy(h) };
}

#[test]
fn the_roll_is_used_exactly() {
    // The same faces with LM_FACE_ROLL (the references' roll as a float32) must match as the eyes
    // do; half a degree off must not (it moves the points by ~0.5%: the manifest's
    // sensitivity_summary).
    let h = cpu_handle(1, 0);
    let (mut exact, mut off, mut n, mut id) = (0.0, 0.0, 0, 0);
    for (frame, faces) in cases() {
        let lm = frame.lm_frame();
        for f in faces.iter().filter(|f| !f.low_confidence) {
            let roll = f.roll as f32;
            let a = run(
                h,
                id,
                &lm,
                &lm_face_of(f.bbox, LM_FACE_ROLL, [0.0; 2], [0.0; 2], roll),
            );
            let tilted = (f.roll + 0.5f64.to_radians()) as f32;
            let b = run(
                h,
                id + 1,
                &lm,
                &lm_face_of(f.bbox, LM_FACE_ROLL, [0.0; 2], [0.0; 2], tilted),
            );
            id += 2;
            assert_eq!(a.out.roll, roll, "the roll given is the roll used");
            let e = nme(&a.points, &f.landmarks, f.inter_ocular);
            assert!(e <= 0.01, "{}: NME {:.3}%", frame.name, e * 100.0);
            exact += e;
            off += nme(&b.points, &f.landmarks, f.inter_ocular);
            n += 1;
        }
    }
    let (exact, off) = (exact / f64::from(n), off / f64::from(n));
    println!(
        "{n} faces: roll as given {:.4}% mean NME, roll + 0.5 deg {:.4}%",
        exact * 100.0,
        off * 100.0
    );
    assert!(
        exact <= 0.0025,
        "set mean NME {:.3}% > 0.25%",
        exact * 100.0
    );
    assert!(
        off > 0.0025,
        "half a degree should show: {:.3}%",
        off * 100.0
    );
    // SAFETY: live handle, nothing racing.
    unsafe { lm_destroy(h) };
}

#[test]
fn a_face_is_followed_through_a_half_turn_from_one_detector_box() {
    let m = rotated_manifest();
    let track = &m["tracks"][0];
    let frames = track["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 19);
    let h = cpu_handle(1, 0);
    let first = &frames[0];
    let first_box = [0, 1, 2, 3].map(|i| first["box"][i].as_f64().unwrap() as f32);
    let first_face = lm_face_of(
        first_box,
        LM_FACE_EYES,
        pair(&first["right_eye"]),
        pair(&first["left_eye"]),
        0.0,
    );
    // With roll: each frame gets the previous result's track_box and track_roll.
    let mut face = first_face;
    // Without roll: upright crops, the next box the square bounding box of the points.
    let mut upright = lm_face_of(first_box, 0, [0.0; 2], [0.0; 2], 0.0);
    let mut worst = 0.0f64;
    println!(
        "{:>5} {:>6} {:>8} {:>7} {:>8} | {:>7} {:>8}",
        "frame", "turn", "roll", "score", "NME", "upright", "NME"
    );
    for (k, fr) in frames.iter().enumerate() {
        let frame = frame_of(fr);
        let truth = points(&fr["truth"]);
        let io = fr["inter_ocular"].as_f64().unwrap();
        let lm = frame.lm_frame();
        let got = run(h, 2 * k as u64, &lm, &face);
        let up = run(h, 2 * k as u64 + 1, &lm, &upright);
        let (e, ue) = (nme(&got.points, &truth, io), nme(&up.points, &truth, io));
        println!(
            "{k:>5} {:>5}° {:>7.1}° {:>7.3} {:>7.2}% | {:>7.3} {:>7.2}%",
            fr["rotation_deg"],
            f64::from(got.out.roll).to_degrees(),
            got.out.face_score,
            e * 100.0,
            up.out.face_score,
            ue * 100.0
        );
        assert!(e <= 0.05, "frame {k}: NME {:.2}% > 5%", e * 100.0);
        assert!(
            got.out.face_score >= 0.9,
            "frame {k}: score {}",
            got.out.face_score
        );
        worst = worst.max(e);
        let t = got.out.track_box;
        face = lm_face_of(
            [t.x1, t.y1, t.x2, t.y2],
            LM_FACE_ROLL,
            [0.0; 2],
            [0.0; 2],
            got.out.track_roll,
        );
        // The upright loop: the square around the points' axis-aligned bounding box.
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for p in up.points.chunks_exact(3) {
            for i in 0..2 {
                lo[i] = lo[i].min(p[i]);
                hi[i] = hi[i].max(p[i]);
            }
        }
        let (cx, cy, d) = (
            (lo[0] + hi[0]) / 2.0,
            (lo[1] + hi[1]) / 2.0,
            (hi[0] - lo[0]).max(hi[1] - lo[1]),
        );
        upright = lm_face_of(
            [cx - d / 2.0, cy - d / 2.0, cx + d / 2.0, cy + d / 2.0],
            0,
            [0.0; 2],
            [0.0; 2],
            0.0,
        );
    }
    println!(
        "followed to 180 deg from one detector box: worst NME vs truth {:.2}%",
        worst * 100.0
    );
    // SAFETY: live handle, nothing racing.
    unsafe { lm_destroy(h) };
}

#[test]
fn the_track_fields_follow_the_rule() {
    // The first tracking frame with its detector box and roll: track_box / track_roll against the
    // manifest's next_box / next_roll (the float64 rule on the reference points; ours come from our
    // own points, so within what the points differ by).
    let m = rotated_manifest();
    let fr = &m["tracks"][0]["frames"][0];
    let h = cpu_handle(1, 0);
    let frame = frame_of(fr);
    let bbox = [0, 1, 2, 3].map(|i| fr["box"][i].as_f64().unwrap() as f32);
    let got = run(
        h,
        0,
        &frame.lm_frame(),
        &lm_face_of(
            bbox,
            LM_FACE_ROLL,
            [0.0; 2],
            [0.0; 2],
            fr["roll"].as_f64().unwrap() as f32,
        ),
    );
    let next: Vec<f64> = (0..4)
        .map(|i| fr["next_box"][i].as_f64().unwrap())
        .collect();
    let t = got.out.track_box;
    for (a, b) in [t.x1, t.y1, t.x2, t.y2].iter().zip(&next) {
        assert!(
            (f64::from(*a) - b).abs() < 0.5,
            "track_box {t:?} vs {next:?}"
        );
    }
    let next_roll = fr["next_roll"].as_f64().unwrap();
    assert!(
        (f64::from(got.out.track_roll) - next_roll).abs() < 0.5f64.to_radians(),
        "{} vs {next_roll}",
        got.out.track_roll
    );
    // A struct that ends before the 1.3 fields gets none of them written.
    let face = lm_face_of(bbox, 0, [0.0; 2], [0.0; 2], 0.0);
    // SAFETY: live handle, live data; the struct_size covers only the 1.0 fields.
    unsafe {
        assert_eq!(
            lm_enqueue_frame(h, 1, &frame.lm_frame(), &face),
            lm_status::LM_STATUS_OK
        );
        let mut points = vec![0f32; 468 * 3];
        let mut old = landmarks_buf(&mut points);
        old.struct_size = std::mem::offset_of!(lm_landmarks, roll);
        old.roll = 9.0;
        old.track_roll = 9.0;
        assert_eq!(lm_pop_wait(h, 1, 60_000, &mut old), lm_status::LM_STATUS_OK);
        assert_eq!((old.roll, old.track_roll), (9.0, 9.0));
        lm_destroy(h);
    }
}
