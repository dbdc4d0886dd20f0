//! The result store: one entry per live event id, from an accepted enqueue until its final state
//! is delivered. It also owns every counter of `lm_stats`, so a snapshot taken under its one lock
//! always reconciles: `accepted = queued + in_flight + ready + popped + expired + cancelled`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::ready::ReadyState;

/// Landmarks of one face, in frame pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Landmarks {
    /// `num_points × (x, y, z)`.
    pub points: Vec<f32>,
    pub face_score: f32,
    /// From the accepted enqueue to the start of the batch's inference.
    pub queue_us: u64,
    /// The batch's inference time.
    pub infer_us: u64,
    /// The angle θ of this face's crop, radians (0: upright).
    pub roll: f32,
    /// Where to crop this face in the next frame: a square from these points (see
    /// [`crate::image::track_region`]), to pass back with `track_roll`.
    pub track_box: crate::image::FaceBox,
    /// The roll of the predicted eye line (`roll` for a model without eye points).
    pub track_roll: f32,
    /// Head pose (NaN where the model's scheme cannot say).
    pub pose: crate::pose::Pose,
    pub quality: crate::pose::Quality,
    /// The aligned chip, `chip_side`² pixels of 3 bytes (empty, side 0: no chip).
    pub chip: Vec<u8>,
    pub chip_side: u32,
}

/// The final state of an item that reached the backend.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Landmarks(Landmarks),
    /// The backend failed on this item's batch (or produced unusable values for it).
    Failed(String),
}

/// What a pop answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Popped {
    Landmarks(Landmarks),
    Failed(String),
    /// Accepted, not finished yet.
    Pending,
    /// `pop_wait`: still pending when the timeout ran out.
    Timeout,
    /// Unknown id, or its final state was already delivered.
    NotFound,
    /// The result was evicted (capacity or time-to-live) before it was popped.
    Expired,
    /// `pop_wait`: the item was cancelled while the call waited.
    Cancelled,
    /// The caller's buffers hold fewer points, or fewer chip bytes, than the result; nothing was
    /// consumed.
    BufferTooSmall {
        num_points: u32,
        /// The result's chip side (0: no chip).
        chip_side: u32,
    },
}

/// The room of the buffers a pop copies into: a result that does not fit stays where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Room {
    /// Points (three floats each).
    pub points: usize,
    /// Bytes for the chip; `None`: the caller takes no chip (a result's chip is then not
    /// delivered, and never makes the result too big).
    pub chip_bytes: Option<usize>,
}

impl Room {
    /// A caller that takes whatever the result holds (the Rust API).
    pub const ANY: Room = Room {
        points: usize::MAX,
        chip_bytes: Some(usize::MAX),
    };

    /// `BufferTooSmall` when `l` does not fit.
    fn refuses(&self, l: &Landmarks) -> Option<Popped> {
        let num_points = l.points.len() / 3;
        let chip_short = self.chip_bytes.is_some_and(|room| room < l.chip.len());
        (num_points > self.points || chip_short).then_some(Popped::BufferTooSmall {
            num_points: num_points as u32,
            chip_side: l.chip_side,
        })
    }
}

/// Counters of the store; see the module doc for the invariant they keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    pub accepted: u64,
    pub rejected_full: u64,
    pub rejected_invalid: u64,
    pub queued: u64,
    pub in_flight: u64,
    pub ready: u64,
    pub popped: u64,
    pub expired: u64,
    pub cancelled: u64,
    pub failed: u64,
    pub batches: u64,
    /// `[n]` = batches of n items; `[0]` unused.
    pub batch_size_hist: [u64; 33],
    /// Ready callbacks made, and the time spent in them (outside the reconciling counts).
    pub ready_callbacks: u64,
    pub ready_callback_us: u64,
    pub ready_callback_max_us: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            accepted: 0,
            rejected_full: 0,
            rejected_invalid: 0,
            queued: 0,
            in_flight: 0,
            ready: 0,
            popped: 0,
            expired: 0,
            cancelled: 0,
            failed: 0,
            batches: 0,
            batch_size_hist: [0; 33],
            ready_callbacks: 0,
            ready_callback_us: 0,
            ready_callback_max_us: 0,
        }
    }
}

