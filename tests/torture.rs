//! Randomised sequences of C ABI calls from 8 threads over a backend that fails, panics, returns
//! NaN and stalls at random. Each thread enqueues, pops (lm_pop, lm_pop_wait) and cancels its own
//! ids, and any thread's lm_pop_next takes whichever id finished first, so the ids overlap: a
//! result taken by lm_pop_next is posted to its owner's inbox. Each owner keeps a ledger of its
//! ids and checks every answer against it: every accepted id reaches exactly one final state,
//! handed out at most once across all calls; stats reconcile after every step; no call blocks
//! longer than its timeout plus a small bound. A ready callback counts each id's announcements:
//! one per final state that became poppable (cancelled ones excluded), none after lm_destroy.
//! The seed is printed; `LMBATCH_SEED=<n> cargo test --test torture` replays a run.

mod common;
#[cfg(feature = "remote")]
mod fake_oip;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use lmbatch::ffi::lm_status::*;
use lmbatch::ffi::*;
use lmbatch::{Config, Pipeline, ReadyCallback, ReadyState};
use parking_lot::Mutex;

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

/// Where lm_pop_next's catches go: the owner of each id applies them to its ledger.
struct Hub {
    next_ticket: AtomicU64,
    /// lm_pop_next calls under way, by ticket: an owner that sees its live id gone waits for
    /// those that started before it looked, so their posts have arrived.
    active: Mutex<BTreeSet<u64>>,
    inboxes: Vec<Mutex<Vec<(u64, lm_status)>>>,
}

impl Hub {
    fn new() -> Self {
        Hub {
            next_ticket: AtomicU64::new(0),
            active: Mutex::default(),
            inboxes: (0..THREADS).map(|_| Mutex::default()).collect(),
        }
    }

    fn begin(&self) -> u64 {
        let mut active = self.active.lock();
        let ticket = self.next_ticket.fetch_add(1, Ordering::SeqCst);
        active.insert(ticket);
        ticket
    }

    fn end(&self, ticket: u64, caught: Option<(u64, lm_status)>) {
        if let Some((id, status)) = caught {
            self.inboxes[(id >> 32) as usize].lock().push((id, status));
        }
        self.active.lock().remove(&ticket);
    }

