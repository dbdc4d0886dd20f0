//! Every descriptor convention against known answers (issue 17): the bundled network wrapped in
//! graph ops by scripts/make-convention-models.py, once per convention (NHWC, BGR, mean/std of
//! [-1,1], u8, f16, transposed input, planar order, unit and signed_unit spaces, logit and softmax
//! scores, no score, 2-D points, a non-square 256 x 192 input (plain, and transposed NHWC with
//! points in [0,1]), and all of them at once), each with its descriptor. Through
//! lm_create on every CPU backend that runs here, each must give the bundled model's points.
//!
//! The models are generated into the target folder at test time (about 2.4 MB each). Without
//! Python's `onnx` the tests are skipped with the reason, unless
//! LMBATCH_REQUIRE_CONVENTION_MODELS=1 (scripts/test.sh and .ci/run make the venv and set it).
#![cfg(feature = "cpu-tract")]

mod common;

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;

const SCRIPT: &str = "scripts/make-convention-models.py";

/// The wrapped models (name, what the script calls the convention), in the script's order.
const CONVENTIONS: [&str; 16] = [
    "nhwc",
    "bgr",
    "signed_input",
    "u8",
    "f16",
    "transposed",
    "planar",
    "unit",
    "signed_unit",
    "logit",
    "softmax",
    "no_score",
    "xy_only",
    "wide",
    "wide_transposed_unit",
    "combined",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python that can run the script: LMBATCH_CONVENTION_PYTHON, else the venv of
/// scripts/convention-venv.sh, else python3; `Err` says why none can.
fn python() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("LMBATCH_CONVENTION_PYTHON") {
        Some(p) => vec![p.into()],
        None => vec![
            root().join("target/convention-venv/bin/python"),
            "python3".into(),
        ],
    };
    for py in &candidates {
        let ok = Command::new(py)
            .args(["-c", "import onnx, numpy"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(py.clone());
        }
    }
    Err(format!(
        "no Python with the onnx and numpy packages among {candidates:?} (make one with \
         scripts/convention-venv.sh, or set LMBATCH_CONVENTION_PYTHON)"
    ))
}

/// The folder of the generated models, made once per script version; `None` (with the reason
/// printed) when they cannot be made and LMBATCH_REQUIRE_CONVENTION_MODELS is not 1.
fn convention_models() -> Option<PathBuf> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let made = DIR.get_or_init(|| {
        let script = std::fs::read(root().join(SCRIPT)).map_err(|e| format!("{SCRIPT}: {e}"))?;
        // The folder is named after the script's text, so an edited script makes new models
        // (the target folder is shared between checkouts).
        let tag = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            script.hash(&mut h);
            h.finish()
        };
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("conventions-{tag:016x}"));
        if dir.join("combined.lmbatch.toml").is_file() {
            return Ok(dir);
        }
        let py = python()?;
        // Written aside and renamed, so a concurrent run never sees half a folder.
        let partial = dir.with_extension(format!("partial-{}", std::process::id()));
        let out = Command::new(&py)
            .arg(root().join(SCRIPT))
            .arg(&partial)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", py.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{SCRIPT} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if std::fs::rename(&partial, &dir).is_err() {
            // Another run made it first.
            let _ = std::fs::remove_dir_all(&partial);
        }
        Ok(dir)
    });
    match made {
        Ok(dir) => Some(dir.clone()),
        Err(why) if std::env::var("LMBATCH_REQUIRE_CONVENTION_MODELS").as_deref() == Ok("1") => {
            panic!("convention models required (LMBATCH_REQUIRE_CONVENTION_MODELS=1): {why}")
        }
        Err(why) => {
            println!("SKIPPED: convention models cannot be made: {why}");
            None
        }
    }
}

fn c_path(p: &Path) -> CString {
    CString::new(p.to_str().expect("a UTF-8 path")).expect("no NUL")
}

/// lm_create on `backend` for `model` (None: the bundled one) with `desc` as model_desc_path.
fn create_described(
    backend: i32,
    model: Option<&Path>,
    desc: Option<&Path>,
    self_check: bool,
) -> (lm_status, *mut lm_handle, String) {
    let (model_c, desc_c) = (model.map(c_path), desc.map(c_path));
    let mut cfg = default_config();
    cfg.backend = backend;
    cfg.max_wait_us = 0;
    cfg.self_check = i32::from(self_check);
    if let Some(m) = &model_c {
        cfg.model_path = m.as_ptr();
    }
    if let Some(d) = &desc_c {
        cfg.model_desc_path = d.as_ptr();
    }
    create(&cfg)
}