/// A consistent snapshot of the store's counters and recent latencies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub counters: Counters,
    pub queue_us_p50: u64,
    pub queue_us_p99: u64,
    pub infer_us_p50: u64,
    pub infer_us_p99: u64,
    pub degraded: bool,
}

/// Why an admission was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    ShuttingDown,
    DuplicateId,
    QueueFull,
}

/// Identifies one accepted item, so a stale message for a cancelled and reused id is recognised.
pub type Ticket = u64;

#[derive(Debug)]
enum Slot {
    Queued,
    InFlight,
    Ready(Outcome),
}

#[derive(Debug)]
struct Entry {
    ticket: Ticket,
    slot: Slot,
    /// Threads blocked in `pop_wait` on this entry.
    waiters: u32,
}

/// Number of recent samples the latency percentiles are taken over.
const LATENCY_WINDOW: usize = 1024;
/// Consecutive failed batches after which the handle reports itself degraded.
const DEGRADED_AFTER: u32 = 3;

#[derive(Debug)]
struct LatencyWindow {
    samples: Vec<u64>,
    next: usize,
}

impl LatencyWindow {
    fn new() -> Self {
        LatencyWindow {
            samples: Vec::with_capacity(LATENCY_WINDOW),
            next: 0,
        }
    }

    fn push(&mut self, value: u64) {
        if self.samples.len() < LATENCY_WINDOW {
            self.samples.push(value);
        } else {
            self.samples[self.next] = value;
        }
        self.next = (self.next + 1) % LATENCY_WINDOW;
    }

    /// (p50, p99) by nearest rank; zeros when empty.
    fn percentiles(&self) -> (u64, u64) {
        if self.samples.is_empty() {
            return (0, 0);
        }
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let rank =
            |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        (rank(0.50), rank(0.99))
    }
}

#[derive(Debug)]
struct State {
    entries: HashMap<u64, Entry>,
    /// Finished results in completion order (oldest first); stale records are skipped and
    /// compacted away.
    finished: VecDeque<(u64, Ticket, Instant)>,
    /// Ids evicted before they were popped: answered `Expired` once.
    tombstones: HashMap<u64, Ticket>,
    tombstone_order: VecDeque<(u64, Ticket)>,
    /// Tickets cancelled while threads waited on them, with the number of those threads.
    cancelled_waits: HashMap<Ticket, u32>,
    counters: Counters,
    /// Final states that became poppable since the worker last took them, for the ready
    /// callback (kept only when there is one), with the ticket they belong to: a cancel, or a
    /// reuse of an evicted id, withdraws the notices of the ticket it ends.
    notices: Vec<(u64, Ticket, ReadyState)>,
    notify: bool,
    failed_batches_in_a_row: u32,
    next_ticket: Ticket,
    closed: bool,
}

/// The store, shared by the callers' threads and the worker.
#[derive(Debug)]
pub struct ResultStore {
    state: Mutex<State>,
    finished_cv: Condvar,
    /// Recent (queue, inference) latencies; apart from the counters, which must reconcile, so
    /// sorting them for a snapshot never holds up the callers.
    latencies: Mutex<(LatencyWindow, LatencyWindow)>,
    capacity: usize,
    ttl: Option<Duration>,
}

