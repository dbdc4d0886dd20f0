//! Randomised sequences of C ABI calls from 8 threads over a backend that fails, panics, returns
//! NaN and stalls at random. Each thread keeps a ledger of its own ids and checks every answer
//! against it: every accepted id reaches exactly one final state, handed out at most once; stats
//! reconcile after every step; no call blocks longer than its timeout plus a small bound.
//! The seed is printed; `LMBATCH_SEED=<n> cargo test --test torture` replays a run.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;
use lmbatch::{Config, Pipeline};

const THREADS: u64 = 8;
const STEPS_PER_THREAD: usize = 2500;
const IDS_PER_THREAD: u64 = 48;

#[derive(Clone, Copy)]
struct Shared(*mut lm_handle);
// SAFETY: the C ABI allows every call used here from many threads at once; destroy comes after
// all threads are joined.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

/// Totals of what one thread saw.
#[derive(Default, Debug)]
struct Seen {
    accepted: u64,
    /// Accepted again while the ledger still held the id live: right only when its earlier
    /// result had been evicted (the library then counts it expired).
    superseded: u64,
    delivered: u64,
    expired: u64,
    cancelled: u64,
    failed: u64,
    invalid: u64,
    full: u64,
    violations: Vec<String>,
    worst_overrun: Duration,
}

fn hostile_call(h: *mut lm_handle, id: u64, rng: &mut Rng, frame: &Gray) -> lm_status {
    let good = frame.image();
    let good_box = center_box();
    let (img, bx) = match rng.below(9) {
        0 => (
            lm_image {
                data: std::ptr::null(),
                ..good
            },
            good_box,
        ),
        1 => (lm_image { width: 0, ..good }, good_box),
        2 => (lm_image { stride: 10, ..good }, good_box),
        3 => (
            lm_image {
                format: 5 + rng.below(1000) as i32,
                ..good
            },
            good_box,
        ),
        4 => (
            lm_image {
                height: 40_000,
                ..good
            },
            good_box,
        ),
        5 => (
            good,
            lm_box {
                x1: f32::NAN,
                ..good_box
            },
        ),
        6 => (
            good,
            lm_box {
                x1: 50.0,
                x2: 10.0,
                ..good_box
            },
        ),
        7 => (
            good,
            lm_box {
                x1: 100.0,
                x2: 200.0,
                ..good_box
            },
        ),
        _ => (
            good,
            lm_box {
                x1: -f32::MAX,
                y1: -f32::MAX,
                x2: f32::MAX,
                y2: f32::MAX,
            },
        ),
    };
    // SAFETY: live handle; every view is either valid or rejected before its bytes are read.
    unsafe { lm_enqueue(h, id, &img, &bx) }
}

