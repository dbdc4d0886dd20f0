//! LM_BACKEND_REMOTE against a fake Open Inference Protocol server (tests/fake_oip): the normal
//! path equals a local run, and every fault real servers will not produce on demand ends each
//! item in exactly one final state, with the retry/failover rule of DESIGN.md.
//!
//! Time: a test that bounds a wall time allows at least 5x what it expects and prints what it
//! measured, and only where a hang must show; how fast things go belongs in the benches.
#![cfg(feature = "remote")]

mod common;
mod fake_oip;

use std::ffi::CString;
use std::time::{Duration, Instant};

use common::*;
use fake_oip::{dead_url, model_478, FakeModel, FakeServer, Served};
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;

/// A REMOTE config through the C ABI; the CStrings must outlive lm_create.
struct RemoteConfig {
    cfg: lm_config,
    _strings: Vec<CString>,
}

fn remote_config(endpoints: &str, timeout_ms: u32, headers: Option<&str>) -> RemoteConfig {
    let mut cfg = default_config();
    let endpoints = CString::new(endpoints).unwrap();
    cfg.backend = lm_backend::LM_BACKEND_REMOTE as i32;
    cfg.remote_endpoints = endpoints.as_ptr();
    cfg.remote_timeout_ms = timeout_ms;
    cfg.remote_connect_timeout_ms = 500;
    cfg.max_batch = 8;
    cfg.queue_capacity = 64;
    cfg.max_wait_us = 2000;
    let mut strings = vec![endpoints];
    if let Some(h) = headers {
        let h = CString::new(h).unwrap();
        cfg.remote_headers = h.as_ptr();
        strings.push(h);
    }
    RemoteConfig {
        cfg,
        _strings: strings,
    }
}