    /// Waits until every lm_pop_next that started before now has posted what it caught.
    fn settle(&self) {
        let now = {
            let _active = self.active.lock();
            self.next_ticket.load(Ordering::SeqCst)
        };
        while self.active.lock().range(..now).next().is_some() {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// Per id: announcements by the ready callback, [OK, INFERENCE_FAILED, EXPIRED].
#[derive(Default)]
struct Announced {
    per_id: Mutex<HashMap<u64, [u32; 3]>>,
    destroyed: AtomicBool,
    after_destroy: AtomicU64,
}

impl Announced {
    fn callback(self: &Arc<Self>) -> ReadyCallback {
        let me = self.clone();
        ReadyCallback::new(move |id, state| {
            if me.destroyed.load(Ordering::SeqCst) {
                me.after_destroy.fetch_add(1, Ordering::SeqCst);
            }
            let slot = match state {
                ReadyState::Landmarks => 0,
                ReadyState::Failed => 1,
                ReadyState::Expired => 2,
            };
            me.per_id.lock().entry(id).or_default()[slot] += 1;
        })
    }
}

/// How acceptances of an id ended, as its owner saw them (indexes of `Ledger::ends`).
const OK: usize = 0;
const FAILED: usize = 1;
const EXPIRED: usize = 2;
const CANCELLED: usize = 3;
/// Accepted again after its result was evicted, before the EXPIRED was popped: never delivered.
const SUPERSEDED: usize = 4;

/// One id's ledger. Counts, not a single state: an lm_pop_next of another thread may take a
/// result at any moment, and its post cannot say which acceptance it ended.
#[derive(Default, Clone, Copy, Debug)]
struct Ledger {
    /// Accepted and not yet seen to end.
    outstanding: u32,
    /// Of those, how many may have been superseded (accepted again while outstanding).
    maybe_superseded: u32,
    ends: [u32; 5],
}

/// Totals of what one thread saw.
#[derive(Default, Debug)]
struct Seen {
    accepted: u64,
    invalid: u64,
    full: u64,
    /// Final states taken by this thread's lm_pop_next (of any thread's ids).
    by_pop_next: u64,
    violations: Vec<String>,
    worst_overrun: Duration,
    ids: HashMap<u64, Ledger>,
}

impl Seen {
    fn total(&self, end: usize) -> u64 {
        self.ids.values().map(|l| u64::from(l.ends[end])).sum()
    }

    fn ledger(&mut self, id: u64) -> &mut Ledger {
        self.ids.entry(id).or_default()
    }

    fn is_live(&self, id: u64) -> bool {
        self.ids.get(&id).is_some_and(|l| l.outstanding > 0)
    }

    /// Applies the final states other threads' lm_pop_next took for this thread's ids.
    fn apply_inbox(&mut self, hub: &Hub, t: u64) {
        let posted = std::mem::take(&mut *hub.inboxes[t as usize].lock());
        for (id, status) in posted {
            if !self.deliver(id, status) {
                self.violations.push(format!(
                    "lm_pop_next delivered {status:?} for id {id}, which was not live: a second delivery"
                ));
            }
        }
    }

    /// Records a delivered final state; false when nothing of `id` was outstanding.
    fn deliver(&mut self, id: u64, status: lm_status) -> bool {
        let l = self.ledger(id);
        if l.outstanding == 0 {
            return false;
        }
        l.outstanding -= 1;
        l.maybe_superseded = l.maybe_superseded.min(l.outstanding);
        l.ends[match status {
            LM_STATUS_OK => OK,
            LM_STATUS_INFERENCE_FAILED => FAILED,
            _ => EXPIRED,
        }] += 1;
        true
    }

    /// The library no longer knows `id` (NOT_FOUND after every lm_pop_next has posted): what is
    /// still outstanding was superseded; false when more is outstanding than could have been.
    fn all_gone(&mut self, id: u64) -> bool {
        let l = self.ledger(id);
        if l.outstanding > l.maybe_superseded {
            return false;
        }
        l.ends[SUPERSEDED] += l.outstanding;
        l.outstanding = 0;
        l.maybe_superseded = 0;
        true
    }
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

fn run_thread(
    h: Shared,
    t: u64,
    seed: u64,
    num_points: usize,
    hub: &Hub,
    barrier: &Barrier,
) -> Seen {
    let mut rng = Rng::new(seed ^ (t.wrapping_mul(0x9E37_79B9)));
    let frame = Gray::new();
    let mut seen = Seen::default();
    let mut points = vec![0f32; num_points * 3];
    for step in 0..STEPS_PER_THREAD {
        // A VMS-like pace, so that batches keep up and every final state occurs often.
        std::thread::sleep(Duration::from_micros(rng.below(400)));
        seen.apply_inbox(hub, t);
        let id = (t << 32) | rng.below(IDS_PER_THREAD);
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
        } else if op < 44 {
            ("hostile enqueue", hostile_call(h.0, id, &mut rng, &frame))
        } else if op < 48 {
            (
                "hostile enqueue",
                hostile_frame_call(h.0, id, &mut rng, &frame),
            )
        } else if op < 78 {
            let ms = if op < 60 { 0 } else { rng.below(6) as u32 };
            timeout = Duration::from_millis(u64::from(ms));
            let mut out = landmarks_buf(&mut points);
            // SAFETY: live handle, buffer of the model's point count.
            let status = unsafe {
                if ms == 0 {
                    lm_pop(h.0, id, &mut out)
                } else {
                    lm_pop_wait(h.0, id, ms, &mut out)
                }
            };
            if status == LM_STATUS_OK && points.iter().any(|v| !v.is_finite()) {
                seen.violations.push(format!(
                    "step {step}: pop of id {id} returned non-finite points"
                ));
            }
            ("pop", status)
        } else if op < 87 {
            let ms = rng.below(4) as u32;
            timeout = Duration::from_millis(u64::from(ms));
            let mut out = landmarks_buf(&mut points);
            let mut caught = u64::MAX;
            let ticket = hub.begin();
            // SAFETY: live handle, valid pointers, buffer of the model's point count.
            let status = unsafe { lm_pop_next(h.0, ms, &mut caught, &mut out) };
            let posted = match status {
                LM_STATUS_OK | LM_STATUS_INFERENCE_FAILED | LM_STATUS_EXPIRED => {
                    seen.by_pop_next += 1;
                    if status == LM_STATUS_OK && points.iter().any(|v| !v.is_finite()) {
                        seen.violations.push(format!(
                            "step {step}: lm_pop_next of id {caught} returned non-finite points"
                        ));
                    }
                    if caught >> 32 >= THREADS {
                        seen.violations
                            .push(format!("step {step}: lm_pop_next invented id {caught}"));
                        None
                    } else {
                        Some((caught, status))
                    }
                }
                LM_STATUS_TIMEOUT => None,
                other => {
                    seen.violations
                        .push(format!("step {step}: lm_pop_next answered {other:?}"));
                    None
                }
            };
            hub.end(ticket, posted);
            ("pop_next", status)
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
        let was_live = seen.is_live(id);
        let allowed = match (what, status) {
            ("stats" | "pop_next", _) => true,
            ("enqueue", LM_STATUS_OK) => {
                seen.accepted += 1;
                // Accepting an id the ledger holds live is right when its result was evicted
                // meanwhile (superseded) or another thread's lm_pop_next took it.
                let l = seen.ledger(id);
                l.maybe_superseded += l.outstanding;
                l.outstanding += 1;
                true
            }
            ("enqueue", LM_STATUS_DUPLICATE_ID) => was_live,
            ("enqueue", LM_STATUS_QUEUE_FULL) => {
                seen.full += 1;
                true
            }
            ("hostile enqueue", LM_STATUS_INVALID_ARGUMENT) => {
                seen.invalid += 1;
                true
            }
            ("pop", LM_STATUS_OK | LM_STATUS_INFERENCE_FAILED | LM_STATUS_EXPIRED) => {
                seen.deliver(id, status)
            }
            ("pop", LM_STATUS_PENDING) => was_live && timeout.is_zero(),
            ("pop", LM_STATUS_TIMEOUT) => was_live && !timeout.is_zero(),
            ("pop", LM_STATUS_NOT_FOUND) => {
                // Gone: taken by an lm_pop_next (wait for its post), or superseded.
                hub.settle();
                seen.apply_inbox(hub, t);
                seen.all_gone(id)
            }
            ("cancel", LM_STATUS_OK) => {
                let l = seen.ledger(id);
                let live = l.outstanding > 0;
                if live {
                    l.outstanding -= 1;
                    l.maybe_superseded = l.maybe_superseded.min(l.outstanding);
                    l.ends[CANCELLED] += 1;
                }
                live
            }
            // An evicted result is no longer cancellable; its pop still answers EXPIRED later.
            ("cancel", LM_STATUS_NOT_FOUND) => true,
            _ => false,
        };
        if !allowed {
            let ledger = seen.ids.get(&id).copied().unwrap_or_default();
            seen.violations.push(format!(
                "step {step}: {what} of id {id}: {status:?} is not allowed here (ledger {ledger:?})"
            ));
        }
    }
    // Drain: nobody calls lm_pop_next any more; every id still live must reach a final state.
    barrier.wait();
    seen.apply_inbox(hub, t);
    let still: Vec<u64> = seen
        .ids
        .iter()
        .filter(|(_, l)| l.outstanding > 0)
        .map(|(&id, _)| id)
        .collect();
    for id in still {
        while seen.is_live(id) {
            let mut out = landmarks_buf(&mut points);
            // SAFETY: live handle, buffer of the model's point count.
            let status = unsafe { lm_pop_wait(h.0, id, 10_000, &mut out) };
            let ok = match status {
                LM_STATUS_OK | LM_STATUS_INFERENCE_FAILED | LM_STATUS_EXPIRED => {
                    seen.deliver(id, status)
                }
                LM_STATUS_NOT_FOUND => seen.all_gone(id),
                _ => false,
            };
            if !ok {
                let ledger = seen.ids.get(&id).copied().unwrap_or_default();
                seen.violations.push(format!(
                    "drain: id {id} answered {status:?} (ledger {ledger:?})"
                ));
                break;
            }
        }
    }
    seen
}

/// Checks each id's announcements against how its acceptances ended.
fn check_announcements(seen: &[Seen], announced: &Announced) -> Vec<String> {
    let per_id = announced.per_id.lock();
    let mut problems = Vec::new();
    let mut ids: BTreeSet<u64> = per_id.keys().copied().collect();
    ids.extend(seen.iter().flat_map(|s| s.ids.keys().copied()));
    for id in ids {
        let n = |end: usize| -> u32 {
            seen.iter()
                .filter_map(|s| s.ids.get(&id))
                .map(|l| l.ends[end])
                .sum()
        };
        let [ok, failed, expired] = per_id.get(&id).copied().unwrap_or_default();
        let evicted = n(EXPIRED) + n(SUPERSEDED);
        let finished = n(OK) + n(FAILED) + evicted;
        // A cancelled item was announced only if it had finished before the cancel (a cancel
        // withdraws announcements not yet made). A superseded item (evicted, then its id
        // accepted again before anyone took its EXPIRED) may have had its announcements
        // withdrawn by the new acceptance; every other final state was announced.
        let fits = expired >= n(EXPIRED)
            && expired <= evicted
            && ok >= n(OK)
            && failed >= n(FAILED)
            && ok + failed >= n(OK) + n(FAILED) + n(EXPIRED)
            && ok + failed <= finished + n(CANCELLED);
        if !fits {
            let ends: Vec<u32> = (0..5).map(n).collect();
            problems.push(format!(
                "id {id}: ends [ok, failed, expired, cancelled, superseded] {ends:?} but announced OK {ok}, FAILED {failed}, EXPIRED {expired}"
            ));
        }
    }
    problems
}

/// One torture run at a time: each times its results against a 40 ms TTL, and three running side
/// by side on 2 cores starved each other's expiries (a run with 269 batches saw none, and failed
/// "the run exercised too little"; alone, runs see hundreds).
static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

#[test]
fn random_abi_sequences_from_eight_threads_keep_every_promise() {
    let _alone = ONE_AT_A_TIME.lock();
    torture(false);
}

/// The same with an overlapping backend (start/finish, as on the GPU): two batches in flight.
#[test]
fn random_abi_sequences_keep_every_promise_with_two_batches_in_flight() {
    let _alone = ONE_AT_A_TIME.lock();
    torture(true);
}

/// The same over LM_BACKEND_REMOTE against two fake Open Inference Protocol servers that refuse
/// (UNAVAILABLE), garble replies and stall at intervals: retries and failovers included.
#[test]
#[cfg(feature = "remote")]
fn random_abi_sequences_keep_every_promise_over_remote_with_faults() {
    let _alone = ONE_AT_A_TIME.lock();
    let a = fake_oip::FakeServer::start(fake_oip::FakeModel::FirstByte);
    let b = fake_oip::FakeServer::start(fake_oip::FakeModel::FirstByte);
    a.set(|f| {
        f.unavailable_every = Some(5);
        f.garbage_every = Some(11);
    });
    b.set(|f| {
        f.unavailable_every = Some(7);
        f.delay = Duration::from_millis(1);
    });
    let remote = lmbatch::backend::remote::RemoteSettings::parse(
        Some(&format!("{},{}", a.url(), b.url())),
        None,
        None,
        2000,
        500,
        None,
        None,
    )
    .unwrap();
    let announced = Arc::new(Announced::default());
    let config = Config {
        backend: lmbatch::BackendChoice::Remote,
        remote: Some(remote),
        ..torture_config(&announced)
    };
    let pipeline = Pipeline::new(config).unwrap();
    let s = run_and_check(pipeline, announced, 468);
    println!(
        "remote: refused {} + {}, calls {} + {}",
        a.stats.unavailable_sent(),
        b.stats.unavailable_sent(),
        a.stats.infer_calls(),
        b.stats.infer_calls()
    );
    assert!(
        a.stats.unavailable_sent() + b.stats.unavailable_sent() > 0,
        "no fault fired"
    );
    assert!(s.batches > 0);
}

/// The pipeline settings of every torture run, with a ready callback counting announcements.
fn torture_config(announced: &Arc<Announced>) -> Config {
    Config {
        on_ready: Some(announced.callback()),
        max_batch: 8,
        queue_capacity: Some(16),
        max_wait: Duration::from_millis(1),
        // Enough tombstones for every id, so an evicted result is always answered EXPIRED.
        result_capacity: 1024,
        result_ttl: Some(Duration::from_millis(40)),
        ..Config::default()
    }
}

fn torture(overlap: bool) {
    let seed = seed("torture");
    let mut backend = FakeBackend::new(8);
    backend.chaos = Some((Rng::new(seed), 8, Duration::from_millis(1)));
    backend.overlap = overlap;
    backend.finish_sleep = Duration::from_micros(if overlap { 500 } else { 0 });
    let in_flight = backend.max_in_flight.clone();
    let announced = Arc::new(Announced::default());
    let pipeline = Pipeline::with_backend(torture_config(&announced), move || {
        Ok(Box::new(backend) as Box<dyn lmbatch::Backend>)
    })
    .unwrap();
    let s = run_and_check(pipeline, announced, 4);
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
}

/// Runs the 8 threads over `pipeline` (a model of `num_points`, its callback counting into
/// `announced`), destroys it and checks the ledger; returns the final stats.
fn run_and_check(pipeline: Pipeline, announced: Arc<Announced>, num_points: usize) -> lm_stats {
    let seed = seed("torture");
    let h = Shared(handle_from_pipeline(pipeline));
    let hub = Arc::new(Hub::new());
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (hub, barrier) = (hub.clone(), barrier.clone());
            std::thread::spawn(move || run_thread(h, t, seed, num_points, &hub, &barrier))
        })
        .collect();
    let seen: Vec<Seen> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let s = stats(h.0);
    // SAFETY: all threads joined; nothing races the destroy.
    unsafe { lm_destroy(h.0) };
    announced.destroyed.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(20));

    let total = |f: fn(&Seen) -> u64| seen.iter().map(f).sum::<u64>();
    let ends = |end: usize| seen.iter().map(|s| s.total(end)).sum::<u64>();
    let violations: Vec<&String> = seen.iter().flat_map(|s| &s.violations).collect();
    let worst = seen
        .iter()
        .map(|s| s.worst_overrun)
        .max()
        .unwrap_or_default();
    println!(
        "steps {}, accepted {} (superseded {}), delivered {}, failed {}, expired {}, cancelled {}, invalid {}, queue-full {}, batches {}, by lm_pop_next {}, callbacks {}, worst overrun {:?}",
        THREADS as usize * STEPS_PER_THREAD,
        total(|s| s.accepted),
        ends(SUPERSEDED),
        ends(OK),
        ends(FAILED),
        ends(EXPIRED),
        ends(CANCELLED),
        total(|s| s.invalid),
        total(|s| s.full),
        s.batches,
        total(|s| s.by_pop_next),
        s.ready_callbacks,
        worst
    );
    assert!(
        violations.is_empty(),
        "{} violations, first: {:?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
    let problems = check_announcements(&seen, &announced);
    assert!(
        problems.is_empty(),
        "{} ids announced wrongly, first: {:?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );
    assert_eq!(
        announced.after_destroy.load(Ordering::SeqCst),
        0,
        "a callback after lm_destroy"
    );
    let announcements: u64 = announced
        .per_id
        .lock()
        .values()
        .map(|c| u64::from(c[0] + c[1] + c[2]))
        .sum();
    let expiries: u64 = announced
        .per_id
        .lock()
        .values()
        .map(|c| u64::from(c[2]))
        .sum();
    // One EXPIRED announcement per eviction, but those a new acceptance of the id withdrew
    // before they were made (superseded items).
    assert!(
        expiries <= s.expired && expiries >= ends(EXPIRED),
        "EXPIRED announcements {expiries}, evictions {}, EXPIRED delivered {}",
        s.expired,
        ends(EXPIRED)
    );
    assert!(s.ready_callbacks <= announcements, "{s:?}");
    // Every accepted face reached exactly one final state, seen by its thread.
    assert_eq!(
        total(|s| s.accepted),
        ends(OK) + ends(FAILED) + ends(EXPIRED) + ends(CANCELLED) + ends(SUPERSEDED)
    );
    assert_eq!(s.accepted, total(|s| s.accepted));
    assert_eq!(s.popped, ends(OK) + ends(FAILED));
    assert_eq!(s.expired, ends(EXPIRED) + ends(SUPERSEDED));
    assert_eq!(s.cancelled, ends(CANCELLED));
    // `failed` counts items whose batch failed, including those later evicted or cancelled
    // before anyone popped the failure.
    assert!(s.failed >= ends(FAILED), "{s:?}");
    assert_eq!(s.rejected_invalid, total(|s| s.invalid));
    assert_eq!(s.queued + s.in_flight + s.ready, 0);
    assert!(c_reconciles(&s));
    // Every final state must have occurred; with 8% faulty batches, 200 batches make a run
    // without a failure a one-in-ten-million event. (Under a sanitizer far fewer batches run.)
    if s.batches >= 200 {
        assert!(
            s.failed > 0 && s.expired > 0 && s.cancelled > 0,
            "the run exercised too little: {s:?}"
        );
        // QUEUE_FULL is a refusal, not a final state, and nothing makes it likely at this pace
        // (a CI run saw 1,002 batches without one): the ledger checks it when it happens, and
        // tests/pipeline.rs (exact counts) and cpp_wrapper_test provoke it on purpose.
        if s.rejected_full == 0 {
            println!("no enqueue met a full queue in this run");
        }
        assert!(
            total(|s| s.by_pop_next) > 0,
            "lm_pop_next never took a result"
        );
    } else {
        println!(
            "only {} batches ran: final-state coverage not asserted",
            s.batches
        );
    }
    // Only a hang must show here (a call that ignores its timeout): scheduling delays on a
    // loaded 2-core machine are not failures. The figure is printed above.
    assert!(
        worst < Duration::from_secs(5),
        "a call blocked {worst:?} past its timeout"
    );
    s
}
