//! The one thread of a pipeline that calls Python: it delivers the library's log lines to
//! `logging` and wakes `pop_async` awaits through their loop's `call_soon_threadsafe`.
//!
//! The library calls its log sink and ready callback from its own threads, the worker among them,
//! and from inside engines; neither may wait for the GIL there (the worker would stall behind any
//! busy Python thread, and a sink may run under an engine's lock). So both only queue a note for
//! this thread, which attaches to Python with no library lock held.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};

use crossbeam_channel::{Receiver, Sender};
use lmbatch::{LogLevel, Logger, ReadyCallback};
use parking_lot::Mutex;
use pyo3::prelude::*;

enum Note {
    Log(LogLevel, String),
    /// A final state of this id became poppable.
    Ready(u64),
    /// The pipeline closed: wake every remaining await, then end.
    Stop,
}

/// A `pop_async` waiting on an id: its event loop and the callable to schedule there.
struct Watch {
    token: u64,
    event_loop: Py<PyAny>,
    callback: Py<PyAny>,
}

type Watches = Arc<Mutex<HashMap<u64, Vec<Watch>>>>;

pub struct Pump {
    tx: Sender<Note>,
    handle: Mutex<Option<JoinHandle<()>>>,
    thread: ThreadId,
    watches: Watches,
    next_token: AtomicU64,
}

impl Pump {
    pub fn start() -> std::io::Result<Pump> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let watches = Watches::default();
        let pump_watches = watches.clone();
        let handle = std::thread::Builder::new()
            .name("lmbatch-python".into())
            .spawn(move || run(rx, pump_watches))?;
        Ok(Pump {
            tx,
            thread: handle.thread().id(),
            handle: Mutex::new(Some(handle)),
            watches,
            next_token: AtomicU64::new(1),
        })
    }

    /// The library's log sink: queues the line (never blocks, never calls Python).
    pub fn logger(&self) -> Logger {
        let tx = self.tx.clone();
        Logger::new(move |level, message| {
            let _ = tx.send(Note::Log(level, message.to_owned()));
        })
    }

    /// The library's ready callback: queues a note only for ids an await watches.
    pub fn ready_callback(&self) -> ReadyCallback {
        let tx = self.tx.clone();
        let watches = self.watches.clone();
        ReadyCallback::new(move |id, _state| {
            if watches.lock().contains_key(&id) {
                let _ = tx.send(Note::Ready(id));
            }
        })
    }

    /// Registers `callback` to be scheduled on `event_loop` once `id` has a final state; the
    /// token identifies the registration for [`unwatch`](Self::unwatch).
    pub fn watch(&self, id: u64, event_loop: Py<PyAny>, callback: Py<PyAny>) -> u64 {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.watches.lock().entry(id).or_default().push(Watch {
            token,
            event_loop,
            callback,
        });
        token
    }

    /// Removes a registration (a no-op once it was scheduled). The caller holds the GIL: the
    /// Python references are released after the lock.
    pub fn unwatch(&self, id: u64, token: u64) {
        let removed = {
            let mut watches = self.watches.lock();
            let Some(list) = watches.get_mut(&id) else {
                return;
            };
            let removed: Vec<Watch> = list.extract_if(.., |w| w.token == token).collect();
            if list.is_empty() {
                watches.remove(&id);
            }
            removed
        };
        drop(removed);
    }

    /// Asks the thread to wake the remaining awaits and end; joins it unless called from it
    /// (`join`: false from a destructor, which holds the GIL the thread may be waiting for).
    pub fn stop(&self, join: bool) {
        let _ = self.tx.send(Note::Stop);
        if !join || std::thread::current().id() == self.thread {
            return;
        }
        if let Some(handle) = self.handle.lock().take() {
            let _ = handle.join();
        }
    }
}

fn run(rx: Receiver<Note>, watches: Watches) {
    while let Ok(first) = rx.recv() {
        let notes: Vec<Note> = std::iter::once(first).chain(rx.try_iter()).collect();
        let stop = notes.iter().any(|n| matches!(n, Note::Stop));
        // None: the interpreter is finalizing; nothing can be delivered any more.
        let attached = Python::try_attach(|py| {
            for note in notes {
                match note {
                    Note::Log(level, message) => log(py, level, &message),
                    Note::Ready(id) => {
                        let woken = watches.lock().remove(&id).unwrap_or_default();
                        schedule(py, woken);
                    }
                    Note::Stop => {}
                }
            }
            if stop {
                let rest: Vec<Watch> = watches.lock().drain().flat_map(|(_, w)| w).collect();
                schedule(py, rest);
            }
        });
        if stop || attached.is_none() {
            return;
        }
    }
}

/// Python `logging` levels of the library's levels.
pub fn python_level(level: LogLevel) -> i32 {
    match level {
        LogLevel::Error => 40,
        LogLevel::Warning => 30,
        LogLevel::Info => 20,
        LogLevel::Debug => 10,
    }
}

fn log(py: Python<'_>, level: LogLevel, message: &str) {
    let logged = py
        .import("logging")
        .and_then(|logging| logging.call_method1("getLogger", ("lmbatch",)))
        .and_then(|logger| logger.call_method1("log", (python_level(level), message)));
    if let Err(e) = logged {
        e.write_unraisable(py, None);
    }
}

fn schedule(py: Python<'_>, woken: Vec<Watch>) {
    for watch in woken {
        // A closed loop raises RuntimeError: its await is gone, and the result stays poppable.
        let _ = watch
            .event_loop
            .bind(py)
            .call_method1("call_soon_threadsafe", (watch.callback.bind(py),));
    }
}