fn create_remote(endpoints: &str, timeout_ms: u32) -> *mut lm_handle {
    let c = remote_config(endpoints, timeout_ms, None);
    let (status, h, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    h
}

fn backend_name(h: *mut lm_handle) -> String {
    // SAFETY: lm_model_info is plain data; zeroed is valid.
    let mut info: lm_model_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<lm_model_info>();
    // SAFETY: live handle, writable struct.
    assert_eq!(unsafe { lm_get_model_info(h, &mut info) }, LM_STATUS_OK);
    // SAFETY: NUL-terminated by the library.
    unsafe { std::ffi::CStr::from_ptr(info.backend.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Enqueues `count` gray faces (ids 0..count), retrying QUEUE_FULL, and pops them all; returns
/// the final statuses by id. Any status other than OK / INFERENCE_FAILED fails the test.
fn stream(h: *mut lm_handle, count: u64) -> Vec<lm_status> {
    let frame = Gray::new();
    let mut finals = vec![None; count as usize];
    let mut points = vec![0f32; 468 * 3];
    let mut next_pop = 0u64;
    for id in 0..count {
        loop {
            // SAFETY: live handle, valid frame.
            match unsafe { lm_enqueue(h, id, &frame.image(), &center_box()) } {
                LM_STATUS_OK => break,
                LM_STATUS_QUEUE_FULL => {
                    // Pop the oldest to make room.
                    let mut out = landmarks_buf(&mut points);
                    // SAFETY: live handle, 468-point buffer.
                    let s = unsafe { lm_pop_wait(h, next_pop, 10_000, &mut out) };
                    finals[next_pop as usize] = Some(s);
                    next_pop += 1;
                }
                other => panic!("enqueue {id}: {other:?}"),
            }
        }
    }
    for id in next_pop..count {
        let mut out = landmarks_buf(&mut points);
        // SAFETY: live handle, 468-point buffer.
        finals[id as usize] = Some(unsafe { lm_pop_wait(h, id, 10_000, &mut out) });
    }
    finals
        .into_iter()
        .enumerate()
        .map(|(id, s)| {
            let s = s.unwrap();
            assert!(
                s == LM_STATUS_OK || s == LM_STATUS_INFERENCE_FAILED,
                "face {id}: {s:?}"
            );
            // Exactly once: a second pop finds nothing.
            let mut out = landmarks_buf(&mut points);
            // SAFETY: live handle.
            assert_eq!(
                unsafe { lm_pop(h, id as u64, &mut out) },
                LM_STATUS_NOT_FOUND
            );
            s
        })
        .collect()
}

fn count(finals: &[lm_status], status: lm_status) -> usize {
    finals.iter().filter(|&&s| s == status).count()
}

#[test]
#[cfg(feature = "cpu-tract")]
fn the_faces_set_through_remote_equals_the_local_backend_and_headers_arrive() {
    let server = FakeServer::start(FakeModel::Tract);
    let c = remote_config(
        &server.url(),
        20_000,
        Some("Authorization: Bearer s3cret\nx-tenant: vms-7"),
    );
    let (status, remote, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    assert_eq!(backend_name(remote), format!("remote:{}", server.url()));
    let local = cpu_handle(8, 2000);
    let faces = eval_faces();
    let mut got = [vec![0f32; 468 * 3], vec![0f32; 468 * 3]];
    let mut scores = [0f32; 2];
    for (id, face) in faces.iter().enumerate() {
        for (k, h) in [remote, local].into_iter().enumerate() {
            // SAFETY: live handles, valid frame.
            assert_eq!(
                unsafe { lm_enqueue(h, id as u64, &face.image(), &face.lm_box()) },
                LM_STATUS_OK
            );
            let mut out = landmarks_buf(&mut got[k]);
            // SAFETY: live handle, 468-point buffer.
            assert_eq!(
                unsafe { lm_pop_wait(h, id as u64, 20_000, &mut out) },
                LM_STATUS_OK
            );
            scores[k] = out.face_score;
        }
        let worst = got[0]
            .iter()
            .zip(&got[1])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-4, "{}: REMOTE differs by {worst} px", face.case);
        assert!((scores[0] - scores[1]).abs() <= 1e-6);
        assert!(face.nme(&got[0]) < 0.01, "{}", face.case);
    }
    assert_eq!(server.stats.items(), faces.len() as u64);
    assert_eq!(
        server.stats.authorization.lock().as_deref(),
        Some("Bearer s3cret")
    );
    let s = stats(remote);
    assert_eq!((s.remote_retries, s.remote_failovers), (0, 0));
    // SAFETY: live handles, nothing racing.
    unsafe {
        lm_destroy(remote);
        lm_destroy(local);
    }
}

#[test]
fn unavailable_every_third_call_is_retried_on_the_other_endpoint() {
    let a = FakeServer::start(FakeModel::FirstByte);
    let b = FakeServer::start(FakeModel::FirstByte);
    a.set(|f| f.unavailable_every = Some(3));
    b.set(|f| f.unavailable_every = Some(3));
    let h = create_remote(&format!("{},{}", a.url(), b.url()), 2000);
    let finals = stream(h, 400);
    let s = stats(h);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    let refused = a.stats.unavailable_sent() + b.stats.unavailable_sent();
    println!(
        "ok {}, failed {}, refused {refused}, retries {}, failovers {}, calls a {} b {}",
        count(&finals, LM_STATUS_OK),
        count(&finals, LM_STATUS_INFERENCE_FAILED),
        s.remote_retries,
        s.remote_failovers,
        a.stats.infer_calls(),
        b.stats.infer_calls()
    );
    assert!(refused >= 2, "the faults never fired");
    // A refusal is retried once on the other endpoint, unless that one is itself waiting out
    // its backoff or refuses the retry too: then the batch fails.
    assert!(
        s.remote_retries >= 1 && s.remote_retries <= refused,
        "{s:?}"
    );
    if s.failed == 0 {
        assert_eq!(s.remote_retries, refused);
    }
    assert!(s.remote_failovers >= 1);
    assert_eq!(s.failed, count(&finals, LM_STATUS_INFERENCE_FAILED) as u64);
    // Nothing was computed twice: the servers saw exactly the items of successful tries.
    assert_eq!(
        a.stats.items() + b.stats.items(),
        count(&finals, LM_STATUS_OK) as u64
    );
    assert!(c_reconciles(&s));
}

#[test]
fn one_endpoint_unavailable_every_nth_fails_those_batches_and_at_most_one_more_each() {
    let a = FakeServer::start(FakeModel::FirstByte);
    a.set(|f| f.unavailable_every = Some(4));
    let h = create_remote(&a.url(), 2000);
    let finals = stream(h, 200);
    let s = stats(h);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    let failed = count(&finals, LM_STATUS_INFERENCE_FAILED);
    assert!(failed > 0, "no batch failed");
    assert!(count(&finals, LM_STATUS_OK) > 0);
    // With no other endpoint there is nothing to retry on. A refused batch fails; the next is
    // the early probe (at once, not after the backoff), and one started while that probe runs
    // fails fast (the worker has at most two batches in flight): at most two of 8 a refusal.
    assert_eq!(s.remote_retries, 0);
    assert!(
        failed as u64 <= a.stats.unavailable_sent() * 2 * 8,
        "{failed} failed for {} refusals",
        a.stats.unavailable_sent()
    );
    assert_eq!(a.stats.items(), count(&finals, LM_STATUS_OK) as u64);
}

#[test]
fn a_blackholed_lone_endpoint_costs_one_blocking_probe_per_backoff_not_one_per_batch() {
    let a = FakeServer::start(FakeModel::FirstByte);
    let sink = LogSink::default();
    let mut c = remote_config(&a.url(), 300, None);
    c.cfg.log_fn = Some(collect_log);
    c.cfg.log_user = &sink as *const LogSink as *mut std::ffi::c_void;
    let (status, h, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    assert!(stream(h, 8).iter().all(|&s| s == LM_STATUS_OK));
    // Nothing answers any more, not even ModelReady. Batches of one face, one after another.
    a.set(|f| f.blackhole = true);
    let probes_before = a
        .stats
        .ready_calls
        .load(std::sync::atomic::Ordering::SeqCst);
    let frame = Gray::new();
    let mut points = vec![0f32; 468 * 3];
    let mut one = |id: u64| {
        // SAFETY: live handle, valid frame.
        let s = unsafe { lm_enqueue(h, id, &frame.image(), &center_box()) };
        assert_eq!(s, LM_STATUS_OK);
        let mut out = landmarks_buf(&mut points);
        // SAFETY: live handle, 468-point buffer.
        unsafe { lm_pop_wait(h, id, 30_000, &mut out) }
    };
    let t0 = Instant::now();
    for id in 100..140 {
        assert_eq!(one(id), LM_STATUS_INFERENCE_FAILED, "face {id}");
    }
    let took = t0.elapsed();
    let probes = a
        .stats
        .ready_calls
        .load(std::sync::atomic::Ordering::SeqCst)
        - probes_before;
    // The first batch waits out its try, the next its early probe; after that one probe each
    // time a backoff ends (500 ms doubling up to 5 s), whatever the batches: the count is bounded
    // by the time taken, however slow the machine. Probing every batch (39 probes) blocked
    // each for 300 ms.
    let (mut allowed, mut need) = (1u32, 0u128);
    loop {
        need += (250u128 << allowed).min(5000);
        if need > took.as_millis() {
            break;
        }
        allowed += 1;
    }
    println!("40 batches in {took:?}: {probes} blocking probes (at most {allowed})");
    assert!(probes as u32 <= allowed, "{probes} probes in {took:?}");
    let log = sink.lock().clone();
    assert!(
        log.iter()
            .any(|(_, m)| m.contains("not sent: every endpoint is down")
                && m.contains(&format!("{}: ModelReady", a.url()))),
        "{log:#?}"
    );
    // The server answers again: the next probe finds it (backoffs are at most 5 s).
    a.set(|f| f.blackhole = false);
    let t0 = Instant::now();
    let mut id = 1000;
    while one(id) != LM_STATUS_OK {
        assert!(t0.elapsed() < Duration::from_secs(60), "never healed");
        std::thread::sleep(Duration::from_millis(50));
        id += 1;
    }
    println!("healed after {:?}", t0.elapsed());
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
}

#[test]
fn a_reply_slower_than_the_timeout_fails_over_or_fails() {
    // The slow server answers after 30 s; the timeouts are far from it either way, so a loaded
    // machine (13 tests share 2 cores here) cannot turn a timeout into a reply or a healthy
    // retry into a timeout.
    let slow = FakeServer::start(FakeModel::FirstByte);
    slow.set(|f| f.delay = Duration::from_secs(30));
    // Alone: each batch fails after the timeout, long before the reply would come.
    let timeout = Duration::from_millis(150);
    let h = create_remote(&slow.url(), timeout.as_millis() as u32);
    let t0 = Instant::now();
    let finals = stream(h, 8);
    let took = t0.elapsed();
    assert!(finals.iter().all(|&s| s == LM_STATUS_INFERENCE_FAILED));
    // Expected: each call the server saw waits out one timeout (a probe answers at once), plus
    // some 200 ms for the rest; a timeout that did not fire would wait for the reply: 30 s.
    let calls = slow.stats.infer_calls() as u32;
    let expected = calls * timeout + Duration::from_millis(200);
    println!("8 faces failed in {took:?} ({calls} calls of {timeout:?}; expected {expected:?})");
    assert!(took < 5 * expected, "{took:?}, expected {expected:?}");
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    // With a healthy second endpoint: the batch is retried there and succeeds. The log says why
    // a try failed, should one.
    let fast = FakeServer::start(FakeModel::FirstByte);
    let sink = LogSink::default();
    let mut c = remote_config(&format!("{},{}", slow.url(), fast.url()), 1200, None);
    c.cfg.log_fn = Some(collect_log);
    c.cfg.log_user = &sink as *const LogSink as *mut std::ffi::c_void;
    let (status, h, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let finals = stream(h, 8);
    let s = stats(h);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    assert!(
        finals.iter().all(|&s| s == LM_STATUS_OK),
        "{finals:?}\nlog: {:#?}",
        sink.lock()
    );
    assert!(s.remote_retries >= 1 && s.remote_failovers >= 1, "{s:?}");
}

#[test]
fn a_connection_dropped_mid_call_is_retried_on_the_other_endpoint() {
    let mut a = FakeServer::start(FakeModel::FirstByte);
    let b = FakeServer::start(FakeModel::FirstByte);
    a.set(|f| f.hang = true);
    // A timeout far beyond what the retry takes: only the dropped connection can end the call.
    let h = create_remote(&format!("{},{}", a.url(), b.url()), 60_000);
    let frame = Gray::new();
    for id in 0..4 {
        // SAFETY: live handle, valid frame.
        assert_eq!(
            unsafe { lm_enqueue(h, id, &frame.image(), &center_box()) },
            LM_STATUS_OK
        );
    }
    // Wait until the call is on the server, then drop every connection (a crash).
    let t0 = Instant::now();
    while a.stats.infer_calls() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no call arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    a.kill();
    let t0 = Instant::now();
    let mut points = vec![0f32; 468 * 3];
    for id in 0..4 {
        let mut out = landmarks_buf(&mut points);
        // SAFETY: live handle, 468-point buffer.
        assert_eq!(
            unsafe { lm_pop_wait(h, id, 30_000, &mut out) },
            LM_STATUS_OK,
            "face {id}"
        );
    }
    // Expected: the drop seen at once, the 20 ms retry pause and a reply: some 100 ms. Far
    // from the 60 s timeout, so the drop itself was seen.
    let took = t0.elapsed();
    println!("retried and answered {took:?} after the server died");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let s = stats(h);
    assert_eq!((s.remote_retries, s.remote_failovers), (1, 1), "{s:?}");
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
}

#[test]
fn malformed_replies_fail_the_batch_at_once_without_retry() {
    let a = FakeServer::start(FakeModel::FirstByte);
    let b = FakeServer::start(FakeModel::FirstByte);
    let h = create_remote(&format!("{},{}", a.url(), b.url()), 2000);
    for (what, fault) in [
        (
            "wrong dtype",
            (|f: &mut fake_oip::Faults| f.wrong_dtype = true) as fn(&mut _),
        ),
        ("wrong byte count", |f| f.short_bytes = true),
        ("missing output", |f| f.missing_output = true),
        ("INVALID_ARGUMENT", |f| f.invalid_argument = true),
    ] {
        a.set(|f| *f = Default::default());
        a.set(fault);
        let finals = stream(h, 8);
        assert!(
            finals.iter().all(|&s| s == LM_STATUS_INFERENCE_FAILED),
            "{what}: {finals:?}"
        );
        // Recovers at once when the server answers well again.
        a.set(|f| *f = Default::default());
        let finals = stream(h, 8);
        assert!(
            finals.iter().all(|&s| s == LM_STATUS_OK),
            "{what}: {finals:?}"
        );
    }
    let s = stats(h);
    assert_eq!((s.remote_retries, s.remote_failovers), (0, 0), "{s:?}");
    assert_eq!(
        b.stats.infer_calls(),
        0,
        "a refused batch went to the other endpoint"
    );
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
}

/// A described model (the shipped 478) through REMOTE: the server's ModelMetadata is checked
/// against the descriptor, the request carries the model's own FP32 NHWC tensor and the reply
/// decodes as the descriptor says (a logit): the points and scores of a local tract run.
#[test]
fn a_described_model_through_remote_equals_the_local_backend() {
    let server = FakeServer::start_with(
        FakeModel::Tract478,
        Served::model_478(),
        Default::default(),
        None,
    );
    let (model, _) = model_478();
    let desc = model.with_extension("lmbatch.toml");
    let (model_c, desc_c) = (
        CString::new(model.to_str().unwrap()).unwrap(),
        CString::new(desc.to_str().unwrap()).unwrap(),
    );
    let mut c = remote_config(&server.url(), 20_000, None);
    c.cfg.model_path = model_c.as_ptr();
    c.cfg.model_desc_path = desc_c.as_ptr();
    let (status, remote, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let mut local_cfg = default_config();
    local_cfg.backend = lm_backend::LM_BACKEND_CPU as i32;
    local_cfg.max_wait_us = 0;
    local_cfg.model_path = model_c.as_ptr();
    local_cfg.model_desc_path = desc_c.as_ptr();
    let (status, local, message) = create(&local_cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    let faces = eval_faces();
    let mut got = [vec![0f32; 478 * 3], vec![0f32; 478 * 3]];
    let mut scores = [0f32; 2];
    for (id, face) in faces.iter().enumerate() {
        for (k, h) in [remote, local].into_iter().enumerate() {
            // SAFETY: live handles, valid frame.
            assert_eq!(
                unsafe { lm_enqueue(h, id as u64, &face.image(), &face.lm_box()) },
                LM_STATUS_OK
            );
            let mut out = landmarks_buf(&mut got[k]);
            // SAFETY: live handle, 478-point buffer.
            assert_eq!(
                unsafe { lm_pop_wait(h, id as u64, 20_000, &mut out) },
                LM_STATUS_OK
            );
            assert_eq!(out.num_points, 478);
            scores[k] = out.face_score;
        }
        let worst = got[0]
            .iter()
            .zip(&got[1])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!(
            "{}: REMOTE vs tract {worst:.2e} px, scores {} / {}",
            face.case, scores[0], scores[1]
        );
        assert!(worst <= 1e-4, "{}: REMOTE differs by {worst} px", face.case);
        // The logit crossed the wire and was turned into a probability on this side.
        assert!((scores[0] - scores[1]).abs() <= 1e-6, "{scores:?}");
        assert!((0.0..=1.0).contains(&scores[0]), "{scores:?}");
    }
    // Every face, and the descriptor's golden check at create (self_check is on).
    assert_eq!(server.stats.items(), faces.len() as u64 + 1);
    // SAFETY: live handles, nothing racing.
    unsafe {
        lm_destroy(remote);
        lm_destroy(local);
    }
    // The 478 descriptor against a server of the bundled model: MODEL_ERROR naming the key.
    let bundled = FakeServer::start(FakeModel::FirstByte);
    let mut c = remote_config(&bundled.url(), 1000, None);
    c.cfg.model_path = model_c.as_ptr();
    c.cfg.model_desc_path = desc_c.as_ptr();
    let (status, h, message) = create(&c.cfg);
    assert!(h.is_null());
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(
        message.contains("input.name = \"input_12\"") && message.contains(&bundled.url()),
        "{message}"
    );
}

#[test]
fn a_model_of_the_wrong_shape_is_a_model_error_naming_the_mismatch() {
    let served = Served {
        input_shape: vec![-1, 224, 224, 3],
        ..Served::default()
    };
    let a = FakeServer::start_with(FakeModel::FirstByte, served, Default::default(), None);
    let c = remote_config(&a.url(), 1000, None);
    let (status, h, message) = create(&c.cfg);
    assert!(h.is_null());
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(message.contains("[-1, 224, 224, 3]"), "{message}");
    assert!(message.contains(&a.url()), "{message}");

    let served = Served {
        landmarks_shape: vec![-1, 68, 3],
        ..Served::default()
    };
    let a = FakeServer::start_with(FakeModel::FirstByte, served, Default::default(), None);
    let c = remote_config(&a.url(), 1000, None);
    let (status, _, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(message.contains("landmarks"), "{message}");
}

#[test]
fn a_model_that_is_not_ready_is_a_model_error() {
    let a = FakeServer::start(FakeModel::FirstByte);
    a.set(|f| f.not_ready = true);
    let c = remote_config(&a.url(), 1000, None);
    let (status, _, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_MODEL_ERROR, "{message}");
    assert!(message.contains("face_landmark_u8"), "{message}");
}

#[test]
fn no_server_at_create_is_backend_unavailable_naming_endpoint_and_reason() {
    let url = dead_url();
    let c = remote_config(&url, 1000, None);
    let t0 = Instant::now();
    let (status, h, message) = create(&c.cfg);
    let took = t0.elapsed();
    assert!(h.is_null());
    assert_eq!(status, LM_STATUS_BACKEND_UNAVAILABLE, "{message}");
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("Unavailable"), "{message}");
    // Expected: a refused connection (~1 ms) and the runtime's shutdown (~ms); create must not
    // hang on a dead endpoint.
    println!("create failed in {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // One dead endpoint of two: create goes on with the live one.
    let b = FakeServer::start(FakeModel::FirstByte);
    let h = create_remote(&format!("{url},{}", b.url()), 1000);
    assert_eq!(backend_name(h), format!("remote:{}", b.url()));
    assert!(stream(h, 8).iter().all(|&s| s == LM_STATUS_OK));
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
}

#[test]
fn bad_remote_settings_are_invalid_arguments() {
    for (endpoints, headers) in [
        ("", None),
        ("grpc://x:1", None),
        ("http://x:1", Some("no-colon")),
    ] {
        let c = remote_config(endpoints, 1000, headers);
        let (status, _, message) = create(&c.cfg);
        assert_eq!(
            status, LM_STATUS_INVALID_ARGUMENT,
            "{endpoints:?}: {message}"
        );
    }
    let mut cfg = default_config();
    cfg.backend = lm_backend::LM_BACKEND_REMOTE as i32;
    let (status, _, message) = create(&cfg);
    assert_eq!(status, LM_STATUS_INVALID_ARGUMENT, "{message}");
    assert!(message.contains("remote_endpoints"), "{message}");
}

#[test]
fn a_failed_endpoint_is_probed_again_after_its_backoff() {
    let mut a = FakeServer::start(FakeModel::FirstByte);
    let port = a.addr.port();
    let b = FakeServer::start(FakeModel::FirstByte);
    let h = create_remote(&format!("{},{}", a.url(), b.url()), 1000);
    assert!(stream(h, 8).iter().all(|&s| s == LM_STATUS_OK));
    a.kill();
    // Batches go on through b.
    assert!(stream(h, 16).iter().all(|&s| s == LM_STATUS_OK));
    // a comes back; then b goes: after the backoff a is probed, found ready and used.
    let a2 = FakeServer::start_with(
        FakeModel::FirstByte,
        Served::default(),
        Default::default(),
        Some(port),
    );
    std::thread::sleep(Duration::from_millis(600));
    let mut b = b;
    b.kill();
    let finals = stream(h, 16);
    let s = stats(h);
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    assert!(count(&finals, LM_STATUS_OK) >= 8, "{finals:?}");
    assert!(
        a2.stats
            .ready_calls
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    );
    assert!(a2.stats.items() >= 8);
    assert!(s.remote_failovers >= 2, "{s:?}");
}

#[test]
fn destroy_with_a_hanging_server_returns_within_drain_plus_timeout() {
    let a = FakeServer::start(FakeModel::FirstByte);
    let mut c = remote_config(&a.url(), 400, None);
    c.cfg.drain_timeout_ms = 200;
    let (status, h, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    a.set(|f| f.hang = true);
    let frame = Gray::new();
    for id in 0..40 {
        // SAFETY: live handle, valid frame.
        let _ = unsafe { lm_enqueue(h, id, &frame.image(), &center_box()) };
    }
    let t0 = Instant::now();
    while a.stats.infer_calls() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(2));
    }
    let t0 = Instant::now();
    // SAFETY: live handle, nothing racing.
    unsafe { lm_destroy(h) };
    let took = t0.elapsed();
    // Expected: drain 200 ms + one request timeout 400 ms; 5x that. The server hangs for an
    // hour, so this still shows destroy did not wait for it.
    println!("destroy took {took:?}");
    assert!(
        took < 5 * Duration::from_millis(200 + 400),
        "destroy took {took:?}"
    );
}

#[test]
fn https_checks_the_server_against_remote_ca_file() {
    let dir = std::env::temp_dir().join(format!("lmbatch-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    // A test CA, and a server certificate for 127.0.0.1 signed by it.
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=lmbatch test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ],
    ];
    for args in steps {
        let made = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output();
        if !made.as_ref().is_ok_and(|o| o.status.success()) {
            println!("SKIPPED: openssl could not make a test certificate: {made:?}");
            return;
        }
    }
    let server = FakeServer::start_tls(
        &std::fs::read(&cert).unwrap(),
        &std::fs::read(&key).unwrap(),
    );
    let url = format!("https://{}", server.addr);
    // Trusted through remote_ca_file: works, with the headers.
    let mut c = remote_config(&url, 5000, Some("authorization: Bearer tls"));
    let ca = CString::new(ca.to_str().unwrap()).unwrap();
    c.cfg.remote_ca_file = ca.as_ptr();
    let (status, h, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_OK, "{message}");
    assert!(stream(h, 8).iter().all(|&s| s == LM_STATUS_OK));
    // SAFETY: live handle.
    unsafe { lm_destroy(h) };
    assert_eq!(
        server.stats.authorization.lock().as_deref(),
        Some("Bearer tls")
    );
    // The system roots do not know this certificate: the handshake fails at create.
    let c = remote_config(&url, 5000, None);
    let (status, _, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_BACKEND_UNAVAILABLE, "{message}");
    assert!(message.contains(&url), "{message}");
    // A CA file that does not exist is the caller's error.
    let mut c = remote_config(&url, 5000, None);
    let missing = CString::new("/nonexistent/ca.pem").unwrap();
    c.cfg.remote_ca_file = missing.as_ptr();
    let (status, _, message) = create(&c.cfg);
    assert_eq!(status, LM_STATUS_INVALID_ARGUMENT, "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}