/// Every face of the set through `h`: (points, score) per face; the handle is destroyed.
fn run_faces(h: *mut lm_handle, faces: &[EvalFace]) -> Vec<(Vec<f32>, f32)> {
    for (id, face) in faces.iter().enumerate() {
        // SAFETY: live handle, valid frame and box.
        let st = unsafe { lm_enqueue(h, id as u64, &face.image(), &face.lm_box()) };
        assert_eq!(st, LM_STATUS_OK);
    }
    let got = (0..faces.len())
        .map(|id| {
            let mut buf = vec![0f32; 468 * 3];
            let mut out = landmarks_buf(&mut buf);
            // SAFETY: live handle, buffer of 468 points.
            let st = unsafe { lm_pop_wait(h, id as u64, 120_000, &mut out) };
            assert_eq!(st, LM_STATUS_OK, "face {id}");
            assert_eq!(out.num_points, 468);
            (buf, out.face_score)
        })
        .collect();
    // SAFETY: live handle, not used after.
    unsafe { lm_destroy(h) };
    got
}

/// The worst |difference| of x and y over every point of every face.
fn worst_xy(a: &[(Vec<f32>, f32)], b: &[(Vec<f32>, f32)]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|((p, _), (q, _))| {
            p.chunks_exact(3)
                .zip(q.chunks_exact(3))
                .flat_map(|(u, v)| [(u[0] - v[0]).abs(), (u[1] - v[1]).abs()])
        })
        .fold(0f32, f32::max)
}

#[test]
fn every_convention_gives_the_bundled_models_points() {
    let Some(dir) = convention_models() else {
        return;
    };
    let faces = eval_faces();
    for (backend, backend_name) in cpu_backends() {
        if backend_name == "tensorrt" {
            continue;
        }
        let (status, h, message) = create_described(backend, None, None, true);
        assert_eq!(status, LM_STATUS_OK, "{backend_name}: {message}");
        let want = run_faces(h, &faces);
        for name in CONVENTIONS {
            let (model, desc) = (
                dir.join(format!("{name}.onnx")),
                dir.join(format!("{name}.lmbatch.toml")),
            );
            let (status, h, message) = create_described(backend, Some(&model), Some(&desc), true);
            assert_eq!(status, LM_STATUS_OK, "{backend_name} {name}: {message}");
            let got = run_faces(h, &faces);
            let worst = worst_xy(&got, &want);
            let worst_z = got
                .iter()
                .zip(&want)
                .flat_map(|((p, _), (q, _))| {
                    p.chunks_exact(3)
                        .zip(q.chunks_exact(3))
                        .map(|(u, v)| (u[2] - v[2]).abs())
                })
                .fold(0f32, f32::max);
            let worst_score = got
                .iter()
                .zip(&want)
                .map(|((_, s), (_, t))| (s - t).abs())
                .fold(0f32, f32::max);
            let z = match name {
                "xy_only" => "z written as 0".to_string(),
                _ => format!("|dz| {worst_z:.2e}"),
            };
            let score = match name {
                "no_score" => "score -1".to_string(),
                _ => format!("|d score| {worst_score:.2e}"),
            };
            println!("{backend_name:<15} {name:<12} worst |dx|,|dy| {worst:.2e} px, {z}, {score}");
            // The bounds: 1e-3 px, and 0.05 px for a half-float input (its 11-bit
            // significand rounds each input value by up to 2^-12 of it).
            if name.starts_with("wide") {
                check_wide(backend_name, name, &faces, &got, &want);
                continue;
            }
            let tolerance = if name == "f16" { 0.05 } else { 1e-3 };
            let score_tolerance = if name == "f16" { 1e-3 } else { 1e-5 };
            assert!(worst <= tolerance, "{backend_name} {name}: {worst} px");
            match name {
                // z is written as 0 for a 2-D model.
                "xy_only" => assert!(
                    got.iter()
                        .all(|(p, _)| p.chunks_exact(3).all(|q| q[2] == 0.0)),
                    "{backend_name}: a 2-D model's z must be 0"
                ),
                _ => assert!(
                    worst_z <= tolerance,
                    "{backend_name} {name}: z off by {worst_z}"
                ),
            }
            match name {
                "no_score" => assert!(
                    got.iter().all(|(_, s)| *s == -1.0),
                    "{backend_name}: no score is -1"
                ),
                // A probability as given, sigmoid of the logit, softmax column 1: the same score.
                _ => assert!(
                    worst_score <= score_tolerance,
                    "{backend_name} {name}: {worst_score}"
                ),
            }
        }
    }
}