impl ResultStore {
    /// `capacity` finished results wait to be popped (≥ 1); `ttl` runs from completion.
    pub fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        ResultStore {
            state: Mutex::new(State {
                entries: HashMap::new(),
                finished: VecDeque::new(),
                tombstones: HashMap::new(),
                tombstone_order: VecDeque::new(),
                cancelled_waits: HashMap::new(),
                counters: Counters::default(),
                notices: Vec::new(),
                notify: false,
                failed_batches_in_a_row: 0,
                next_ticket: 0,
                closed: false,
            }),
            finished_cv: Condvar::new(),
            latencies: Mutex::new((LatencyWindow::new(), LatencyWindow::new())),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// Notes every final state as it becomes poppable, for [`take_notices`](Self::take_notices).
    pub fn with_notices(mut self) -> Self {
        self.state.get_mut().notify = true;
        self
    }

    /// Whether `id` could be admitted now (the checks of [`admit`](Self::admit) but the queue's).
    pub fn check_admissible(&self, id: u64) -> Result<(), Refusal> {
        let s = self.state.lock();
        if s.closed {
            Err(Refusal::ShuttingDown)
        } else if s.entries.contains_key(&id) {
            Err(Refusal::DuplicateId)
        } else {
            Ok(())
        }
    }

    /// Admits `id`: under the store lock, refuses a duplicate live id or a closed store, then calls
    /// `send` with the item's ticket (a non-blocking hand-off to the queue). Only if `send` succeeds
    /// is the item accepted, so a snapshot never sees a half-admitted item.
    pub fn admit(&self, id: u64, send: impl FnOnce(Ticket) -> bool) -> Result<Ticket, Refusal> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(Refusal::ShuttingDown);
        }
        if s.entries.contains_key(&id) {
            return Err(Refusal::DuplicateId);
        }
        let ticket = s.next_ticket;
        if !send(ticket) {
            s.counters.rejected_full += 1;
            return Err(Refusal::QueueFull);
        }
        s.next_ticket += 1;
        // A reused id supersedes the tombstone of its evicted predecessor, and with it the
        // predecessor's EXPIRED notice: announcing it now would name the new item.
        if let Some(old) = s.tombstones.remove(&id) {
            s.withdraw_notices(old);
        }
        s.entries.insert(
            id,
            Entry {
                ticket,
                slot: Slot::Queued,
                waiters: 0,
            },
        );
        s.counters.accepted += 1;
        s.counters.queued += 1;
        Ok(ticket)
    }

    /// Counts an enqueue refused for bad input.
    pub fn count_invalid(&self) {
        self.state.lock().counters.rejected_invalid += 1;
    }

    /// Counts an enqueue refused because the queue was full before it reached [`admit`](Self::admit).
    pub fn count_full(&self) {
        self.state.lock().counters.rejected_full += 1;
    }

    /// Stops intake: later admissions answer `ShuttingDown`.
    pub fn close(&self) {
        self.state.lock().closed = true;
    }

    /// Marks the batch's items in flight; returns, per item, whether it is still live (a cancelled
    /// item is skipped by the backend).
    pub fn start_batch(&self, items: &[(u64, Ticket)]) -> Vec<bool> {
        let mut s = self.state.lock();
        let s = &mut *s;
        items
            .iter()
            .map(|(id, ticket)| match s.entries.get_mut(id) {
                Some(e) if e.ticket == *ticket && matches!(e.slot, Slot::Queued) => {
                    e.slot = Slot::InFlight;
                    s.counters.queued -= 1;
                    s.counters.in_flight += 1;
                    true
                }
                _ => false,
            })
            .collect()
    }

    /// Discards queued items that will never run (shutdown past its drain deadline); they count as
    /// cancelled.
    pub fn discard_queued(&self, items: &[(u64, Ticket)]) {
        let mut s = self.state.lock();
        for (id, ticket) in items {
            if matches!(s.entries.get(id), Some(e) if e.ticket == *ticket) {
                s.remove_live(*id, true);
            }
        }
        drop(s);
        self.finished_cv.notify_all();
    }

    /// Records a batch's outcomes (one per item that ran) and its latencies; wakes waiters.
    /// Returns true when this batch made the handle degraded (for the caller to log once).
    pub fn complete_batch(&self, batch_size: usize, outcomes: Vec<(u64, Ticket, Outcome)>) -> bool {
        let now = Instant::now();
        {
            let mut latencies = self.latencies.lock();
            for (_, _, outcome) in &outcomes {
                if let Outcome::Landmarks(l) = outcome {
                    latencies.0.push(l.queue_us);
                    latencies.1.push(l.infer_us);
                }
            }
        }
        let mut guard = self.state.lock();
        let s = &mut *guard;
        let batch_failed = outcomes
            .iter()
            .all(|(_, _, o)| matches!(o, Outcome::Failed(_)));
        s.counters.batches += 1;
        s.counters.batch_size_hist[batch_size.min(32)] += 1;
        for (id, ticket, outcome) in outcomes {
            let Some(e) = s.entries.get_mut(&id) else {
                continue;
            };
            if e.ticket != ticket || !matches!(e.slot, Slot::InFlight) {
                continue; // cancelled while in flight: its result is discarded
            }
            let state = match outcome {
                Outcome::Landmarks(_) => ReadyState::Landmarks,
                Outcome::Failed(_) => {
                    s.counters.failed += 1;
                    ReadyState::Failed
                }
            };
            if s.notify {
                s.notices.push((id, ticket, state));
            }
            e.slot = Slot::Ready(outcome);
            s.counters.in_flight -= 1;
            s.counters.ready += 1;
            s.finished.push_back((id, ticket, now));
        }
        let was_degraded = s.is_degraded();
        s.failed_batches_in_a_row = if batch_failed {
            s.failed_batches_in_a_row + 1
        } else {
            0
        };
        let became_degraded = !was_degraded && s.is_degraded();
        s.evict_over_capacity(self.capacity);
        drop(guard);
        self.finished_cv.notify_all();
        became_degraded
    }

    /// Hands out a final result once. `room` is what the caller's buffers hold.
    pub fn pop(&self, id: u64, room: Room) -> Popped {
        let mut s = self.state.lock();
        s.expire(self.ttl, self.capacity);
        s.take_final(id, room).unwrap_or(Popped::Pending)
    }

    /// Like [`pop`](Self::pop), but waits up to `timeout` for a pending item to finish.
    pub fn pop_wait(&self, id: u64, room: Room, timeout: Duration) -> Popped {
        if timeout.is_zero() {
            return self.pop(id, room);
        }
        let deadline = Instant::now().checked_add(timeout);
        let mut s = self.state.lock();
        s.expire(self.ttl, self.capacity);
        if let Some(answer) = s.take_final(id, room) {
            return answer;
        }
        // Pending: register as a waiter on this item (its ticket), so a cancel can tell us.
        let Some(entry) = s.entries.get_mut(&id) else {
            return Popped::NotFound;
        };
        entry.waiters += 1;
        let ticket = entry.ticket;
        loop {
            let timed_out = match deadline {
                Some(d) => self.finished_cv.wait_until(&mut s, d).timed_out(),
                None => {
                    self.finished_cv.wait(&mut s);
                    false
                }
            };
            s.expire(self.ttl, self.capacity);
            // Whatever woke us (a completion, a cancel, an eviction, the deadline), first ask
            // whether our item still exists: a cancel that landed just as the wait timed out is
            // still CANCELLED, and a reused id's new item is never ours to take.
            if s.entries.get(&id).is_none_or(|e| e.ticket != ticket) {
                return s.answer_for_gone(id, ticket);
            }
            // Still ours. An answer that consumes nothing, or the timeout, ends this thread's
            // wait on an item that stays: it stops counting as a waiter (else a later cancel
            // would keep a share for a thread that is gone).
            match s.take_final(id, room) {
                Some(small @ Popped::BufferTooSmall { .. }) => {
                    s.leave_wait(id, ticket);
                    return small;
                }
                Some(answer) => return answer,
                None if timed_out => {
                    s.leave_wait(id, ticket);
                    return Popped::Timeout;
                }
                None => {}
            }
        }
    }

    /// Cancels a live id (queued, in flight or ready): it is released at once and its result, if
    /// any comes, discarded. Returns false for an unknown id.
    pub fn cancel(&self, id: u64) -> bool {
        let mut s = self.state.lock();
        s.expire(self.ttl, self.capacity);
        if !s.entries.contains_key(&id) {
            return false;
        }
        s.remove_live(id, true);
        drop(s);
        self.finished_cv.notify_all();
        true
    }

    /// Threads waiting in `pop_wait` on `id` right now (for tests that must know a waiter is
    /// parked before they act).
    pub fn waiters(&self, id: u64) -> u32 {
        self.state.lock().entries.get(&id).map_or(0, |e| e.waiters)
    }

    /// Applies time-to-live eviction now (the store also does it on every access).
    pub fn expire_now(&self) {
        self.state.lock().expire(self.ttl, self.capacity);
    }

    /// The earliest-finished final state not delivered yet, whatever its id: an evicted result's
    /// `Expired` first (it finished before anything still held), then `Landmarks` or `Failed` in
    /// completion order. Waits up to `timeout` (`None` when nothing came). `BufferTooSmall`
    /// consumes nothing. Competes with [`pop`](Self::pop): each final state goes to one call.
    pub fn pop_next(&self, room: Room, timeout: Duration) -> Option<(u64, Popped)> {
        let deadline = Instant::now().checked_add(timeout);
        let mut s = self.state.lock();
        loop {
            s.expire(self.ttl, self.capacity);
            if let Some(next) = s.take_next(room) {
                drop(s);
                // A pop_wait on that id learns at once that someone else took it.
                self.finished_cv.notify_all();
                return Some(next);
            }
            if timeout.is_zero() || deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            // Also wake when the oldest result's time-to-live runs out: its EXPIRED is news.
            let wake = [deadline, s.next_expiry(self.ttl)]
                .into_iter()
                .flatten()
                .min();
            match wake {
                Some(at) => {
                    self.finished_cv.wait_until(&mut s, at);
                }
                None => self.finished_cv.wait(&mut s),
            }
        }
    }

    /// When the oldest waiting result's time-to-live runs out (`None`: nothing to expire).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.state.lock().next_expiry(self.ttl)
    }

    /// The final states noted since the last call, oldest first (see [`with_notices`](Self::with_notices)).
    /// A cancelled item's notice is never among them (the cancel withdrew it).
    pub fn take_notices(&self) -> Vec<(u64, ReadyState)> {
        let notices = std::mem::take(&mut self.state.lock().notices);
        notices
            .into_iter()
            .map(|(id, _, state)| (id, state))
            .collect()
    }

    /// Counts one ready callback that took `us` microseconds.
    pub fn record_callback(&self, us: u64) {
        let c = &mut self.state.lock().counters;
        c.ready_callbacks += 1;
        c.ready_callback_us += us;
        c.ready_callback_max_us = c.ready_callback_max_us.max(us);
    }

    pub fn stats(&self) -> Stats {
        let (counters, degraded) = {
            let mut s = self.state.lock();
            s.expire(self.ttl, self.capacity);
            (s.counters.clone(), s.is_degraded())
        };
        let latencies = self.latencies.lock();
        let (queue_us_p50, queue_us_p99) = latencies.0.percentiles();
        let (infer_us_p50, infer_us_p99) = latencies.1.percentiles();
        Stats {
            counters,
            queue_us_p50,
            queue_us_p99,
            infer_us_p50,
            infer_us_p99,
            degraded,
        }
    }
}

