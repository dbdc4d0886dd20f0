//! Completion without one waiting thread per id (ABI 1.3): lm_pop_next and the ready callback.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;
use lmbatch::{Config, Pipeline, Popped, ReadyCallback, ReadyState};
use parking_lot::Mutex;

fn fake_pipeline(backend: FakeBackend, config: Config) -> Pipeline {
    Pipeline::with_backend(config, move || {
        Ok(Box::new(backend) as Box<dyn lmbatch::Backend>)
    })
    .unwrap()
}

fn quick_config() -> Config {
    Config {
        max_batch: 4,
        max_wait: Duration::from_millis(1),
        ..Config::default()
    }
}

/// Every callback as it came, in order.
type Calls = Arc<Mutex<Vec<(u64, ReadyState)>>>;

fn recording() -> (Calls, ReadyCallback) {
    let calls = Calls::default();
    let sink = calls.clone();
    (
        calls,
        ReadyCallback::new(move |id, state| sink.lock().push((id, state))),
    )
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn pop_next_hands_out_every_result_once_in_completion_order_and_shares_with_pop() {
    let p = fake_pipeline(FakeBackend::new(4), quick_config());
    let frame = Gray::new();
    for id in 0..40u64 {
        p.enqueue(id, &frame.raw(), &center_face()).unwrap();
        if id % 4 == 3 {
            // One batch at a time, so completion order is enqueue order in groups of 4.
            wait_for("the batch", || p.stats().counters.queued == 0);
        }
    }
    wait_for("all results", || p.stats().counters.ready == 40);
    // Every third id is popped by id first; pop_next must then skip it.
    for id in (0..40u64).step_by(3) {
        assert!(matches!(p.pop(id), Popped::Landmarks(_)));
    }
    let mut got = Vec::new();
    while let Some((id, popped)) = p.pop_next(Duration::ZERO) {
        assert!(matches!(popped, Popped::Landmarks(_)), "{id}: {popped:?}");
        got.push(id);
    }
    let expected: Vec<u64> = (0..40).filter(|id| id % 3 != 0).collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "each result exactly once");
    // Completion order: each batch of 4 finished after the one before.
    let batch_of = |id: &u64| id / 4;
    assert!(
        got.windows(2).all(|w| batch_of(&w[0]) <= batch_of(&w[1])),
        "{got:?}"
    );
    for id in 0..40u64 {
        assert_eq!(p.pop(id), Popped::NotFound);
    }
    assert_eq!(p.pop_next(Duration::from_millis(20)), None);
    let s = p.stats();
    assert!(reconciles(&s));
    assert_eq!(s.counters.popped, 40);
}

#[test]
fn pop_next_waits_for_the_next_result_without_spinning() {
    let (gate_tx, gate_rx) = crossbeam_channel::unbounded();
    let mut backend = FakeBackend::new(4);
    backend.gate = Some(gate_rx);
    let p = Arc::new(fake_pipeline(backend, quick_config()));
    p.enqueue(5, &Gray::new().raw(), &center_face()).unwrap();
    let consumer = {
        let p = p.clone();
        std::thread::spawn(move || p.pop_next(Duration::from_secs(10)))
    };
    std::thread::sleep(Duration::from_millis(50));
    gate_tx.send(()).unwrap();
    let (id, popped) = consumer.join().unwrap().expect("woken by the completion");
    assert_eq!(id, 5);
    assert!(matches!(popped, Popped::Landmarks(_)));
}

#[test]
fn pop_next_reports_ttl_and_capacity_evictions_once() {
    // Time-to-live: nobody calls in; pop_next itself waits until the result expires.
    let p = fake_pipeline(
        FakeBackend::new(4),
        Config {
            result_ttl: Some(Duration::from_millis(30)),
            ..quick_config()
        },
    );
    p.enqueue(1, &Gray::new().raw(), &center_face()).unwrap();
    wait_for("the result", || p.stats().counters.ready == 1);
    // Take nothing else: wait for the TTL and see EXPIRED exactly once.
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(
        p.pop_next(Duration::from_secs(1)),
        Some((1, Popped::Expired))
    );
    assert_eq!(p.pop_next(Duration::from_millis(50)), None);
    assert_eq!(
        p.pop(1),
        Popped::NotFound,
        "EXPIRED is reported once, through either call"
    );

    // Capacity: 3 results fit (and 3 evicted ids are remembered); the 3 oldest of 6 are evicted
    // and come first.
    let p = fake_pipeline(
        FakeBackend::new(1),
        Config {
            max_batch: 1,
            result_capacity: 3,
            ..quick_config()
        },
    );
    for id in 10..16u64 {
        p.enqueue(id, &Gray::new().raw(), &center_face()).unwrap();
        wait_for("the batch", || {
            p.stats().counters.queued + p.stats().counters.in_flight == 0
        });
    }
    assert_eq!(p.pop(11), Popped::Expired, "pop takes one EXPIRED");
    let mut got = Vec::new();
    while let Some(next) = p.pop_next(Duration::ZERO) {
        got.push(next);
    }
    let kinds: Vec<(u64, bool)> = got
        .iter()
        .map(|(id, popped)| (*id, matches!(popped, Popped::Expired)))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (10, true),
            (12, true),
            (13, false),
            (14, false),
            (15, false)
        ],
        "EXPIRED once each (11 went to pop), then the results"
    );
    assert_eq!(p.pop(10), Popped::NotFound);
    assert_eq!(p.stats().counters.expired, 3);
}

