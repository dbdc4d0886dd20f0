//! The worker thread: gathers queued items into batches, runs ONE backend call per batch, decodes
//! the points to frame pixels and files the outcomes in the result store.
//!
//! When to send a batch is decided by [`decide`], a pure function of the queue state and the clock,
//! so the policy is tested without threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::backend::{Backend, BatchOutput};
use crate::chip::{ChipFormat, ChipSource};
use crate::image::{track_region, FaceCrop};
use crate::log::{LogLevel, Logger};
use crate::model::decode_to_frame;
use crate::ready::ReadyCallback;
use crate::results::{Landmarks, Outcome, ResultStore, Ticket};

/// One accepted face: its crop already resized to the model input.
#[derive(Debug)]
pub struct Job {
    pub id: u64,
    pub ticket: Ticket,
    pub crop: FaceCrop,
    /// Interleaved RGB at the model's input size.
    pub pixels: Vec<u8>,
    /// What the aligned chip is warped from (`chip_size` > 0).
    pub chip_source: Option<Box<ChipSource>>,
    pub enqueued_at: Instant,
}

/// The chips a pipeline makes: `size`² pixels in `format`'s colour order.
#[derive(Clone, Copy, Debug)]
pub struct ChipSettings {
    pub size: u32,
    pub format: ChipFormat,
}

/// What travels on the queue. `Shutdown` is the sentinel `close` sends behind the queued items.
#[derive(Debug)]
pub enum Msg {
    Item(Job),
    Shutdown,
}

/// The batching decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    SendNow,
    /// Wait at most this long for more items, then decide again.
    Wait(Duration),
}

/// Decides whether the batch being gathered goes now: when it is full, when the deadline of its
/// FIRST item (`first_arrival + max_wait`) has passed, or when the pipeline is closing. There is
/// no per-item timeout: however items trickle in, a batch never waits past its first item's
/// deadline.
pub fn decide(
    pending: usize,
    max_batch: usize,
    first_arrival: Instant,
    now: Instant,
    max_wait: Duration,
    closing: bool,
) -> Decision {
    if pending >= max_batch || closing {
        return Decision::SendNow;
    }
    match (first_arrival + max_wait).checked_duration_since(now) {
        Some(left) if !left.is_zero() => Decision::Wait(left),
        _ => Decision::SendNow,
    }
}

/// Shared between `Pipeline::close` and the worker: once set, queued work runs only until this
/// instant; what is left after it is discarded.
#[derive(Debug, Default)]
pub struct DrainDeadline(Mutex<Option<Instant>>);

impl DrainDeadline {
    pub fn set(&self, deadline: Instant) {
        *self.0.lock() = Some(deadline);
    }

    fn closing(&self) -> bool {
        self.0.lock().is_some()
    }

    fn passed(&self, now: Instant) -> bool {
        self.0.lock().is_some_and(|d| now >= d)
    }
}

/// Everything the worker thread owns or shares.
pub struct Worker {
    pub backend: Box<dyn Backend>,
    pub rx: Receiver<Msg>,
    pub store: Arc<ResultStore>,
    pub drain: Arc<DrainDeadline>,
    /// Staging buffers go back here for the next enqueues.
    pub recycle: Sender<Vec<u8>>,
    pub max_batch: usize,
    pub max_wait: Duration,
    pub logger: Logger,
    /// Told of each final state as it becomes poppable; called here, with no lock held.
    pub ready: Option<ReadyCallback>,
    /// `None`: no aligned chips.
    pub chip: Option<ChipSettings>,
}

impl Worker {
    /// Runs until the shutdown sentinel (or a disconnected queue), then discards what is left.
    ///
    /// With a backend that overlaps (a GPU, see [`crate::backend::Overlapped`]), a started batch
    /// runs while the worker takes what is ALREADY queued: when that makes a batch [`decide`]
    /// would send, it is staged and started behind the running one before the running one is
    /// finished. Nothing waits for more items while a batch is in flight, so overlapping adds no
    /// latency under light load and keeps the GPU fed under heavy load.
    pub fn run(mut self) {
        let mut next: Vec<Job> = Vec::with_capacity(self.max_batch);
        let mut output = BatchOutput::default();
        let mut in_flight: Option<Started> = None;
        let mut shutdown = false;
        loop {
            if let Some(running) = in_flight.take() {
                if !shutdown {
                    shutdown = self.take_queued(&mut next);
                }
                if !next.is_empty() && self.decision(&next, shutdown) == Decision::SendNow {
                    in_flight = self.start_or_discard(&mut next, &mut output);
                }
                self.finish_batch(running, &mut output);
                continue;
            }
            if next.is_empty() {
                if shutdown {
                    break;
                }
                match self.recv_until(None) {
                    Ok(Msg::Item(job)) => next.push(job),
                    Ok(Msg::Shutdown) | Err(_) => break,
                }
            }
            if !shutdown {
                shutdown = self.gather(&mut next);
            }
            in_flight = self.start_or_discard(&mut next, &mut output);
        }
        // Nothing should be left behind the sentinel; make sure nothing accepted is stranded.
        next.extend(self.rx.try_iter().filter_map(|m| match m {
            Msg::Item(job) => Some(job),
            Msg::Shutdown => None,
        }));
        self.discard(&mut next);
        self.dispatch_ready();
        self.logger.log(LogLevel::Debug, "lmbatch worker stopped");
    }