/// A 256 x 192 wrapper against the bundled model. Its Resize op samples the 256 x 192 crop again
/// at 192 x 192 (a second interpolation of 8-bit pixels), so its points are not the bundled
/// ones to 1e-3 px: measured, 0.04 px of bias and up to 2 px on one face. What a wrong mapping
/// would break: the mean offset (an axis scaled by the other's size moves points by up to a
/// third of the crop), and the accuracy on the faces set (DESIGN: set mean NME ≤ 0.25%, every
/// face ≤ 1%).
fn check_wide(
    backend_name: &str,
    name: &str,
    faces: &[EvalFace],
    got: &[(Vec<f32>, f32)],
    want: &[(Vec<f32>, f32)],
) {
    let (mut dx, mut dy, mut count) = (0f64, 0f64, 0f64);
    for ((p, _), (q, _)) in got.iter().zip(want) {
        for (u, v) in p.chunks_exact(3).zip(q.chunks_exact(3)) {
            dx += f64::from(u[0] - v[0]);
            dy += f64::from(u[1] - v[1]);
            count += 1.0;
        }
    }
    let (dx, dy) = (dx / count, dy / count);
    let nme: Vec<f64> = faces.iter().zip(got).map(|(f, (p, _))| f.nme(p)).collect();
    let bundled: Vec<f64> = faces.iter().zip(want).map(|(f, (p, _))| f.nme(p)).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let worst_nme = nme.iter().copied().fold(0f64, f64::max);
    println!(
        "{backend_name:<15} {name:<12} mean dx {dx:+.3} px, dy {dy:+.3} px; set NME {:.3}% \
         (bundled {:.3}%), worst face {:.3}%",
        100.0 * mean(&nme),
        100.0 * mean(&bundled),
        100.0 * worst_nme
    );
    assert!(
        dx.abs() <= 0.25 && dy.abs() <= 0.25,
        "{backend_name} {name}: mean offset ({dx}, {dy}) px"
    );
    assert!(
        mean(&nme) <= 0.0025 && worst_nme <= 0.01,
        "{backend_name} {name}: NME {nme:?}"
    );
}

/// The golden check's outcome for one descriptor: the status, lm_create's message and the log.
fn create_checked(backend: i32, model: &Path, desc: &Path) -> (lm_status, String, Vec<String>) {
    let sink = LogSink::default();
    let (model_c, desc_c) = (c_path(model), c_path(desc));
    let mut cfg = default_config();
    cfg.backend = backend;
    cfg.self_check = 1;
    cfg.model_path = model_c.as_ptr();
    cfg.model_desc_path = desc_c.as_ptr();
    cfg.log_fn = Some(collect_log);
    cfg.log_user = &sink as *const LogSink as *mut std::ffi::c_void;
    let (status, h, message) = create(&cfg);
    if !h.is_null() {
        // SAFETY: live handle, not used after.
        unsafe { lm_destroy(h) };
    }
    let log = sink.lock().iter().map(|(_, line)| line.clone()).collect();
    (status, message, log)
}

