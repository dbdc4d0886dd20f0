//! `lm_enqueue` allocates nothing in steady state: staging buffers come back from the worker and
//! the resize tables live in a per-thread scratch. A counting allocator watches the enqueuing
//! thread only (the worker allocates each result it stores; that is not the caller's path).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lmbatch::backend::null::NullBackend;
use lmbatch::{Backend, Config, FaceBox, Pipeline, Popped, RawFrame};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: delegates to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHED.with(|w| w.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHED.with(|w| w.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn enqueue_allocates_nothing_in_steady_state() {
    // The counter itself works: a watched allocation is seen.
    WATCHED.with(|w| w.set(true));
    let probe: Vec<u8> = std::hint::black_box(Vec::with_capacity(64));
    WATCHED.with(|w| w.set(false));
    drop(probe);
    assert!(
        ALLOCATIONS.load(Ordering::Relaxed) >= 1,
        "the counting allocator sees nothing"
    );

    let pipeline = Pipeline::with_backend(
        Config {
            max_batch: 8,
            queue_capacity: Some(64),
            max_wait: Duration::ZERO,
            ..Config::default()
        },
        || Ok(Box::new(NullBackend::new(8)) as Box<dyn Backend>),
    )
    .unwrap();
    let pixels = vec![90u8; 1920 * 1080 * 3];
    let frame = RawFrame {
        data: Some(&pixels),
        width: 1920,
        height: 1080,
        stride: 1920 * 3,
        format: 0,
    };
    let boxes = [24.0f32, 100.0, 300.0, 600.0].map(|s| FaceBox {
        x1: 900.0,
        y1: 400.0,
        x2: 900.0 + s,
        y2: 400.0 + s,
    });
    let mut enqueue_allocations = 0;
    let mut measured = 0;
    for id in 0..4000u64 {
        let steady = id >= 2000;
        WATCHED.with(|w| w.set(steady));
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let result = pipeline.enqueue(id, &frame, &boxes[(id % 4) as usize]);
        WATCHED.with(|w| w.set(false));
        if steady {
            enqueue_allocations += ALLOCATIONS.load(Ordering::Relaxed) - before;
            measured += 1;
        }
        result.unwrap();
        // Popping each result keeps the store small and hands the staging buffer back.
        assert!(matches!(
            pipeline.pop_wait(id, Duration::from_secs(5)),
            Popped::Landmarks(_)
        ));
    }
    assert_eq!(measured, 2000);
    assert_eq!(
        enqueue_allocations, 0,
        "lm_enqueue allocated in steady state"
    );
}