impl State {
    fn is_degraded(&self) -> bool {
        self.failed_batches_in_a_row >= DEGRADED_AFTER
    }

    /// The final answer for `id` if there is one (`None` while it is pending).
    fn take_final(&mut self, id: u64, room: Room) -> Option<Popped> {
        let Some(entry) = self.entries.get(&id) else {
            return Some(if self.tombstones.remove(&id).is_some() {
                Popped::Expired
            } else {
                Popped::NotFound
            });
        };
        let Slot::Ready(outcome) = &entry.slot else {
            return None;
        };
        if let Some(too_small) = match outcome {
            Outcome::Landmarks(l) => room.refuses(l),
            Outcome::Failed(_) => None,
        } {
            return Some(too_small);
        }
        let entry = self.entries.remove(&id)?;
        self.counters.ready -= 1;
        self.counters.popped += 1;
        self.compact_finished();
        Some(match entry.slot {
            Slot::Ready(Outcome::Landmarks(l)) => Popped::Landmarks(l),
            Slot::Ready(Outcome::Failed(why)) => Popped::Failed(why),
            Slot::Queued | Slot::InFlight => Popped::Pending,
        })
    }

    /// Takes the earliest-finished undelivered final state (see [`ResultStore::pop_next`]).
    fn take_next(&mut self, room: Room) -> Option<(u64, Popped)> {
        while let Some((id, ticket)) = self.tombstone_order.pop_front() {
            if self.tombstones.get(&id) == Some(&ticket) {
                self.tombstones.remove(&id);
                return Some((id, Popped::Expired));
            }
        }
        while let Some(&(id, ticket, _)) = self.finished.front() {
            let Some(entry) = self.entries.get(&id).filter(|e| e.ticket == ticket) else {
                self.finished.pop_front(); // popped or cancelled meanwhile
                continue;
            };
            let Slot::Ready(outcome) = &entry.slot else {
                self.finished.pop_front();
                continue;
            };
            if let Some(too_small) = match outcome {
                Outcome::Landmarks(l) => room.refuses(l),
                Outcome::Failed(_) => None,
            } {
                return Some((id, too_small));
            }
            self.finished.pop_front();
            let entry = self.entries.remove(&id)?;
            self.counters.ready -= 1;
            self.counters.popped += 1;
            return Some((
                id,
                match entry.slot {
                    Slot::Ready(Outcome::Landmarks(l)) => Popped::Landmarks(l),
                    Slot::Ready(Outcome::Failed(why)) => Popped::Failed(why),
                    Slot::Queued | Slot::InFlight => Popped::Pending,
                },
            ));
        }
        None
    }