/// The distance in a golden message ("... lies 3.21 px from ..." or "... at 0.000 px ...").
fn distance_in(text: &str) -> Option<f32> {
    let before = text.split(" px").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

/// `text` with each (from, to) replaced once; `from` must occur.
fn edited(text: &str, edits: &[(&str, &str)]) -> String {
    edits.iter().fold(text.to_string(), |t, (from, to)| {
        assert!(t.contains(from), "{from}");
        t.replacen(from, to, 1)
    })
}

/// A `[check]` table for the astronaut (tests/data/astronaut.png, crop.json's box) expecting
/// `points`, as a descriptor in `dir` would carry it.
fn astronaut_check(points: &[f32], tolerance_px: f32) -> String {
    let face = astronaut();
    let expect: Vec<String> = points
        .chunks_exact(3)
        .map(|p| format!("[{}, {}]", p[0], p[1]))
        .collect();
    format!(
        "\n[check]\nimage = {:?}\nbox = [{}, {}, {}, {}]\nexpect = [{}]\ntolerance_px = {tolerance_px}\n",
        data_dir().join("astronaut.png").display().to_string(),
        face.bbox[0],
        face.bbox[1],
        face.bbox[2],
        face.bbox[3],
        expect.join(", ")
    )
}

#[test]
fn the_golden_check_passes_true_descriptors_and_catches_lying_ones() {
    let dir = std::env::temp_dir().join(format!("lmbatch-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let models = root().join("models");
    let model_478 = models.join("face_landmarks_478.onnx");
    let desc_478 = models.join("face_landmarks_478.lmbatch.toml");
    let text_478 = std::fs::read_to_string(&desc_478).unwrap().replace(
        "image = \"face_landmarks_478.check.png\"",
        &format!(
            "image = {:?}",
            models
                .join("face_landmarks_478.check.png")
                .display()
                .to_string()
        ),
    );
    let wrapped = convention_models();
    for (backend, backend_name) in cpu_backends() {
        if backend_name == "tensorrt" {
            continue;
        }
        // (what, model, descriptor text, must pass)
        let mut cases: Vec<(&str, PathBuf, String, bool)> = vec![
            (
                "478: its own descriptor",
                model_478.clone(),
                text_478.clone(),
                true,
            ),
            (
                "478: wrong mean/std ([-1,1] for [0,1])",
                model_478.clone(),
                edited(
                    &text_478,
                    &[
                        ("mean = [0.0, 0.0, 0.0]", "mean = [127.5, 127.5, 127.5]"),
                        ("std = [255.0, 255.0, 255.0]", "std = [127.5, 127.5, 127.5]"),
                    ],
                ),
                false,
            ),
            (
                "478: swapped channels (BGR for RGB)",
                model_478.clone(),
                edited(&text_478, &[("channels = \"RGB\"", "channels = \"BGR\"")]),
                false,
            ),
        ];
        if let Some(wrapped) = &wrapped {
            // The bundled model's points on the astronaut are what the wrappers must give.
            let (status, h, message) = create_described(backend, None, None, true);
            assert_eq!(status, LM_STATUS_OK, "{message}");
            let want = run_faces(h, &[astronaut()]);
            // 0.25 px: 100x the engines' spread, below the 0.67 px a wrong normalisation moves a point.
            let check = astronaut_check(&want[0].0, 0.25);
            for (name, edits, pass) in [
                ("transposed", vec![], true),
                (
                    "transposed",
                    vec![("transpose = true", "transpose = false")],
                    false,
                ),
                ("bgr", vec![], true),
                (
                    "bgr",
                    vec![("channels = \"BGR\"", "channels = \"RGB\"")],
                    false,
                ),
                ("signed_input", vec![], true),
                (
                    "signed_input",
                    vec![
                        ("mean = [127.5, 127.5, 127.5]", "mean = [0.0, 0.0, 0.0]"),
                        ("std = [127.5, 127.5, 127.5]", "std = [255.0, 255.0, 255.0]"),
                    ],
                    false,
                ),
            ] {
                let text =
                    std::fs::read_to_string(wrapped.join(format!("{name}.lmbatch.toml"))).unwrap();
                let what = match (name, pass) {
                    ("transposed", false) => "468 transposed wrapper: transpose missing",
                    ("bgr", false) => "468 BGR wrapper: swapped channels (RGB)",
                    ("signed_input", false) => "468 [-1,1] wrapper: wrong mean/std ([0,1])",
                    ("transposed", true) => "468 transposed wrapper: its descriptor",
                    ("bgr", true) => "468 BGR wrapper: its descriptor",
                    _ => "468 [-1,1] wrapper: its descriptor",
                };
                cases.push((
                    what,
                    wrapped.join(format!("{name}.onnx")),
                    edited(&text, &edits) + &check,
                    pass,
                ));
            }
        }
        for (i, (what, model, text, pass)) in cases.iter().enumerate() {
            let desc = dir.join(format!("case{i}.lmbatch.toml"));
            std::fs::write(&desc, text).unwrap();
            let (status, message, log) = create_checked(backend, model, &desc);
            // The worst point's distance: logged when the check passes, in the error otherwise.
            let measured = match status {
                LM_STATUS_OK => log
                    .iter()
                    .find(|l| l.contains("golden check passed"))
                    .and_then(|l| distance_in(l)),
                _ => distance_in(&message),
            };
            let verdict = if status == LM_STATUS_OK {
                "passes"
            } else {
                "CAUGHT"
            };
            println!(
                "{backend_name:<15} {what:<45} {verdict}, worst point {:.4} px",
                measured.unwrap_or(f32::NAN)
            );
            if *pass {
                assert_eq!(status, LM_STATUS_OK, "{backend_name} {what}: {message}");
                assert!(
                    measured.is_some(),
                    "{backend_name} {what}: no golden line in {log:?}"
                );
            } else {
                assert_eq!(
                    status, LM_STATUS_MODEL_ERROR,
                    "{backend_name} {what}: a lying descriptor passed the golden check"
                );
                assert!(
                    message.contains("golden check failed") && measured.is_some(),
                    "{message}"
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_golden_check_runs_only_with_self_check_and_needs_its_image() {
    let models = root().join("models");
    let model = models.join("face_landmarks_478.onnx");
    let text = std::fs::read_to_string(models.join("face_landmarks_478.lmbatch.toml")).unwrap();
    let dir = std::env::temp_dir().join(format!("lmbatch-golden-off-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cpu = lm_backend::LM_BACKEND_CPU as i32;
    // A relative image is taken from the descriptor's folder: none here.
    let desc = dir.join("moved.lmbatch.toml");
    std::fs::write(&desc, &text).unwrap();
    let (status, message, _) = create_checked(cpu, &model, &desc);
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(
        message.contains("check.image") && message.contains("face_landmarks_478.check.png"),
        "{message}"
    );
    // self_check off: neither the image nor the points are looked at (a lie passes).
    let lying = text.replace("channels = \"RGB\"", "channels = \"BGR\"");
    std::fs::write(&desc, lying).unwrap();
    let (status, h, message) = create_described(cpu, Some(&model), Some(&desc), false);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    // SAFETY: live handle, not used after.
    unsafe { lm_destroy(h) };
    let _ = std::fs::remove_dir_all(&dir);
}

/// The tensors of a config.pbtxt as Triton reports them in ModelMetadata: (name, OIP datatype,
/// [-1, dims…]) for each input, then each output (a line parser for the script's own layout).
fn served_tensors(pbtxt: &str) -> Vec<(String, String, Vec<i64>)> {
    let mut tensors = Vec::new();
    let (mut name, mut datatype) = (String::new(), String::new());
    for line in pbtxt.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("name: ") {
            name = v.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("data_type: TYPE_") {
            datatype = v.to_string();
        } else if let Some(v) = line.strip_prefix("dims: [") {
            let mut dims = vec![-1i64];
            dims.extend(
                v.trim_end_matches(']')
                    .split(',')
                    .map(|d| d.trim().parse::<i64>().expect("a dimension")),
            );
            tensors.push((name.clone(), datatype.clone(), dims));
        }
    }
    tensors
}

/// scripts/triton-model-repo.sh on a described model (the shipped 478) writes a config whose
/// tensors REMOTE accepts for that descriptor, and refuses a descriptor that disagrees with the
/// ONNX, naming the key.
#[cfg(feature = "remote")]
#[test]
fn the_triton_repository_script_serves_a_described_model_as_remote_checks_it() {
    let py = match python() {
        Ok(py) => py,
        Err(why) if std::env::var("LMBATCH_REQUIRE_CONVENTION_MODELS").as_deref() == Ok("1") => {
            panic!("a Python with onnx is required: {why}")
        }
        Err(why) => {
            println!("SKIPPED: {why}");
            return;
        }
    };
    let out = std::env::temp_dir().join(format!("lmbatch-triton-repo-{}", std::process::id()));
    let model = root().join("models/face_landmarks_478.onnx");
    let desc = root().join("models/face_landmarks_478.lmbatch.toml");
    let run = |desc: &Path| {
        Command::new(root().join("scripts/triton-model-repo.sh"))
            .arg(&out)
            .arg(&model)
            .arg(desc)
            .arg("mesh478")
            .env("PYTHON", &py)
            .output()
            .expect("the script runs")
    };
    let done = run(&desc);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let pbtxt = std::fs::read_to_string(out.join("mesh478/config.pbtxt")).unwrap();
    assert!(out.join("mesh478/1/model.onnx").is_file());
    let tensors = served_tensors(&pbtxt);
    println!("served: {tensors:?}");
    let info = |t: &(String, String, Vec<i64>)| lmbatch::backend::remote::TensorInfo {
        name: t.0.clone(),
        datatype: t.1.clone(),
        shape: t.2.clone(),
    };
    let (inputs, outputs): (Vec<_>, Vec<_>) = (
        tensors[..1].iter().map(info).collect(),
        tensors[1..].iter().map(info).collect(),
    );
    let text = std::fs::read_to_string(&desc).unwrap();
    let d = lmbatch::descriptor::Descriptor::parse(&text, "478").unwrap();
    let spec = lmbatch::model::ModelSpec::from_descriptor(&d).unwrap();
    assert_eq!(
        lmbatch::backend::remote::check_described(&spec, &inputs, &outputs).unwrap(),
        "input_12"
    );
    // A descriptor whose layout disagrees with the model is refused, naming the keys.
    let lying = out.join("lying.lmbatch.toml");
    std::fs::write(
        &lying,
        text.replace("layout = \"NHWC\"", "layout = \"NCHW\""),
    )
    .unwrap();
    let refused = run(&lying);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && why.contains("input.size"),
        "{why}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
