//! LM_BACKEND_REMOTE against REAL servers on 127.0.0.1, started by scripts/test-remote-servers.sh:
//! Triton (nvidia-pytriton's tritonserver) and MLServer, both serving face_landmark_468_u8.onnx
//! over onnxruntime (the first Triton also serves the described 478-point model as
//! `face_landmarks_478`), and a second Triton serving gRPC over TLS with a certificate the script
//! made for the run (its test CA in LMBATCH_TLS_CA, an unrelated CA in LMBATCH_TLS_WRONG_CA).
//! The tests are #[ignore]d, so a plain `cargo test` does not count them as
//! passed; the script runs them with `--ignored`, and without the servers (the env vars below
//! unset) each one fails, naming what is missing.
#![cfg(feature = "remote")]

mod common;

use std::ffi::CString;
use std::time::Instant;

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;

const TRITON: &str = "LMBATCH_TRITON_URL";
const MLSERVER: &str = "LMBATCH_MLSERVER_URL";
const TRITON_TLS: &str = "LMBATCH_TRITON_TLS_URL";
const TLS_CA: &str = "LMBATCH_TLS_CA";
const TLS_WRONG_CA: &str = "LMBATCH_TLS_WRONG_CA";

const NEEDS_SERVERS: &str = "needs real Triton and MLServer: scripts/test-remote-servers.sh";

/// The URL of a server the script started; without it the test fails, naming what is missing.
fn server(var: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("{var} is not set: {NEEDS_SERVERS} starts the servers"),
    }
}

struct Remote {
    cfg: lm_config,
    _strings: Vec<CString>,
}

/// `remote()` trusting the PEM bundle `ca` for https://.
fn remote_with_ca(endpoints: &str, ca: &str) -> Remote {
    let mut r = remote(endpoints, None);
    let ca = CString::new(ca).unwrap();
    r.cfg.remote_ca_file = ca.as_ptr();
    r._strings.push(ca);
    r
}

fn remote(endpoints: &str, model: Option<&str>) -> Remote {
    let mut cfg = default_config();
    let e = CString::new(endpoints).unwrap();
    cfg.backend = lm_backend::LM_BACKEND_REMOTE as i32;
    cfg.remote_endpoints = e.as_ptr();
    cfg.remote_timeout_ms = 10_000;
    let mut strings = vec![e];
    if let Some(m) = model {
        let m = CString::new(m).unwrap();
        cfg.remote_model = m.as_ptr();
        strings.push(m);
    }
    Remote {
        cfg,
        _strings: strings,
    }
}

/// The local reference: ONNX Runtime when it loads (ORT_DYLIB_PATH), else tract.
fn local_handle() -> *mut lm_handle {
    let mut cfg = default_config();
    cfg.backend = if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        lm_backend::LM_BACKEND_ONNXRUNTIME as i32
    } else {
        lm_backend::LM_BACKEND_CPU as i32
    };
    let (status, h, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    h
}

fn run_faces(h: *mut lm_handle, faces: &[EvalFace]) -> Vec<Vec<f32>> {
    for (id, f) in faces.iter().enumerate() {
        // SAFETY: live handle, valid frame.
        assert_eq!(
            unsafe { lm_enqueue(h, id as u64, &f.image(), &f.lm_box()) },
            LM_STATUS_OK
        );
    }
    (0..faces.len())
        .map(|id| {
            let mut points = vec![0f32; 468 * 3];
            let mut out = landmarks_buf(&mut points);
            // SAFETY: live handle, 468-point buffer.
            let s = unsafe { lm_pop_wait(h, id as u64, 30_000, &mut out) };
            assert_eq!(s, LM_STATUS_OK, "face {id}");
            points
        })
        .collect()
}