    /// When the oldest current finished record reaches its time-to-live; drops stale records
    /// in front of it, so an idle worker wakes only for results that are really waiting.
    fn next_expiry(&mut self, ttl: Option<Duration>) -> Option<Instant> {
        let ttl = ttl?;
        while let Some(&(id, ticket, done)) = self.finished.front() {
            let current = matches!(self.entries.get(&id), Some(e) if e.ticket == ticket && matches!(e.slot, Slot::Ready(_)));
            if current {
                return done.checked_add(ttl);
            }
            self.finished.pop_front();
        }
        None
    }

    /// What a waiter on `ticket` answers once the entry of `id` is no longer its item: cancelled
    /// (this waiter's share of the cancel), evicted (the tombstone, once), or delivered to
    /// another caller.
    fn answer_for_gone(&mut self, id: u64, ticket: Ticket) -> Popped {
        if self.take_cancelled_wait(ticket) {
            Popped::Cancelled
        } else if self.tombstones.get(&id) == Some(&ticket) {
            self.tombstones.remove(&id);
            Popped::Expired
        } else {
            Popped::NotFound
        }
    }

    /// A waiter on `ticket` stops waiting on `id` while the item is still there.
    fn leave_wait(&mut self, id: u64, ticket: Ticket) {
        if let Some(e) = self.entries.get_mut(&id).filter(|e| e.ticket == ticket) {
            e.waiters = e.waiters.saturating_sub(1);
        }
    }