    /// Moves what is already queued into `batch` (up to `max_batch`), without waiting; returns
    /// true when the sentinel was seen.
    fn take_queued(&self, batch: &mut Vec<Job>) -> bool {
        while batch.len() < self.max_batch {
            match self.rx.try_recv() {
                Ok(Msg::Item(job)) => batch.push(job),
                Ok(Msg::Shutdown) => return true,
                Err(crossbeam_channel::TryRecvError::Empty) => return false,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return true,
            }
        }
        false
    }

    /// [`decide`] for `batch` now (`batch` is not empty).
    fn decision(&self, batch: &[Job], shutdown: bool) -> Decision {
        decide(
            batch.len(),
            self.max_batch,
            batch[0].enqueued_at,
            Instant::now(),
            self.max_wait,
            shutdown || self.drain.closing(),
        )
    }

    /// Starts `batch` (emptying it), or discards it once the drain deadline has passed. Returns
    /// the batch when it is still running on an overlapping backend.
    fn start_or_discard(
        &mut self,
        batch: &mut Vec<Job>,
        output: &mut BatchOutput,
    ) -> Option<Started> {
        if self.drain.passed(Instant::now()) {
            self.discard(batch);
            return None;
        }
        self.start_batch(batch, output)
    }

    /// Adds items until [`decide`] says send; returns true when the sentinel was seen.
    fn gather(&self, batch: &mut Vec<Job>) -> bool {
        loop {
            // What is already queued joins at once (so a zero wait still sends what is there).
            if self.take_queued(batch) {
                return true;
            }
            let Decision::Wait(left) = self.decision(batch, false) else {
                return false;
            };
            match self.recv_until(Instant::now().checked_add(left)) {
                Ok(Msg::Item(job)) => batch.push(job),
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => return true,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Waits for the next message until `deadline` (`None`: no limit). On the way it wakes when
    /// the oldest unpopped result's time-to-live runs out, evicts it and tells the ready callback,
    /// so an EXPIRED is announced (and its memory freed) even when no caller calls in.
    fn recv_until(&self, deadline: Option<Instant>) -> Result<Msg, RecvTimeoutError> {
        loop {
            // Evictions made by callers' calls (they expire on access) are announced here too:
            // they happen only past a deadline this loop wakes for.
            self.dispatch_ready();
            let wake = [deadline, self.store.next_expiry()]
                .into_iter()
                .flatten()
                .min();
            let got = match wake {
                Some(at) => self.rx.recv_deadline(at),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match got {
                Err(RecvTimeoutError::Timeout) => {
                    self.store.expire_now();
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        self.dispatch_ready();
                        return Err(RecvTimeoutError::Timeout);
                    }
                }
                other => return other,
            }
        }
    }

    /// Calls the ready callback for every final state noted since the last round, with no lock
    /// held; the time spent counts in the stats. A panicking callback loses nothing: the result
    /// stays poppable. Past the drain deadline of a destroy, the rest are dropped (nobody can
    /// pop them any more), which keeps destroy within its bound.
    fn dispatch_ready(&self) {
        let Some(ready) = &self.ready else {
            return;
        };
        loop {
            let notices = self.store.take_notices();
            if notices.is_empty() {
                return;
            }
            for (id, state) in notices {
                if self.drain.passed(Instant::now()) {
                    continue;
                }
                let started = Instant::now();
                if catch_unwind(AssertUnwindSafe(|| ready.call(id, state))).is_err() {
                    self.logger.log(
                        LogLevel::Error,
                        &format!("the ready callback panicked for id {id}"),
                    );
                }
                self.store
                    .record_callback(started.elapsed().as_micros() as u64);
            }
        }
    }

    fn discard(&self, batch: &mut Vec<Job>) {
        if batch.is_empty() {
            return;
        }
        let keys: Vec<_> = batch.iter().map(|j| (j.id, j.ticket)).collect();
        self.store.discard_queued(&keys);
        self.recycle_all(batch);
    }

    fn recycle_all(&self, batch: &mut Vec<Job>) {
        for job in batch.drain(..) {
            let _ = self.recycle.try_send(job.pixels);
        }
    }

    /// Marks the live items of `batch` in flight and makes ONE backend call for them: a whole
    /// `infer` (then the batch is finished here and `None` returned), or an overlapped `start`
    /// (the batch is returned, to be finished later). Every live item ends Ready or Failed.
    fn start_batch(&mut self, batch: &mut Vec<Job>, output: &mut BatchOutput) -> Option<Started> {
        let keys: Vec<_> = batch.iter().map(|j| (j.id, j.ticket)).collect();
        let live = self.store.start_batch(&keys);
        let mut jobs = Vec::with_capacity(batch.len());
        for (job, live) in batch.drain(..).zip(live) {
            if live {
                jobs.push(job);
            } else {
                let _ = self.recycle.try_send(job.pixels);
            }
        }
        if jobs.is_empty() {
            return None;
        }
        let crops: Vec<&[u8]> = jobs.iter().map(|j| j.pixels.as_slice()).collect();
        let started = Instant::now();
        let backend = &mut self.backend;
        let call = guarded(|| match backend.overlapped() {
            Some(overlapped) => overlapped.start(&crops).map(|()| true),
            None => backend.infer(&crops, output).map(|()| false),
        });
        drop(crops);
        // Still running only after an overlapped start; otherwise the outcome is known.
        let running = matches!(call, Ok(true));
        let result = (!running).then(|| call.map(|_| ()));
        let batch = Started {
            jobs,
            started,
            result,
        };
        if running {
            Some(batch)
        } else {
            self.finish_batch(batch, output);
            None
        }
    }

    /// Waits for a started batch where it still runs, decodes its points to frame pixels and
    /// files every item's outcome.
    fn finish_batch(&mut self, batch: Started, output: &mut BatchOutput) {
        let Started {
            mut jobs,
            started,
            result,
        } = batch;
        let result = result.unwrap_or_else(|| {
            let backend = &mut self.backend;
            guarded(|| match backend.overlapped() {
                Some(overlapped) => overlapped.finish(output),
                None => Err(crate::error::Error::new(
                    crate::error::ErrorKind::Internal,
                    "a started batch on a backend that does not overlap",
                )),
            })
        });
        let infer_us = started.elapsed().as_micros() as u64;
        let spec = self.backend.spec();
        let point_floats = spec.point_floats();
        let failure = match result {
            Ok(())
                if output.points.len() == jobs.len() * point_floats
                    && output.scores.len() == jobs.len() =>
            {
                None
            }
            Ok(()) => Some(format!(
                "backend returned {} point values and {} scores for {} items",
                output.points.len(),
                output.scores.len(),
                jobs.len()
            )),
            Err(why) => Some(why),
        };
        if let Some(why) = &failure {
            self.logger.log(
                LogLevel::Error,
                &format!("batch of {} items failed: {why}", jobs.len()),
            );
        }
        let outcomes = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                let outcome = match &failure {
                    Some(why) => Outcome::Failed(why.clone()),
                    None => {
                        let mut points =
                            output.points[i * point_floats..(i + 1) * point_floats].to_vec();
                        let score = output.scores[i];
                        if decode_to_frame(&mut points, &job.crop, spec.sample_size())
                            && score.is_finite()
                        {
                            let roll = job.crop.theta as f32;
                            let (track_box, track_roll) = track_region(
                                &points,
                                roll,
                                &spec.scheme.right_eye,
                                &spec.scheme.left_eye,
                            );
                            let pose = crate::pose::head_pose(&points, spec);
                            let quality = crate::pose::quality(
                                &points,
                                spec,
                                &job.pixels,
                                spec.sample_size(),
                                score,
                                pose,
                            );
                            let (chip, chip_side) = self
                                .chip
                                .zip(job.chip_source.as_ref())
                                .and_then(|(settings, source)| {
                                    let five = spec.scheme.five_points(&points)?;
                                    let to_chip = crate::chip::alignment(&five, settings.size)?;
                                    let chip =
                                        source.warp(&to_chip, settings.size, settings.format)?;
                                    Some((chip, settings.size))
                                })
                                .unwrap_or_default();
                            Outcome::Landmarks(Landmarks {
                                chip,
                                chip_side,
                                roll,
                                track_box,
                                track_roll,
                                pose,
                                quality,
                                points,
                                face_score: score,
                                queue_us: started
                                    .saturating_duration_since(job.enqueued_at)
                                    .as_micros() as u64,
                                infer_us,
                            })
                        } else {
                            Outcome::Failed(
                                "the model produced non-finite values for this face".into(),
                            )
                        }
                    }
                };
                (job.id, job.ticket, outcome)
            })
            .collect();
        let became_degraded = self.store.complete_batch(jobs.len(), outcomes);
        self.dispatch_ready();
        if became_degraded {
            self.logger.log(
                LogLevel::Warning,
                "lmbatch is degraded: the backend failed several batches in a row",
            );
        }
        self.recycle_all(&mut jobs);
    }
}

/// A batch whose backend call has been made: its live jobs and, for a whole `infer`, the result
/// (`None` while an overlapped batch still runs).
struct Started {
    jobs: Vec<Job>,
    started: Instant,
    result: Option<std::result::Result<(), String>>,
}

/// Runs one backend call; its error or panic becomes the failed items' message.
fn guarded<T>(call: impl FnOnce() -> crate::error::Result<T>) -> std::result::Result<T, String> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("inference failed: {}", e.message())),
        Err(panic) => Err(format!("backend panicked: {}", panic_message(&panic))),
    }
}