fn equals_local(var: &str, ca_var: Option<&str>) {
    let url = server(var);
    let r = match ca_var {
        Some(ca_var) => remote_with_ca(&url, &server(ca_var)),
        None => remote(&url, None),
    };
    let (status, h, message) = create(&r.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let local = local_handle();
    let faces = eval_faces();
    let got = run_faces(h, &faces);
    let want = run_faces(local, &faces);
    let mut worst = 0f32;
    for (g, w) in got.iter().zip(&want) {
        worst = g
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(worst, f32::max);
    }
    println!(
        "{var}: {} faces, worst point difference vs local {worst:e} px",
        faces.len()
    );
    assert!(worst <= 1e-3, "REMOTE differs from local by {worst} px");
    // SAFETY: live handles.
    unsafe {
        lm_destroy(h);
        lm_destroy(local);
    }
}

/// A described model through real Triton: the 478-point model served as `face_landmarks_478`
/// (FP32 NHWC 256 in, the raw logit out), its ModelMetadata checked against the shipped
/// descriptor, the faces set against a local run of the same model and descriptor.
#[test]
#[ignore = "needs real Triton and MLServer: scripts/test-remote-servers.sh"]
fn the_478_model_through_triton_equals_the_local_run() {
    let url = server(TRITON);
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let model = CString::new(models.join("face_landmarks_478.onnx").to_str().unwrap()).unwrap();
    let desc = CString::new(
        models
            .join("face_landmarks_478.lmbatch.toml")
            .to_str()
            .unwrap(),
    )
    .unwrap();
    let mut r = remote(&url, Some("face_landmarks_478"));
    r.cfg.model_path = model.as_ptr();
    r.cfg.model_desc_path = desc.as_ptr();
    let (status, h, message) = create(&r.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let mut cfg = default_config();
    cfg.backend = if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        lm_backend::LM_BACKEND_ONNXRUNTIME as i32
    } else {
        lm_backend::LM_BACKEND_CPU as i32
    };
    cfg.model_path = model.as_ptr();
    cfg.model_desc_path = desc.as_ptr();
    let (status, local, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let faces = eval_faces();
    let mut worst = 0f32;
    for (id, f) in faces.iter().enumerate() {
        let mut got = [vec![0f32; 478 * 3], vec![0f32; 478 * 3]];
        let mut scores = [0f32; 2];
        for (k, handle) in [h, local].into_iter().enumerate() {
            // SAFETY: live handles, valid frame, 478-point buffer.
            unsafe {
                assert_eq!(
                    lm_enqueue(handle, id as u64, &f.image(), &f.lm_box()),
                    LM_STATUS_OK
                );
                let mut out = landmarks_buf(&mut got[k]);
                assert_eq!(
                    lm_pop_wait(handle, id as u64, 30_000, &mut out),
                    LM_STATUS_OK
                );
                assert_eq!(out.num_points, 478);
                scores[k] = out.face_score;
            }
        }
        worst = got[0]
            .iter()
            .zip(&got[1])
            .map(|(a, b)| (a - b).abs())
            .fold(worst, f32::max);
        assert!((scores[0] - scores[1]).abs() <= 1e-4, "{scores:?}");
    }
    println!(
        "Triton face_landmarks_478: {} faces, worst point difference vs local {worst:e} px",
        faces.len()
    );
    assert!(worst <= 1e-3, "REMOTE differs from local by {worst} px");
    // SAFETY: live handles.
    unsafe {
        lm_destroy(h);
        lm_destroy(local);
    }
}

#[test]
#[ignore = "needs real Triton and MLServer: scripts/test-remote-servers.sh"]
fn the_faces_set_through_triton_equals_local_onnxruntime() {
    equals_local(TRITON, None);
}

#[test]
#[ignore = "needs real Triton and MLServer: scripts/test-remote-servers.sh"]
fn the_faces_set_through_mlserver_equals_local_onnxruntime() {
    equals_local(MLSERVER, None);
}

#[test]
#[ignore = "needs real Triton and MLServer: scripts/test-remote-servers.sh"]
fn the_faces_set_through_triton_over_https_equals_local_onnxruntime() {
    let url = server(TRITON_TLS);
    assert!(url.starts_with("https://"), "{TRITON_TLS} = {url}");
    equals_local(TRITON_TLS, Some(TLS_CA));
}

#[test]
#[ignore = "needs real Triton and MLServer: scripts/test-remote-servers.sh"]
fn real_triton_over_https_refuses_a_wrong_ca_as_backend_unavailable_naming_it() {
    let url = server(TRITON_TLS);
    // A CA that did not sign the server's certificate, then the system roots: the handshake
    // fails, at create.
    let wrong = remote_with_ca(&url, &server(TLS_WRONG_CA));
    let system = remote(&url, None);
    for (what, r) in [("the wrong CA", wrong), ("the system roots", system)] {
        let (status, h, message) = create(&r.cfg);
        println!("{what}: {message}");
        assert!(h.is_null());
        assert_eq!(status, LM_STATUS_BACKEND_UNAVAILABLE, "{what}: {message}");
        assert!(message.contains(&url), "{what}: {message}");
    }
}

#[test]
#[ignore = "needs real Triton and MLServer: scripts/test-remote-servers.sh"]
fn real_servers_refuse_a_missing_or_misshapen_model_by_its_ready_flag_and_metadata() {
    let (triton, mlserver) = (server(TRITON), server(MLSERVER));
    // Triton and MLServer answer an unknown model with different codes; both are MODEL_ERROR.
    for url in [&triton, &mlserver] {
        let r = remote(url, Some("no_such_model"));
        let (status, _, message) = create(&r.cfg);
        assert_eq!(status, LM_STATUS_MODEL_ERROR, "{url}: {message}");
        assert!(message.contains("no_such_model"), "{message}");
    }
    let r = remote(&mlserver, Some("face_landmark_wrong_shape"));
    let (status, _, message) = create(&r.cfg);
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(message.contains("224"), "{message}");
    println!("wrong shape: {message}");
}

#[test]
#[ignore = "needs real Triton and MLServer: scripts/test-remote-servers.sh"]
fn stopping_triton_mid_stream_fails_over_to_mlserver_losing_nothing() {
    let (triton, mlserver) = (server(TRITON), server(MLSERVER));
    let Ok(pgid) = std::env::var("LMBATCH_TRITON_PGID") else {
        panic!("LMBATCH_TRITON_PGID is not set: {NEEDS_SERVERS} sets it");
    };
    let mut r = remote(&format!("{triton},{mlserver}"), None);
    r.cfg.remote_timeout_ms = 5000;
    r.cfg.queue_capacity = 96;
    let (status, h, message) = create(&r.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let faces = eval_faces();
    let total = 2000u64;
    let stop_at = 600u64;
    let mut finals = vec![None; total as usize];
    let mut points = vec![0f32; 468 * 3];
    let mut popped = 0u64;
    let mut stopped = false;
    let t0 = Instant::now();
    let mut pop = |id: u64, finals: &mut Vec<Option<lm_status>>| {
        let mut out = landmarks_buf(&mut points);
        // SAFETY: live handle, 468-point buffer.
        let s = unsafe { lm_pop_wait(h, id, 30_000, &mut out) };
        assert!(finals[id as usize].replace(s).is_none(), "face {id} twice");
    };
    for id in 0..total {
        let f = &faces[id as usize % faces.len()];
        loop {
            // SAFETY: live handle, valid frame.
            match unsafe { lm_enqueue(h, id, &f.image(), &f.lm_box()) } {
                LM_STATUS_OK => break,
                LM_STATUS_QUEUE_FULL => {
                    pop(popped, &mut finals);
                    popped += 1;
                }
                other => panic!("enqueue {id}: {other:?}"),
            }
        }
        if id == stop_at && !stopped {
            // Stop Triton (its whole process group) by PID while batches are in flight.
            let status = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .status()
                .expect("kill");
            assert!(status.success());
            stopped = true;
        }
    }
    while popped < total {
        pop(popped, &mut finals);
        popped += 1;
    }
    let s = stats(h);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    let ok = finals.iter().filter(|s| **s == Some(LM_STATUS_OK)).count();
    let failed = finals
        .iter()
        .filter(|s| **s == Some(LM_STATUS_INFERENCE_FAILED))
        .count();
    println!(
        "{total} faces in {:?}: ok {ok}, failed {failed}, retries {}, failovers {}",
        t0.elapsed(),
        s.remote_retries,
        s.remote_failovers
    );
    assert_eq!(
        ok + failed,
        total as usize,
        "a face ended otherwise: {finals:?}"
    );
    assert!(s.remote_failovers >= 1, "{s:?}");
    // The stream went on through MLServer: most faces after the stop succeeded.
    let after = finals[(stop_at as usize + 200)..]
        .iter()
        .filter(|s| **s == Some(LM_STATUS_OK))
        .count();
    assert!(
        after >= (total - stop_at - 200) as usize * 9 / 10,
        "only {after} after the stop"
    );
    assert_eq!(s.accepted, total);
    assert_eq!(s.popped, total);
}