    /// Drops the not-yet-delivered ready notices of an item that ended without being popped.
    fn withdraw_notices(&mut self, ticket: Ticket) {
        if !self.notices.is_empty() {
            self.notices.retain(|&(_, t, _)| t != ticket);
        }
    }

    /// Whether `ticket` was cancelled while this thread waited on it; consumes this waiter's share.
    fn take_cancelled_wait(&mut self, ticket: Ticket) -> bool {
        let Some(n) = self.cancelled_waits.get_mut(&ticket) else {
            return false;
        };
        *n -= 1;
        if *n == 0 {
            self.cancelled_waits.remove(&ticket);
        }
        true
    }

    /// Removes a live entry, counting it as cancelled when `cancelled`, and tells its waiters.
    fn remove_live(&mut self, id: u64, cancelled: bool) {
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        match entry.slot {
            Slot::Queued => self.counters.queued -= 1,
            Slot::InFlight => self.counters.in_flight -= 1,
            Slot::Ready(_) => self.counters.ready -= 1,
        }
        if cancelled {
            self.counters.cancelled += 1;
            self.withdraw_notices(entry.ticket);
        }
        if entry.waiters > 0 {
            self.cancelled_waits.insert(entry.ticket, entry.waiters);
        }
        self.compact_finished();
    }

    /// Evicts the oldest finished results past their time-to-live, and past capacity.
    fn expire(&mut self, ttl: Option<Duration>, capacity: usize) {
        if let Some(ttl) = ttl {
            let now = Instant::now();
            while let Some(&(id, ticket, done)) = self.finished.front() {
                if now.duration_since(done) < ttl {
                    break;
                }
                self.finished.pop_front();
                self.evict(id, ticket, capacity);
            }
        }
        self.evict_over_capacity(capacity);
    }

