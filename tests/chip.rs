//! The aligned recognition chip (ABI 1.4, "The best shot"), on real faces: every chip of the
//! faces set against a direct warp of the ORIGINAL frame (the same five points, Umeyama by its
//! SVD form, bilinear in OpenCV's pixel-index convention, edges replicated), tilted faces give
//! upright chips, batch invariance, and the hostile cases through the C ABI.
#![cfg(feature = "cpu-tract")]

mod common;

use std::time::Duration;

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;
use lmbatch::{BackendChoice, Config, Face, FrameRef, Pipeline};

const TEMPLATE: [[f64; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

fn pipeline(chip_size: u32, max_batch: usize) -> Pipeline {
    Pipeline::new(Config {
        backend: BackendChoice::Cpu,
        max_batch,
        max_wait: Duration::from_millis(if max_batch > 1 { 50 } else { 0 }),
        chip_size,
        ..Config::default()
    })
    .expect("tract pipeline")
}

/// The five points of the 468 mesh (eye centres from the corners, nose tip, mouth corners), in
/// index space (continuous − ½).
fn five_points(points: &[f32]) -> [[f64; 2]; 5] {
    let at = |i: usize| [f64::from(points[3 * i]), f64::from(points[3 * i + 1])];
    let mean = |a: usize, b: usize| [(at(a)[0] + at(b)[0]) / 2.0, (at(a)[1] + at(b)[1]) / 2.0];
    [mean(33, 133), mean(263, 362), at(1), at(61), at(291)].map(|[x, y]| [x - 0.5, y - 0.5])
}

/// Umeyama (1991) for 2-D points, by its SVD form: Σ = cov(dst, src) = U D Vᵀ, R = U S Vᵀ
/// (S flips the last axis if det U det V < 0), c = tr(D S) / σ²_src, t = μ_dst − c R μ_src.
/// Returns the 2×3 matrix of dst ≈ c R src + t.
fn umeyama(src: &[[f64; 2]; 5], dst: &[[f64; 2]; 5]) -> [[f64; 3]; 2] {
    let n = 5.0;
    let mu = |v: &[[f64; 2]; 5]| {
        let s = v.iter().fold([0.0, 0.0], |a, p| [a[0] + p[0], a[1] + p[1]]);
        [s[0] / n, s[1] / n]
    };
    let (ms, md) = (mu(src), mu(dst));
    let mut cov = [[0.0; 2]; 2];
    let mut var = 0.0;
    for (s, d) in src.iter().zip(dst) {
        let (a, b) = ([s[0] - ms[0], s[1] - ms[1]], [d[0] - md[0], d[1] - md[1]]);
        for i in 0..2 {
            for j in 0..2 {
                cov[i][j] += b[i] * a[j] / n;
            }
        }
        var += (a[0] * a[0] + a[1] * a[1]) / n;
    }
    // SVD of the 2×2 covariance: V from the eigenvectors of ΣᵀΣ, U = Σ V / σ.
    let [[a, b], [c, d]] = cov;
    let (p, q, r) = (a * a + c * c, a * b + c * d, b * b + d * d); // ΣᵀΣ = [[p, q], [q, r]]
    let half_trace = (p + r) / 2.0;
    let root = (((p - r) / 2.0).powi(2) + q * q).sqrt();
    let (l1, l2) = (half_trace + root, (half_trace - root).max(0.0));
    let angle = 0.5 * (2.0 * q).atan2(p - r);
    let v = [[angle.cos(), -angle.sin()], [angle.sin(), angle.cos()]]; // columns: eigenvectors
    let sigma = [l1.sqrt(), l2.sqrt()];
    let mut u = [[0.0; 2]; 2];
    for k in 0..2 {
        let col = [a * v[0][k] + b * v[1][k], c * v[0][k] + d * v[1][k]];
        let s = if sigma[k] > 1e-12 { sigma[k] } else { 1.0 };
        u[0][k] = col[0] / s;
        u[1][k] = col[1] / s;
    }
    let det = |m: [[f64; 2]; 2]| m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let flip = if det(u) * det(v) < 0.0 { -1.0 } else { 1.0 };
    let s = [1.0, flip];
    let mut rot = [[0.0; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            rot[i][j] = (0..2).map(|k| u[i][k] * s[k] * v[j][k]).sum();
        }
    }
    let scale = (sigma[0] * s[0] + sigma[1] * s[1]) / var;
    let t = [
        md[0] - scale * (rot[0][0] * ms[0] + rot[0][1] * ms[1]),
        md[1] - scale * (rot[1][0] * ms[0] + rot[1][1] * ms[1]),
    ];
    [
        [scale * rot[0][0], scale * rot[0][1], t[0]],
        [scale * rot[1][0], scale * rot[1][1], t[1]],
    ]
}

/// RGB of pixel (x, y) of a packed frame (lm_pixel_format 0..4).
fn rgb_at(frame: &[u8], stride: usize, format: i32, x: usize, y: usize) -> [f64; 3] {
    let bpp = [3, 3, 4, 4, 1][format as usize];
    let p = &frame[y * stride + x * bpp..];
    let [r, g, b] = match format {
        0 | 2 => [p[2], p[1], p[0]],
        1 | 3 => [p[0], p[1], p[2]],
        _ => [p[0]; 3],
    };
    [f64::from(r), f64::from(g), f64::from(b)]
}

/// What cv2.warpAffine(frame, M, (side, side), INTER_LINEAR, BORDER_REPLICATE) computes, in
/// float64: chip pixel (i, j) samples the frame at M⁻¹(i, j), bilinear, edge replicated; RGB.
fn reference_chip(face: &EvalFace, m: &[[f64; 3]; 2], side: usize) -> Vec<u8> {
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let inv = [
        [m[1][1] / det, -m[0][1] / det],
        [-m[1][0] / det, m[0][0] / det],
    ];
    let (w, h) = (face.width as i64, face.height as i64);
    let mut out = Vec::with_capacity(side * side * 3);
    for j in 0..side {
        for i in 0..side {
            let (u, v) = (i as f64 - m[0][2], j as f64 - m[1][2]);
            let (x, y) = (inv[0][0] * u + inv[0][1] * v, inv[1][0] * u + inv[1][1] * v);
            let (x0, y0) = (x.floor(), y.floor());
            let (ax, ay) = (x - x0, y - y0);
            let clamp = |v: i64, hi: i64| v.clamp(0, hi - 1) as usize;
            let (x0, y0) = (x0 as i64, y0 as i64);
            let px = |xx: i64, yy: i64| {
                rgb_at(
                    &face.frame,
                    face.stride,
                    face.format,
                    clamp(xx, w),
                    clamp(yy, h),
                )
            };
            let (p00, p10, p01, p11) = (
                px(x0, y0),
                px(x0 + 1, y0),
                px(x0, y0 + 1),
                px(x0 + 1, y0 + 1),
            );
            for c in 0..3 {
                let v = (1.0 - ay) * ((1.0 - ax) * p00[c] + ax * p10[c])
                    + ay * ((1.0 - ax) * p01[c] + ax * p11[c]);
                out.push((v + 0.5).floor().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// The transform the library used, recovered from its own five points by the test's Umeyama:
/// the chip must match a warp of the original frame by it.
#[test]
fn every_chip_of_the_faces_set_matches_a_direct_warp_of_the_original_frame() {
    let p = pipeline(112, 8);
    let faces = eval_faces();
    for (i, face) in faces.iter().enumerate() {
        p.enqueue(i as u64, &face.raw(), &face.face_box()).unwrap();
    }
    println!(
        "face                                  box px  chip PSNR dB  fit residual √Σd² (chip px)"
    );
    let mut worst = f64::INFINITY;
    for (i, face) in faces.iter().enumerate() {
        let l = popped(&p, i as u64);
        assert_eq!(l.chip_side, 112, "{}", face.case);
        assert_eq!(l.chip.len(), 112 * 112 * 3);
        let five = five_points(&l.points);
        let target = TEMPLATE;
        let m = umeyama(&five, &target);
        // The library's least-squares transform, applied to its own points, leaves the same
        // residuals as Umeyama's: compare the two fits' residual sums via the library's API.
        let lib = lmbatch::chip::alignment(&five.map(|[x, y]| [x + 0.5, y + 0.5]), 112).unwrap();
        let residual = |f: &dyn Fn([f64; 2]) -> [f64; 2]| -> f64 {
            five.iter()
                .zip(&target)
                .map(|(s, t)| {
                    let q = f(*s);
                    (q[0] - t[0]).hypot(q[1] - t[1]).powi(2)
                })
                .sum()
        };
        let ours = residual(&|s| lib.apply(s));
        let theirs = residual(&|s| {
            [
                m[0][0] * s[0] + m[0][1] * s[1] + m[0][2],
                m[1][0] * s[0] + m[1][1] * s[1] + m[1][2],
            ]
        });
        assert!(
            (ours - theirs).abs() < 1e-6 * theirs.max(1.0),
            "{}: residual {ours} vs Umeyama's {theirs}",
            face.case
        );
        assert!((lib.a - m[0][0]).abs() < 1e-9 && (lib.b - m[1][0]).abs() < 1e-9);
        let reference = reference_chip(face, &m, 112);
        let db = psnr(&l.chip, &reference);
        let side = (face.bbox[2] - face.bbox[0]).max(face.bbox[3] - face.bbox[1]);
        println!(
            "{:36}  {side:6.0}  {db:12.1}  {:.2e}",
            face.case,
            ours.sqrt()
        );
        worst = worst.min(db);
        assert!(db >= 28.0, "{}: chip PSNR {db:.1} dB < 28", face.case);
        if side <= 200.0 {
            assert!(
                db >= 30.0,
                "{}: chip PSNR {db:.1} dB < 30 for a {side} px box",
                face.case
            );
        }
    }
    println!("worst chip PSNR: {worst:.1} dB over {} faces", faces.len());
}

/// BGR chips are the RGB chips with the bytes swapped (on a face cut by the frame's left edge,
/// whose replicated pixels the PSNR test checks).
#[test]
fn bgr_chips_are_rgb_chips_swapped() {
    let face = eval_faces()
        .into_iter()
        .find(|f| f.case.contains("edge_left"))
        .expect("the edge case");
    let rgb = pipeline(112, 1);
    let bgr = Pipeline::new(Config {
        backend: BackendChoice::Cpu,
        max_batch: 1,
        chip_size: 112,
        chip_format: lmbatch::chip::ChipFormat::Bgr,
        ..Config::default()
    })
    .unwrap();
    rgb.enqueue(1, &face.raw(), &face.face_box()).unwrap();
    bgr.enqueue(1, &face.raw(), &face.face_box()).unwrap();
    let (a, b) = (popped(&rgb, 1), popped(&bgr, 1));
    let swapped: Vec<u8> = a.chip.chunks(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
    assert_eq!(swapped, b.chip);
}

/// The middle half of a 112-px chip (eyes to mouth): what lies inside every frame here.
fn centre(chip: &[u8]) -> Vec<u8> {
    (28..84)
        .flat_map(|j| chip[(j * 112 + 28) * 3..(j * 112 + 84) * 3].to_vec())
        .collect()
}

/// The same face turned in the frame (by 5° to 93°) gives
/// the chip of the upright face: alignment undoes the roll. The crop is turned by the set's true
/// roll (a detector's eyes are up to 43° off on these frames, and the points with them). A chip
/// that kept the roll would be far off: the upright chip turned by 90° is the control.
#[test]
fn tilted_faces_give_upright_chips() {
    let p = pipeline(112, 1);
    let mut all = Vec::new();
    println!("case                                   roll deg  PSNR vs upright chip  PSNR vs it turned 90° (middle halves)");
    // Only the chips' middle halves are compared: a chip may reach past the frame at its rims.
    for (n, t) in turned_faces().iter().enumerate() {
        let (name, upright, roll) = (&t.name, &t.upright, t.truth_roll);
        let face = Face::with_roll(t.face_box(), roll);
        let frame = FrameRef {
            format: t.format,
            width: t.width,
            height: t.height,
            planes: [Some(&t.pixels[..]), None, None, None],
            strides: [
                if t.format == 4 { t.width } else { 3 * t.width } as usize,
                0,
                0,
                0,
            ],
            ..FrameRef::default()
        };
        let id = 1000 + n as u64;
        p.enqueue_frame(id, &frame, &face).unwrap();
        let tilted = popped(&p, id);
        p.enqueue(id + 500, &upright.raw(), &upright.face_box())
            .unwrap();
        let straight = popped(&p, id + 500);
        let db = psnr(&centre(&tilted.chip), &centre(&straight.chip));
        let turned: Vec<u8> = (0..112 * 112)
            .flat_map(|k| {
                let (i, j) = (k % 112, k / 112);
                let src = (i * 112 + (111 - j)) * 3; // the chip turned by 90°
                [
                    straight.chip[src],
                    straight.chip[src + 1],
                    straight.chip[src + 2],
                ]
            })
            .collect();
        let control = psnr(&centre(&tilted.chip), &centre(&turned));
        println!(
            "{name:38} {:8.1}  {db:20.1}  {control:20.1}",
            f64::from(roll).to_degrees()
        );
        assert!(
            db > control + 4.0,
            "{name}: {db:.1} dB is not clearly above the 90° control {control:.1}"
        );
        all.push(db);
    }
    assert!(all.len() >= 6, "only {} tilted faces compared", all.len());
    // The points of a turned frame differ a little from the upright frame's (another crop, and a
    // prescaled frame): most chips still agree closely (the cameraman, half in profile, least).
    all.sort_by(f64::total_cmp);
    let median = all[all.len() / 2];
    println!("median {median:.1} dB over {} faces", all.len());
    assert!(median >= 28.0, "median {median:.1} dB");
}

/// A face alone and in every slot of a batch of 32 gets the same pose, quality and chip (a
/// level's difference allowed where the batch moves a point by a rounding).
#[test]
fn pose_quality_and_chip_do_not_depend_on_the_batch() {
    let face = astronaut();
    let alone = pipeline(112, 1);
    alone.enqueue(1, &face.raw(), &face.face_box()).unwrap();
    let reference = popped(&alone, 1);
    let batched = Pipeline::new(Config {
        backend: BackendChoice::Cpu,
        max_batch: 32,
        max_wait: Duration::from_secs(5),
        chip_size: 112,
        ..Config::default()
    })
    .unwrap();
    let gray = Gray::new();
    for slot in [0u64, 13, 31] {
        for k in 0..32u64 {
            let id = slot * 100 + k;
            if k == slot {
                batched.enqueue(id, &face.raw(), &face.face_box()).unwrap();
            } else {
                batched.enqueue(id, &gray.raw(), &center_face()).unwrap();
            }
        }
        let l = popped(&batched, slot * 100 + slot);
        let worst = l
            .chip
            .iter()
            .zip(&reference.chip)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "slot {slot}: chip differs by {worst} levels");
        for (a, b) in [
            (l.pose.yaw, reference.pose.yaw),
            (l.pose.pitch, reference.pose.pitch),
            (l.pose.roll, reference.pose.roll),
            (l.quality.overall, reference.quality.overall),
            (l.quality.sharpness, reference.quality.sharpness),
        ] {
            assert!((a - b).abs() < 1e-4, "slot {slot}: {a} vs {b}");
        }
        for k in 0..32u64 {
            if k != slot {
                popped(&batched, slot * 100 + k);
            }
        }
    }
}

fn chip_config(chip_size: u32) -> lm_config {
    let mut cfg = default_config();
    cfg.backend = lm_backend::LM_BACKEND_CPU as i32;
    cfg.max_batch = 1;
    cfg.max_wait_us = 0;
    cfg.chip_size = chip_size;
    cfg
}

#[test]
fn hostile_chip_buffers_and_settings() {
    // Out of range at create.
    let (st, _, msg) = create(&chip_config(1025));
    assert_eq!(st, LM_STATUS_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains("chip_size"), "{msg}");
    let mut cfg = chip_config(112);
    cfg.chip_format = 7;
    let (st, _, msg) = create(&cfg);
    assert_eq!(st, LM_STATUS_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains("chip_format"), "{msg}");

    let (st, h, msg) = create(&chip_config(112));
    assert_eq!(st, LM_STATUS_OK, "{msg}");
    let face = astronaut();
    let (image, bx) = (face.image(), face.lm_box());
    let mut points = vec![0f32; 468 * 3];
    let mut chip = vec![0xAAu8; 112 * 112 * 3 + 16];
    // SAFETY: live handle, valid frame, box and buffers of the stated sizes.
    unsafe {
        assert_eq!(lm_enqueue(h, 1, &image, &bx), LM_STATUS_OK);
        // One byte short: BUFFER_TOO_SMALL, chip_side said, nothing written, nothing consumed.
        let mut out = landmarks_buf(&mut points);
        out.chip = chip.as_mut_ptr();
        out.chip_capacity = 112 * 112 * 3 - 1;
        assert_eq!(
            lm_pop_wait(h, 1, 120_000, &mut out),
            LM_STATUS_BUFFER_TOO_SMALL
        );
        assert_eq!(out.chip_side, 112);
        assert!(
            chip.iter().all(|&b| b == 0xAA),
            "a refused pop wrote the chip"
        );
        // Enough room: the chip, and not one byte past it.
        out.chip_capacity = 112 * 112 * 3;
        assert_eq!(lm_pop(h, 1, &mut out), LM_STATUS_OK);
        assert_eq!(out.chip_side, 112);
        assert_eq!(out.num_points, 468);
        assert!(
            chip[112 * 112 * 3..].iter().all(|&b| b == 0xAA),
            "written past the chip"
        );
        assert!(chip[..112 * 112 * 3].iter().any(|&b| b != 0xAA));

        // NULL chip with chip_size set: the points, no chip, chip_side 0.
        assert_eq!(lm_enqueue(h, 2, &image, &bx), LM_STATUS_OK);
        let mut out = landmarks_buf(&mut points);
        out.chip_side = 99;
        assert_eq!(lm_pop_wait(h, 2, 120_000, &mut out), LM_STATUS_OK);
        assert_eq!(out.num_points, 468);
        assert_eq!(out.chip_side, 0);

        // An ABI 1.3 caller's struct (up to track_roll): no chip, nothing written past it.
        assert_eq!(lm_enqueue(h, 3, &image, &bx), LM_STATUS_OK);
        let old_size = std::mem::offset_of!(lm_landmarks, track_roll) + 4;
        let mut out = landmarks_buf(&mut points);
        out.struct_size = old_size;
        out.chip = chip.as_mut_ptr(); // garbage to a 1.3 caller: never read
        out.chip_capacity = 1;
        let canary = out;
        assert_eq!(lm_pop_wait(h, 3, 120_000, &mut out), LM_STATUS_OK);
        assert_eq!(out.num_points, 468);
        assert_eq!(out.chip_side, canary.chip_side);
        assert_eq!(out.yaw.to_bits(), canary.yaw.to_bits());
        lm_destroy(h);
    }
}

/// chip_size needs the five points: a descriptor whose custom scheme names only the eyes is
/// refused at create, with a message that says why.
#[test]
fn a_model_without_the_five_points_cannot_make_chips() {
    let dir = std::env::temp_dir().join(format!("lmbatch-chip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundled = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/face_landmark_468.lmbatch.toml"),
    )
    .unwrap();
    let eyes_only = bundled.replace(
        "name = \"mediapipe468\"",
        "name = \"custom\"\nright_eye = [33, 133]\nleft_eye = [263, 362]",
    );
    assert_ne!(eyes_only, bundled);
    let desc = dir.join("eyes_only.lmbatch.toml");
    std::fs::write(&desc, eyes_only).unwrap();
    let make = |chip_size| {
        Pipeline::new(Config {
            backend: BackendChoice::Cpu,
            chip_size,
            model_desc: Some(desc.clone()),
            ..Config::default()
        })
    };
    let err = make(112).err().expect("refused");
    assert_eq!(err.kind(), lmbatch::ErrorKind::InvalidArgument);
    assert!(err.message().contains("nose tip"), "{}", err.message());
    assert!(make(0).is_ok(), "without a chip the same model runs");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The astronaut as NV12 (BT.601 limited range, chroma the mean of each 2×2 block): the planes a
/// decoder would hand over.
fn astronaut_nv12(face: &EvalFace) -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (face.width as usize, face.height as usize);
    let rgb = |x: usize, y: usize| rgb_at(&face.frame, face.stride, face.format, x, y);
    let mut luma = vec![0u8; w * h];
    let mut uv = vec![0u8; w * h / 2];
    for y in 0..h {
        for x in 0..w {
            let [r, g, b] = rgb(x, y);
            luma[y * w + x] = (16.0 + 0.2568 * r + 0.5041 * g + 0.0979 * b + 0.5) as u8;
        }
    }
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let mut m = [0.0; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = rgb(x + dx, y + dy);
                for c in 0..3 {
                    m[c] += p[c] / 4.0;
                }
            }
            let [r, g, b] = m;
            uv[(y / 2) * w + x] = (128.0 - 0.1482 * r - 0.2910 * g + 0.4392 * b + 0.5) as u8;
            uv[(y / 2) * w + x + 1] = (128.0 + 0.4392 * r - 0.3678 * g - 0.0714 * b + 0.5) as u8;
        }
    }
    (luma, uv)
}

/// A decoder's NV12 frame gives the chip of the same face in RGB (the kept square is converted
/// at enqueue, upright or turned): the difference is the 4:2:0 chroma and the conversion.
#[test]
fn nv12_frames_give_the_chip_of_the_rgb_frame() {
    let face = astronaut();
    assert_eq!(face.format, 1, "the astronaut is RGB8");
    let (luma, uv) = astronaut_nv12(&face);
    let p = pipeline(112, 1);
    for (k, roll) in [None, Some(0.2f32)].into_iter().enumerate() {
        let make = |b: lmbatch::FaceBox| match roll {
            Some(r) => Face::with_roll(b, r),
            None => Face::upright(b),
        };
        let nv12 = FrameRef {
            format: 16,
            width: face.width,
            height: face.height,
            planes: [Some(&luma[..]), Some(&uv[..]), None, None],
            strides: [face.width as usize, face.width as usize, 0, 0],
            color_matrix: 5, // BT.601
            color_range: 1,  // limited
            ..FrameRef::default()
        };
        let rgb = FrameRef {
            format: 1,
            width: face.width,
            height: face.height,
            planes: [Some(&face.frame[..]), None, None, None],
            strides: [face.stride, 0, 0, 0],
            ..FrameRef::default()
        };
        let id = 10 * k as u64;
        p.enqueue_frame(id, &nv12, &make(face.face_box())).unwrap();
        p.enqueue_frame(id + 1, &rgb, &make(face.face_box()))
            .unwrap();
        let (a, b) = (popped(&p, id), popped(&p, id + 1));
        assert_eq!(a.chip_side, 112);
        let db = psnr(&a.chip, &b.chip);
        println!("roll {roll:?}: NV12 chip vs RGB chip {db:.1} dB");
        assert!(db >= 30.0, "roll {roll:?}: {db:.1} dB");
    }
}