/// A valid NV12 view of the gray frame's bytes (Y from the first 4096 bytes, UV from 8192 on), or
/// the packed frame itself, as an lm_frame.
fn good_frame(frame: &Gray, nv12: bool) -> lm_frame {
    let base = frame.pixels.as_ptr();
    let mut f = lm_frame {
        struct_size: std::mem::size_of::<lm_frame>(),
        format: 0,
        width: 64,
        height: 64,
        planes: [
            base.cast(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
        ],
        strides: [64 * 3, 0, 0, 0],
        color_matrix: 0,
        color_range: 0,
        chroma_location: 0,
        memory: 0,
    };
    if nv12 {
        f.format = lm_pixel_format::LM_PIXEL_FORMAT_NV12 as i32;
        // SAFETY: 8192 is inside the 12288-byte buffer.
        f.planes[1] = unsafe { base.add(8192) }.cast();
        f.strides = [64, 64, 0, 0];
    }
    f
}

/// A valid face on the gray frame: upright, or turned by a random roll or random eyes.
fn good_face(rng: &mut Rng) -> lm_face {
    let mut f = lm_face {
        struct_size: std::mem::size_of::<lm_face>(),
        r#box: center_box(),
        flags: rng.below(4) as u32,
        right_eye: [rng.range_f32(-100.0, 100.0), rng.range_f32(-100.0, 100.0)],
        left_eye: [rng.range_f32(-100.0, 100.0), rng.range_f32(-100.0, 100.0)],
        roll: rng.range_f32(-10.0, 10.0),
    };
    if f.flags & LM_FACE_ROLL == 0 && rng.below(2) == 0 {
        f.roll = f32::NAN; // not read without LM_FACE_ROLL
    }
    f
}

/// lm_enqueue_frame with one random corruption that makes the frame or the face invalid.
fn hostile_frame_call(h: *mut lm_handle, id: u64, rng: &mut Rng, frame: &Gray) -> lm_status {
    let mut f = good_frame(frame, rng.below(2) == 0);
    let mut face = good_face(rng);
    let planar = f.format != 0;
    let non_finite = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][rng.below(3) as usize];
    match rng.below(14) {
        0 => f.memory = 1 + rng.below(1 << 30) as i32,
        1 => {
            f.format = [5, 15, 21, -1, i32::MAX][rng.below(5) as usize]
                .wrapping_add(rng.below(3) as i32 * 1000)
        }
        2 if planar => f.color_matrix = [3, 4, 7, 8, 10, -1][rng.below(6) as usize],
        3 if planar => f.color_range = 3 + rng.below(1000) as i32,
        4 if planar => f.chroma_location = 4 + rng.below(1000) as i32,
        5 if planar => f.planes[1] = std::ptr::null(),
        // SAFETY: inside the frame's buffer; the overlap is refused before anything is read.
        6 if planar => {
            f.planes[1] = unsafe { frame.pixels.as_ptr().add(rng.below(4000) as usize) }.cast()
        }
        7 => f.strides[0] = rng.below(64) as usize,
        8 => f.width = 32769 + rng.below(100_000) as u32,
        9 => {
            f.struct_size = rng.below(std::mem::offset_of!(lm_frame, color_matrix) as u64) as usize
        }
        10 => face.flags = 4u32 << rng.below(29),
        11 => {
            face.flags = LM_FACE_ROLL;
            face.roll = non_finite;
        }
        12 => {
            face.flags = LM_FACE_EYES | (rng.below(2) as u32 * LM_FACE_ROLL);
            face.left_eye[rng.below(2) as usize] = non_finite;
        }
        13 => face.struct_size = rng.below(std::mem::offset_of!(lm_face, flags) as u64) as usize,
        _ => face.r#box.x1 = non_finite,
    }
    // SAFETY: live handle; every view is either valid or rejected before its bytes are read.
    unsafe { lm_enqueue_frame(h, id, &f, &face) }
}