    fn evict_over_capacity(&mut self, capacity: usize) {
        while self.counters.ready as usize > capacity {
            let Some((id, ticket, _)) = self.finished.pop_front() else {
                break;
            };
            self.evict(id, ticket, capacity);
        }
    }

    /// Evicts one finished result (if the record is still current) and leaves a tombstone.
    fn evict(&mut self, id: u64, ticket: Ticket, capacity: usize) {
        let current = matches!(self.entries.get(&id), Some(e) if e.ticket == ticket && matches!(e.slot, Slot::Ready(_)));
        if !current {
            return;
        }
        self.entries.remove(&id);
        self.counters.ready -= 1;
        self.counters.expired += 1;
        if self.notify {
            self.notices.push((id, ticket, ReadyState::Expired));
        }
        self.tombstones.insert(id, ticket);
        self.tombstone_order.push_back((id, ticket));
        while self.tombstones.len() > capacity {
            let Some((old_id, old_ticket)) = self.tombstone_order.pop_front() else {
                break;
            };
            if self.tombstones.get(&old_id) == Some(&old_ticket) {
                self.tombstones.remove(&old_id);
            }
        }
        if self.tombstone_order.len() > 2 * self.tombstones.len() + 64 {
            let tombstones = &self.tombstones;
            self.tombstone_order
                .retain(|(i, t)| tombstones.get(i) == Some(t));
        }
    }