/// Moved to `error.rs` (the TensorRT backend needs it too); kept here for the worker's callers.
pub use crate::error::panic_message;

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn full_batch_goes_at_once() {
        let t0 = Instant::now();
        assert_eq!(decide(32, 32, t0, t0, 10 * MS, false), Decision::SendNow);
        assert_eq!(decide(4, 4, t0, t0, 10 * MS, false), Decision::SendNow);
    }

    #[test]
    fn partial_batch_waits_for_the_first_items_deadline() {
        let t0 = Instant::now();
        assert_eq!(
            decide(1, 32, t0, t0, 10 * MS, false),
            Decision::Wait(10 * MS)
        );
        assert_eq!(
            decide(5, 32, t0, t0 + 4 * MS, 10 * MS, false),
            Decision::Wait(6 * MS)
        );
        assert_eq!(
            decide(5, 32, t0, t0 + 10 * MS, 10 * MS, false),
            Decision::SendNow
        );
        assert_eq!(
            decide(5, 32, t0, t0 + 11 * MS, 10 * MS, false),
            Decision::SendNow
        );
    }

    #[test]
    fn zero_wait_sends_what_is_there() {
        let t0 = Instant::now();
        assert_eq!(
            decide(1, 32, t0, t0, Duration::ZERO, false),
            Decision::SendNow
        );
    }

    #[test]
    fn closing_sends_without_waiting() {
        let t0 = Instant::now();
        assert_eq!(decide(1, 32, t0, t0, 10 * MS, true), Decision::SendNow);
    }

    /// Replays the worker's gathering policy over scripted arrival times (µs after t0) with the
    /// decision function and a virtual clock; returns the batch sizes in order.
    fn simulate(arrivals_us: &[u64], max_batch: usize, max_wait: Duration) -> Vec<usize> {
        let t0 = Instant::now();
        let at = |us: u64| t0 + Duration::from_micros(us);
        let mut sizes = Vec::new();
        let mut next = 0;
        while next < arrivals_us.len() {
            // Blocking receive of the first item: the clock jumps to its arrival.
            let first = at(arrivals_us[next]);
            let mut now = first;
            let mut pending = 1;
            next += 1;
            loop {
                while pending < max_batch
                    && next < arrivals_us.len()
                    && at(arrivals_us[next]) <= now
                {
                    pending += 1;
                    next += 1;
                }
                match decide(pending, max_batch, first, now, max_wait, false) {
                    Decision::SendNow => break,
                    Decision::Wait(d) => {
                        let limit = now + d;
                        if next < arrivals_us.len() && at(arrivals_us[next]) <= limit {
                            now = now.max(at(arrivals_us[next]));
                            pending += 1;
                            next += 1;
                        } else {
                            now = limit;
                        }
                    }
                }
            }
            sizes.push(pending);
        }
        sizes
    }

    #[test]
    fn scripted_arrivals_give_exact_batch_sizes() {
        let wait = Duration::from_micros(10_000);
        // Items every 1 ms: the first item's deadline (10 ms) closes each batch after 11 items
        // (arrivals at 0..=10 ms), never a per-item timeout that would gather all 40.
        let steady: Vec<u64> = (0..40).map(|i| i * 1000).collect();
        assert_eq!(simulate(&steady, 32, wait), vec![11, 11, 11, 7]);
        // A burst of 70 at once: full batches, then the remainder at its deadline.
        assert_eq!(simulate(&[0; 70], 32, wait), vec![32, 32, 6]);
        // A lone item, then a pair after the first deadline.
        assert_eq!(simulate(&[0, 20_000, 20_500], 32, wait), vec![1, 2]);
        // max_batch 4 caps every batch.
        assert_eq!(simulate(&[0; 10], 4, wait), vec![4, 4, 2]);
        // Zero wait: what is already there goes together, nothing waits.
        assert_eq!(simulate(&[0, 0, 5, 9], 32, Duration::ZERO), vec![2, 1, 1]);
    }
}
