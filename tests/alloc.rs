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

#[test]
fn enqueue_frame_of_nv12_and_rotated_faces_allocates_nothing_in_steady_state() {
    use lmbatch::ffi::*;
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
    let h = handle_from_pipeline(pipeline);
    let (w, hh) = (1920usize, 1080usize);
    let luma: Vec<u8> = (0..w * hh).map(|i| (i % 251) as u8).collect();
    let chroma: Vec<u8> = (0..w * hh / 2).map(|i| (i % 241) as u8).collect();
    let packed = vec![90u8; w * hh * 3];
    let nv12 = lm_frame {
        struct_size: std::mem::size_of::<lm_frame>(),
        format: lm_pixel_format::LM_PIXEL_FORMAT_NV12 as i32,
        width: w as u32,
        height: hh as u32,
        planes: [
            luma.as_ptr().cast(),
            chroma.as_ptr().cast(),
            std::ptr::null(),
            std::ptr::null(),
        ],
        strides: [w, w, 0, 0],
        color_matrix: 0,
        color_range: 0,
        chroma_location: 0,
        memory: 0,
    };
    let bgr = lm_frame {
        format: 0,
        planes: [
            packed.as_ptr().cast(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
        ],
        strides: [3 * w, 0, 0, 0],
        ..nv12
    };
    let faces: Vec<lm_face> = [24.0f32, 100.0, 300.0, 600.0]
        .iter()
        .flat_map(|&s| {
            let b = lm_box {
                x1: 900.0,
                y1: 400.0,
                x2: 900.0 + s,
                y2: 400.0 + s,
            };
            [
                lm_face {
                    struct_size: std::mem::size_of::<lm_face>(),
                    r#box: b,
                    flags: 0,
                    right_eye: [0.0; 2],
                    left_eye: [0.0; 2],
                    roll: 0.0,
                },
                lm_face {
                    struct_size: std::mem::size_of::<lm_face>(),
                    r#box: b,
                    flags: LM_FACE_ROLL,
                    right_eye: [0.0; 2],
                    left_eye: [0.0; 2],
                    roll: 0.52,
                },
                lm_face {
                    struct_size: std::mem::size_of::<lm_face>(),
                    r#box: b,
                    flags: LM_FACE_EYES,
                    right_eye: [910.0, 410.0],
                    left_eye: [930.0, 420.0],
                    roll: 0.0,
                },
            ]
        })
        .collect();
    let mut points = vec![0f32; 468 * 3];
    let (mut allocations, mut measured) = (0, 0);
    for id in 0..3000u64 {
        let frame = if id % 2 == 0 { &nv12 } else { &bgr };
        let face = &faces[(id / 2) as usize % faces.len()];
        let steady = id >= 1500;
        WATCHED.with(|w| w.set(steady));
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        // SAFETY: live handle; frame planes and face outlive the call.
        let status = unsafe { lm_enqueue_frame(h, id, frame, face) };
        WATCHED.with(|w| w.set(false));
        if steady {
            allocations += ALLOCATIONS.load(Ordering::Relaxed) - before;
            measured += 1;
        }
        assert_eq!(status, lm_status::LM_STATUS_OK);
        let mut out = lm_landmarks::for_points(&mut points);
        // SAFETY: live handle and buffer.
        assert_eq!(
            unsafe { lm_pop_wait(h, id, 5000, &mut out) },
            lm_status::LM_STATUS_OK
        );
    }
    assert_eq!(measured, 1500);
    assert_eq!(allocations, 0, "lm_enqueue_frame allocated in steady state");
    // SAFETY: live handle, nothing racing.
    unsafe { lm_destroy(h) };
}