    /// Drops records of results that were popped or cancelled, so the order queue stays
    /// proportional to the results actually waiting.
    fn compact_finished(&mut self) {
        if self.finished.len() > 2 * self.counters.ready as usize + 64 {
            let entries = &self.entries;
            self.finished.retain(|(id, ticket, _)| {
                matches!(entries.get(id), Some(e) if e.ticket == *ticket && matches!(e.slot, Slot::Ready(_)))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    const POINTS: usize = 468;

    fn room(points: usize) -> Room {
        Room {
            points,
            chip_bytes: None,
        }
    }

    fn landmarks() -> Outcome {
        Outcome::Landmarks(Landmarks {
            points: vec![1.0; POINTS * 3],
            face_score: 0.9,
            queue_us: 0,
            infer_us: 0,
            roll: 0.0,
            track_box: crate::image::FaceBox {
                x1: 0.0,
                y1: 0.0,
                x2: 1.0,
                y2: 1.0,
            },
            track_roll: 0.0,
            pose: crate::pose::Pose::UNKNOWN,
            quality: crate::pose::Quality {
                sharpness: 0.0,
                eyes_open: 0.0,
                mouth_open: 0.0,
                inter_eye_px: 0.0,
                frontal: 0.0,
                overall: 0.0,
            },
            chip: vec![7; 12],
            chip_side: 2,
        })
    }

    #[test]
    fn a_chip_buffer_too_small_consumes_nothing_and_no_chip_buffer_never_refuses() {
        let store = ResultStore::new(8, None);
        finish(&store, 9);
        let short = Room {
            points: POINTS,
            chip_bytes: Some(11),
        };
        let refused = Popped::BufferTooSmall {
            num_points: POINTS as u32,
            chip_side: 2,
        };
        assert_eq!(store.pop(9, short), refused);
        assert_eq!(store.pop_next(short, Duration::ZERO), Some((9, refused)));
        let exact = Room {
            chip_bytes: Some(12),
            ..short
        };
        assert!(matches!(store.pop(9, exact), Popped::Landmarks(l) if l.chip == vec![7; 12]));
        finish(&store, 10);
        assert!(matches!(store.pop(10, room(POINTS)), Popped::Landmarks(_)));
    }

    /// Admits `id` and runs it to a finished result.
    fn finish(store: &ResultStore, id: u64) -> Ticket {
        let ticket = store.admit(id, |_| true).expect("admitted");
        assert_eq!(store.start_batch(&[(id, ticket)]), vec![true]);
        store.complete_batch(1, vec![(id, ticket, landmarks())]);
        ticket
    }

    /// Waits until `n` threads are registered as waiters on `id` (they then sleep in the condvar).
    fn wait_for_waiters(store: &ResultStore, id: u64, n: u32) {
        for _ in 0..10_000 {
            if store.state.lock().entries.get(&id).map(|e| e.waiters) == Some(n) {
                return;
            }
            thread::sleep(Duration::from_millis(1));
        }
        panic!("no waiter registered on {id} within 10 s");
    }

    #[test]
    fn a_cancel_that_lands_as_the_wait_times_out_answers_cancelled() {
        let store = Arc::new(ResultStore::new(8, None));
        store.admit(9, |_| true).expect("admitted");
        let waiter = {
            let store = store.clone();
            thread::spawn(move || store.pop_wait(9, room(POINTS), Duration::from_millis(50)))
        };
        wait_for_waiters(&store, 9, 1);
        {
            // Hold the lock past the waiter's deadline, then cancel: the waiter wakes timed out
            // and finds its item cancelled.
            let mut s = store.state.lock();
            thread::sleep(Duration::from_millis(300));
            s.remove_live(9, true);
        }
        assert_eq!(waiter.join().expect("no panic"), Popped::Cancelled);
        assert!(store.state.lock().cancelled_waits.is_empty());
        // The id is free again, and its new item is nobody's old wait.
        finish(&store, 9);
        assert!(matches!(store.pop(9, room(POINTS)), Popped::Landmarks(_)));
    }

    #[test]
    fn a_waited_buffer_too_small_leaves_no_waiter_behind() {
        let store = Arc::new(ResultStore::new(8, None));
        let ticket = store.admit(9, |_| true).expect("admitted");
        let waiter = {
            let store = store.clone();
            thread::spawn(move || store.pop_wait(9, room(1), Duration::from_secs(60)))
        };
        wait_for_waiters(&store, 9, 1);
        store.start_batch(&[(9, ticket)]);
        store.complete_batch(1, vec![(9, ticket, landmarks())]);
        let answer = waiter.join().expect("no panic");
        assert_eq!(
            answer,
            Popped::BufferTooSmall {
                num_points: 468,
                chip_side: 2
            }
        );
        assert_eq!(store.state.lock().entries[&9].waiters, 0);
        // A cancel now has nobody to tell: no share of it may stay behind.
        assert!(store.cancel(9));
        assert!(store.state.lock().cancelled_waits.is_empty());
    }

    #[test]
    fn a_timed_out_wait_leaves_no_waiter_behind() {
        let store = ResultStore::new(8, None);
        store.admit(9, |_| true).expect("admitted");
        assert_eq!(
            store.pop_wait(9, room(POINTS), Duration::from_millis(5)),
            Popped::Timeout
        );
        assert!(store.cancel(9));
        assert!(store.state.lock().cancelled_waits.is_empty());
    }

    #[test]
    fn a_cancelled_item_is_never_announced_even_when_its_id_comes_back() {
        let store = ResultStore::new(8, None).with_notices();
        finish(&store, 9);
        assert!(store.cancel(9));
        store.admit(9, |_| true).expect("the id is free again");
        assert_eq!(store.take_notices(), vec![]);
        assert_eq!(store.pop(9, room(POINTS)), Popped::Pending);
    }

    #[test]
    fn an_evicted_items_notices_go_when_its_id_comes_back() {
        // Capacity 1: finishing 10 evicts 9 (noted as finished, then expired).
        let store = ResultStore::new(1, None).with_notices();
        finish(&store, 9);
        finish(&store, 10);
        store.admit(9, |_| true).expect("the id is free again");
        assert_eq!(store.take_notices(), vec![(10, ReadyState::Landmarks)]);
        // Without the reuse both of 9's notices are announced.
        let store = ResultStore::new(1, None).with_notices();
        finish(&store, 9);
        finish(&store, 10);
        assert_eq!(
            store.take_notices(),
            vec![
                (9, ReadyState::Landmarks),
                (10, ReadyState::Landmarks),
                (9, ReadyState::Expired)
            ]
        );
    }
}