fn run_thread(h: Shared, t: u64, seed: u64) -> Seen {
    let mut rng = Rng::new(seed ^ (t.wrapping_mul(0x9E37_79B9)));
    let frame = Gray::new();
    let mut live: HashMap<u64, bool> = HashMap::new(); // id -> live (accepted, not final)
    let mut seen = Seen::default();
    let mut points = vec![0f32; 4 * 3];
    for step in 0..STEPS_PER_THREAD {
        // A VMS-like pace, so that batches keep up and every final state occurs often.
        std::thread::sleep(Duration::from_micros(rng.below(400)));
        let id = (t << 32) | rng.below(IDS_PER_THREAD);
        let is_live = live.get(&id).copied().unwrap_or(false);
        let op = rng.below(100);
        let mut timeout = Duration::ZERO;
        let t0 = Instant::now();
        let (what, status) = if op < 28 {
            // SAFETY: live handle, valid frame.
            ("enqueue", unsafe {
                lm_enqueue(h.0, id, &frame.image(), &center_box())
            })
        } else if op < 40 {
            let (f, face) = (good_frame(&frame, rng.below(2) == 0), good_face(&mut rng));
            // SAFETY: live handle, valid frame and face.
            ("enqueue", unsafe { lm_enqueue_frame(h.0, id, &f, &face) })
        } else if op < 45 {
            ("hostile enqueue", hostile_call(h.0, id, &mut rng, &frame))
        } else if op < 50 {
            (
                "hostile enqueue",
                hostile_frame_call(h.0, id, &mut rng, &frame),
            )
        } else if op < 85 {
            let ms = if op < 65 { 0 } else { rng.below(6) as u32 };
            timeout = Duration::from_millis(u64::from(ms));
            let mut out = landmarks_buf(&mut points);
            // SAFETY: live handle, buffer of 4 points (the fake model's count).
            ("pop", unsafe { lm_pop_wait(h.0, id, ms, &mut out) })
        } else if op < 95 {
            // SAFETY: live handle.
            ("cancel", unsafe { lm_cancel(h.0, id) })
        } else {
            let s = stats(h.0);
            if !c_reconciles(&s) {
                seen.violations
                    .push(format!("step {step}: stats do not reconcile: {s:?}"));
            }
            ("stats", LM_STATUS_OK)
        };
        seen.worst_overrun = seen.worst_overrun.max(t0.elapsed().saturating_sub(timeout));
        let mut violation = |why: &str| {
            seen.violations
                .push(format!("step {step}: {what} of id {id}: {status:?} {why}"))
        };
        match (what, status) {
            ("stats", _) => {}
            ("enqueue", LM_STATUS_OK) => {
                // Accepting a live id is only right when its result was evicted meanwhile; the
                // final counts below hold the library to that (its `expired` must cover it).
                seen.accepted += 1;
                if is_live {
                    seen.superseded += 1;
                }
                live.insert(id, true);
            }
            ("enqueue", LM_STATUS_DUPLICATE_ID) if is_live => {}
            ("enqueue", LM_STATUS_QUEUE_FULL) => seen.full += 1,
            ("hostile enqueue", LM_STATUS_INVALID_ARGUMENT) => seen.invalid += 1,
            ("pop", LM_STATUS_OK | LM_STATUS_INFERENCE_FAILED | LM_STATUS_EXPIRED) if is_live => {
                match status {
                    LM_STATUS_OK => {
                        seen.delivered += 1;
                        if points.iter().any(|v| !v.is_finite()) {
                            violation("returned non-finite points");
                        }
                    }
                    LM_STATUS_INFERENCE_FAILED => seen.failed += 1,
                    _ => seen.expired += 1,
                }
                live.insert(id, false);
            }
            ("pop", LM_STATUS_PENDING) if is_live && timeout.is_zero() => {}
            ("pop", LM_STATUS_TIMEOUT) if is_live && !timeout.is_zero() => {}
            ("pop", LM_STATUS_NOT_FOUND) if !is_live => {}
            ("cancel", LM_STATUS_OK) if is_live => {
                seen.cancelled += 1;
                live.insert(id, false);
            }
            // An evicted result is no longer cancellable; its pop still answers EXPIRED later.
            ("cancel", LM_STATUS_NOT_FOUND) => {}
            _ => violation(&format!("is not allowed here (live: {is_live})")),
        }
    }
    // Drain: every id still live must reach a final state.
    for (&id, &is_live) in &live {
        if !is_live {
            continue;
        }
        let mut out = landmarks_buf(&mut points);
        // SAFETY: live handle, buffer of 4 points.
        match unsafe { lm_pop_wait(h.0, id, 10_000, &mut out) } {
            LM_STATUS_OK => seen.delivered += 1,
            LM_STATUS_INFERENCE_FAILED => seen.failed += 1,
            LM_STATUS_EXPIRED => seen.expired += 1,
            other => seen
                .violations
                .push(format!("drain: id {id} answered {other:?}")),
        }
    }
    seen
}

#[test]
fn random_abi_sequences_from_eight_threads_keep_every_promise() {
    torture(false);
}

/// The same with an overlapping backend (start/finish, as on the GPU): two batches in flight.
#[test]
fn random_abi_sequences_keep_every_promise_with_two_batches_in_flight() {
    torture(true);
}