#[test]
fn the_callback_announces_each_final_state_once_including_expiry_with_nobody_calling_in() {
    let (calls, callback) = recording();
    let backend = FakeBackend::new(1);
    backend.faults.lock().push(Fault::Fail);
    let p = fake_pipeline(
        backend,
        Config {
            max_batch: 1,
            result_ttl: Some(Duration::from_millis(40)),
            on_ready: Some(callback),
            ..quick_config()
        },
    );
    for id in [1u64, 2, 3] {
        p.enqueue(id, &Gray::new().raw(), &center_face()).unwrap();
        wait_for("the batch", || {
            p.stats().counters.queued + p.stats().counters.in_flight == 0
        });
    }
    wait_for("three callbacks", || calls.lock().len() == 3);
    assert_eq!(
        *calls.lock(),
        vec![
            (1, ReadyState::Failed),
            (2, ReadyState::Landmarks),
            (3, ReadyState::Landmarks)
        ]
    );
    assert!(matches!(p.pop(2), Popped::Landmarks(_)));
    // 1 and 3 expire; the worker wakes for their deadlines although nobody calls in.
    wait_for("the expiry callbacks", || calls.lock().len() == 5);
    let tail: Vec<_> = calls.lock()[3..].to_vec();
    assert_eq!(
        tail,
        vec![(1, ReadyState::Expired), (3, ReadyState::Expired)]
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(calls.lock().len(), 5, "each state once");
    let s = p.stats();
    assert_eq!(s.counters.ready_callbacks, 5);
    assert!(reconciles(&s));
}

#[test]
fn cancelled_items_get_no_callback() {
    let (calls, callback) = recording();
    let (gate_tx, gate_rx) = crossbeam_channel::unbounded();
    let (entered_tx, entered_rx) = crossbeam_channel::unbounded();
    let mut backend = FakeBackend::new(1);
    backend.gate = Some(gate_rx);
    backend.entered = Some(entered_tx);
    let p = fake_pipeline(
        backend,
        Config {
            max_batch: 1,
            on_ready: Some(callback),
            ..quick_config()
        },
    );
    p.enqueue(1, &Gray::new().raw(), &center_face()).unwrap();
    p.enqueue(2, &Gray::new().raw(), &center_face()).unwrap();
    entered_rx.recv().unwrap(); // 1 in flight, 2 queued
    assert!(p.cancel(1) && p.cancel(2));
    gate_tx.send(()).unwrap();
    p.enqueue(3, &Gray::new().raw(), &center_face()).unwrap();
    gate_tx.send(()).unwrap();
    wait_for("the callback of 3", || !calls.lock().is_empty());
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(*calls.lock(), vec![(3, ReadyState::Landmarks)]);
}

#[test]
fn a_slow_callback_loses_nothing_and_the_stats_show_its_cost() {
    let (calls, _) = recording();
    let sink = calls.clone();
    let p = fake_pipeline(
        FakeBackend::new(4),
        Config {
            on_ready: Some(ReadyCallback::new(move |id, state| {
                std::thread::sleep(Duration::from_millis(50));
                sink.lock().push((id, state));
            })),
            ..quick_config()
        },
    );
    let frame = Gray::new();
    for id in 0..8u64 {
        p.enqueue(id, &frame.raw(), &center_face()).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 8 {
        let (id, popped) = p.pop_next(Duration::from_secs(5)).expect("a result");
        assert!(matches!(popped, Popped::Landmarks(_)));
        got.push(id);
    }
    wait_for("eight callbacks", || calls.lock().len() == 8);
    got.sort_unstable();
    assert_eq!(got, (0..8).collect::<Vec<_>>());
    let mut announced: Vec<u64> = calls.lock().iter().map(|c| c.0).collect();
    announced.sort_unstable();
    assert_eq!(announced, (0..8).collect::<Vec<_>>());
    let c = p.stats().counters;
    assert_eq!(c.ready_callbacks, 8);
    assert!(c.ready_callback_us >= 8 * 50_000, "{c:?}");
    assert!(c.ready_callback_max_us >= 50_000, "{c:?}");
    assert_eq!(c.popped, 8);
}

#[test]
fn a_panicking_callback_loses_nothing() {
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    let p = fake_pipeline(
        FakeBackend::new(4),
        Config {
            on_ready: Some(ReadyCallback::new(move |id, _| {
                seen.fetch_add(1, Ordering::SeqCst);
                if id % 2 == 0 {
                    panic!("a caller's bug");
                }
            })),
            ..quick_config()
        },
    );
    let frame = Gray::new();
    for id in 0..10u64 {
        p.enqueue(id, &frame.raw(), &center_face()).unwrap();
    }
    for id in 0..10u64 {
        assert!(
            matches!(p.pop_wait(id, Duration::from_secs(5)), Popped::Landmarks(_)),
            "{id}"
        );
    }
    wait_for("ten callbacks", || count.load(Ordering::SeqCst) == 10);
    // The worker survived: more work still runs.
    p.enqueue(99, &frame.raw(), &center_face()).unwrap();
    assert!(matches!(
        p.pop_wait(99, Duration::from_secs(5)),
        Popped::Landmarks(_)
    ));
}

#[test]
fn pop_next_through_the_c_abi_reports_the_id_and_a_too_small_buffer_consumes_nothing() {
    let p = fake_pipeline(FakeBackend::new(4), quick_config());
    let h = handle_from_pipeline(p);
    // SAFETY: live handle, valid frame and box.
    assert_eq!(
        unsafe { lm_enqueue(h, 77, &Gray::new().image(), &center_box()) },
        LM_STATUS_OK
    );
    let mut id = 0u64;
    let mut small = [0f32; 3];
    let mut out = landmarks_buf(&mut small);
    // SAFETY: live handle, valid pointers.
    let status = unsafe { lm_pop_next(h, 5000, &mut id, &mut out) };
    assert_eq!(
        (status, id, out.num_points),
        (LM_STATUS_BUFFER_TOO_SMALL, 77, 4)
    );
    // SAFETY: as above; NULL pointers are refused.
    unsafe {
        assert_eq!(
            lm_pop_next(h, 0, std::ptr::null_mut(), &mut out),
            LM_STATUS_NULL_ARGUMENT
        );
        assert_eq!(
            lm_pop_next(h, 0, &mut id, std::ptr::null_mut()),
            LM_STATUS_NULL_ARGUMENT
        );
        assert_eq!(
            lm_pop_next(std::ptr::null_mut(), 0, &mut id, &mut out),
            LM_STATUS_NULL_ARGUMENT
        );
    }
    let mut points = [0f32; 12];
    let mut out = landmarks_buf(&mut points);
    id = 0;
    // SAFETY: as above.
    let status = unsafe { lm_pop_next(h, 0, &mut id, &mut out) };
    assert_eq!((status, id, out.num_points), (LM_STATUS_OK, 77, 4));
    assert!(out.face_score > 0.0 && points.iter().all(|v| v.is_finite()));
    let t0 = Instant::now();
    // SAFETY: as above.
    assert_eq!(
        unsafe { lm_pop_next(h, 30, &mut id, &mut out) },
        LM_STATUS_TIMEOUT
    );
    assert!(t0.elapsed() >= Duration::from_millis(30));
    // SAFETY: nothing races the destroy.
    unsafe { lm_destroy(h) };
}

#[test]
fn destroy_with_callbacks_still_arriving_returns_within_its_bound_and_none_come_after() {
    // Slow callbacks: all 64 would take 3.2 s, so a destroy that ignored its drain timeout
    // shows far past the bound below, which allows 5x what the contract promises.
    const CALLBACK: Duration = Duration::from_millis(50);
    let destroyed = Arc::new(AtomicBool::new(false));
    let late = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let (d, l, c) = (destroyed.clone(), late.clone(), calls.clone());
    let mut backend = FakeBackend::new(8);
    backend.sleep = Duration::from_millis(2);
    let p = fake_pipeline(
        backend,
        Config {
            max_batch: 8,
            queue_capacity: Some(64),
            drain_timeout: Duration::from_millis(100),
            on_ready: Some(ReadyCallback::new(move |_, _| {
                std::thread::sleep(CALLBACK);
                c.fetch_add(1, Ordering::SeqCst);
                if d.load(Ordering::SeqCst) {
                    l.fetch_add(1, Ordering::SeqCst);
                }
            })),
            ..quick_config()
        },
    );
    let h = handle_from_pipeline(p);
    let frame = Gray::new();
    let mut accepted = 0;
    for id in 0..64u64 {
        // SAFETY: live handle, valid frame and box.
        if unsafe { lm_enqueue(h, id, &frame.image(), &center_box()) } == LM_STATUS_OK {
            accepted += 1;
        }
    }
    wait_for("callbacks to start", || calls.load(Ordering::SeqCst) > 0);
    let t0 = Instant::now();
    // SAFETY: nothing races the destroy.
    unsafe { lm_destroy(h) };
    let took = t0.elapsed();
    destroyed.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    // The contract: the drain timeout, one batch, one callback in progress; 5x that for a
    // loaded machine.
    let promised = Duration::from_millis(100 + 2) + CALLBACK;
    println!("destroy took {took:?} (promised {promised:?})");
    assert!(took < promised * 5, "destroy took {took:?}");
    assert_eq!(
        late.load(Ordering::SeqCst),
        0,
        "a callback ran after lm_destroy returned"
    );
    let made = calls.load(Ordering::SeqCst);
    println!("accepted {accepted}, callbacks {made}, destroy took {took:?}");
    assert!(made <= accepted);
}

/// Through lm_create with the real model: ready_fn as a C caller sets it in lm_config.
#[cfg(feature = "cpu-tract")]
mod through_lm_create {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::c_void;

    /// What the C callback of the reentrancy test reaches through `user`.
    struct Reentrant {
        handle: AtomicU64,
        popped: Mutex<HashMap<u64, lm_status>>,
    }

    unsafe extern "C" fn pop_own_id(id: u64, status: lm_status, user: *mut c_void) {
        // SAFETY: `user` is the test's Reentrant, alive until after lm_destroy.
        let r = unsafe { &*(user as *const Reentrant) };
        let h = r.handle.load(Ordering::SeqCst) as *mut lm_handle;
        let mut points = [0f32; 468 * 3];
        let mut out = landmarks_buf(&mut points);
        // SAFETY: the handle is live (destroy comes after every callback); the buffer is valid.
        let popped = unsafe { lm_pop(h, id, &mut out) };
        assert_eq!(popped, status, "the callback pops the state it was told of");
        r.popped.lock().insert(id, popped);
    }

    #[test]
    fn a_c_callback_may_pop_its_own_id_from_inside_the_callback() {
        let r = Box::new(Reentrant {
            handle: AtomicU64::new(0),
            popped: Mutex::default(),
        });
        let mut cfg = default_config();
        cfg.backend = lm_backend::LM_BACKEND_CPU as i32;
        cfg.max_batch = 4;
        cfg.max_wait_us = 1000;
        cfg.ready_fn = Some(pop_own_id);
        cfg.ready_user = &*r as *const Reentrant as *mut c_void;
        let (status, h, message) = create(&cfg);
        assert_eq!(status, LM_STATUS_OK, "{message}");
        r.handle.store(h as u64, Ordering::SeqCst);
        let face = astronaut();
        for id in 0..6u64 {
            // SAFETY: live handle, valid frame and box.
            assert_eq!(
                unsafe { lm_enqueue(h, id, &face.image(), &face.lm_box()) },
                LM_STATUS_OK
            );
        }
        wait_for("six callbacks", || r.popped.lock().len() == 6);
        assert!(r.popped.lock().values().all(|s| *s == LM_STATUS_OK));
        let s = stats(h);
        assert_eq!((s.popped, s.ready, s.ready_callbacks), (6, 0, 6));
        let mut next_id = 0u64;
        let mut points = [0f32; 468 * 3];
        let mut out = landmarks_buf(&mut points);
        // SAFETY: live handle, valid pointers.
        assert_eq!(
            unsafe { lm_pop_next(h, 0, &mut next_id, &mut out) },
            LM_STATUS_TIMEOUT,
            "the callback took every result"
        );
        // SAFETY: nothing races the destroy.
        unsafe { lm_destroy(h) };
    }

    #[test]
    fn an_old_config_without_the_ready_fields_gets_no_callback() {
        let mut cfg = default_config();
        cfg.backend = lm_backend::LM_BACKEND_CPU as i32;
        cfg.ready_fn = Some(pop_own_id); // past the caller's struct_size: must not be read
        cfg.ready_user = std::ptr::null_mut();
        cfg.struct_size = std::mem::offset_of!(lm_config, ready_fn);
        let (status, h, message) = create(&cfg);
        assert_eq!(status, LM_STATUS_OK, "{message}");
        let face = astronaut();
        // SAFETY: live handle, valid frame and box.
        assert_eq!(
            unsafe { lm_enqueue(h, 1, &face.image(), &face.lm_box()) },
            LM_STATUS_OK
        );
        let mut points = [0f32; 468 * 3];
        let mut out = landmarks_buf(&mut points);
        // SAFETY: live handle, valid buffer. (pop_own_id with a NULL user would crash if called.)
        assert_eq!(unsafe { lm_pop_wait(h, 1, 10_000, &mut out) }, LM_STATUS_OK);
        assert_eq!(stats(h).ready_callbacks, 0);
        // SAFETY: nothing races the destroy.
        unsafe { lm_destroy(h) };
    }
}