fn torture(overlap: bool) {
    let seed = seed("torture");
    let mut backend = FakeBackend::new(8);
    backend.chaos = Some((Rng::new(seed), 8, Duration::from_millis(1)));
    backend.overlap = overlap;
    backend.finish_sleep = Duration::from_micros(if overlap { 500 } else { 0 });
    let in_flight = backend.max_in_flight.clone();
    let config = Config {
        max_batch: 8,
        queue_capacity: Some(16),
        max_wait: Duration::from_millis(1),
        // Enough tombstones for every id, so an evicted result is always answered EXPIRED.
        result_capacity: 1024,
        result_ttl: Some(Duration::from_millis(40)),
        ..Config::default()
    };
    let pipeline = Pipeline::with_backend(config, move || {
        Ok(Box::new(backend) as Box<dyn lmbatch::Backend>)
    })
    .unwrap();
    let h = Shared(handle_from_pipeline(pipeline));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| std::thread::spawn(move || run_thread(h, t, seed)))
        .collect();
    let seen: Vec<Seen> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let s = stats(h.0);
    // SAFETY: all threads joined; nothing races the destroy.
    unsafe { lm_destroy(h.0) };

    let total = |f: fn(&Seen) -> u64| seen.iter().map(f).sum::<u64>();
    let violations: Vec<&String> = seen.iter().flat_map(|s| &s.violations).collect();
    let worst = seen
        .iter()
        .map(|s| s.worst_overrun)
        .max()
        .unwrap_or_default();
    println!(
        "steps {}, accepted {} (superseded {}), delivered {}, failed {}, expired {}, cancelled {}, invalid {}, queue-full {}, batches {}, worst overrun {:?}",
        THREADS as usize * STEPS_PER_THREAD,
        total(|s| s.accepted),
        total(|s| s.superseded),
        total(|s| s.delivered),
        total(|s| s.failed),
        total(|s| s.expired),
        total(|s| s.cancelled),
        total(|s| s.invalid),
        total(|s| s.full),
        s.batches,
        worst
    );
    assert!(
        violations.is_empty(),
        "{} violations, first: {:?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
    // Every accepted face reached exactly one final state, seen by its thread.
    assert_eq!(
        total(|s| s.accepted),
        total(|s| s.delivered)
            + total(|s| s.failed)
            + total(|s| s.expired)
            + total(|s| s.cancelled)
            + total(|s| s.superseded)
    );
    assert_eq!(s.accepted, total(|s| s.accepted));
    assert_eq!(s.popped, total(|s| s.delivered) + total(|s| s.failed));
    assert_eq!(s.expired, total(|s| s.expired) + total(|s| s.superseded));
    assert_eq!(s.cancelled, total(|s| s.cancelled));
    // `failed` counts items whose batch failed, including those later evicted or cancelled
    // before anyone popped the failure.
    assert!(s.failed >= total(|s| s.failed), "{s:?}");
    assert_eq!(s.rejected_invalid, total(|s| s.invalid));
    assert_eq!(s.queued + s.in_flight + s.ready, 0);
    assert!(c_reconciles(&s));
    let most = *in_flight.lock();
    println!("overlap {overlap}: at most {most} batches in flight");
    if overlap {
        assert!(most <= lmbatch::backend::MAX_IN_FLIGHT, "{most} in flight");
        // (Under a sanitizer too few batches run to be sure the load ever overlapped.)
        if s.batches >= 200 {
            assert_eq!(most, 2, "the load never overlapped two batches");
        }
    } else {
        assert_eq!(most, 0);
    }
    // Every final state must have occurred; with 8% faulty batches, 200 batches make a run
    // without a failure a one-in-ten-million event. (Under a sanitizer far fewer batches run.)
    if s.batches >= 200 {
        assert!(
            s.failed > 0 && s.expired > 0 && s.cancelled > 0 && s.rejected_full > 0,
            "the run exercised too little: {s:?}"
        );
    } else {
        println!(
            "only {} batches ran: final-state coverage not asserted",
            s.batches
        );
    }
    // A hang would show here; the bound is loose for a loaded CI machine.
    assert!(
        worst < Duration::from_millis(500),
        "a call blocked {worst:?} past its timeout"
    );
}
