//! Micro-benchmarks of the hot paths (criterion): `lm_enqueue` of a face on a 1920x1080 BGR frame
//! for several box sizes (validation + crop + resize + queue), `lm_pop` of a ready result, the
//! batching decision, and the resize kernel next to a memcpy of the same output bytes (the floor).
//! Run: `cargo bench --bench hot_paths`.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use lmbatch::backend::null::NullBackend;
use lmbatch::batcher::decide;
use lmbatch::ffi::*;
use lmbatch::image::{crop_resize, CropRect, FrameView, PixelFormat, ResizeScratch};
use lmbatch::{Backend, Config, Pipeline};

fn null_handle(queue: usize, results: usize) -> *mut lm_handle {
    let config = Config {
        queue_capacity: Some(queue),
        result_capacity: results,
        max_wait: Duration::ZERO,
        ..Config::default()
    };
    let pipeline = Pipeline::with_backend(config, || {
        Ok(Box::new(NullBackend::new(32)) as Box<dyn Backend>)
    })
    .expect("pipeline");
    handle_from_pipeline(pipeline)
}

fn frame_1080p() -> Vec<u8> {
    (0..1920 * 1080 * 3).map(|i| (i * 31 % 251) as u8).collect()
}

fn enqueue(c: &mut Criterion) {
    let pixels = frame_1080p();
    let image = lm_image {
        data: pixels.as_ptr(),
        width: 1920,
        height: 1080,
        stride: 1920 * 3,
        format: 0,
    };
    let h = null_handle(4096, 4096);
    let mut group = c.benchmark_group("lm_enqueue_1080p_bgr");
    let mut id = 0u64;
    for side in [24.0f32, 100.0, 300.0, 600.0] {
        let face = lm_box {
            x1: 900.0,
            y1: 400.0,
            x2: 900.0 + side,
            y2: 400.0 + side,
        };
        group.bench_with_input(
            BenchmarkId::from_parameter(side as u32),
            &face,
            |b, face| {
                b.iter(|| {
                    id += 1;
                    // SAFETY: live handle, valid frame and box.
                    let status = unsafe { lm_enqueue(h, id, &image, face) };
                    assert_eq!(
                        status,
                        lm_status::LM_STATUS_OK,
                        "the null backend fell behind"
                    );
                })
            },
        );
    }
    group.finish();
    // SAFETY: live handle, nothing racing.
    unsafe { lm_destroy(h) };
}

fn pop(c: &mut Criterion) {
    let pixels = frame_1080p();
    let image = lm_image {
        data: pixels.as_ptr(),
        width: 1920,
        height: 1080,
        stride: 1920 * 3,
        format: 0,
    };
    let face = lm_box {
        x1: 900.0,
        y1: 400.0,
        x2: 1000.0,
        y2: 500.0,
    };
    let h = null_handle(4096, 8192);
    let mut points = vec![0f32; 468 * 3];
    let mut next = 0u64;
    c.bench_function("lm_pop_ready", |b| {
        b.iter_custom(|iters| {
            // Make `iters` results ready (untimed), then time popping them. One more item is
            // enqueued last and waited for, so that all before it are ready.
            let first = next;
            for _ in 0..=iters {
                // SAFETY: live handle, valid frame.
                while unsafe { lm_enqueue(h, next, &image, &face) } != lm_status::LM_STATUS_OK {
                    std::thread::yield_now();
                }
                next += 1;
            }
            let mut out = lm_landmarks::for_points(&mut points);
            // SAFETY: live handle and buffer.
            assert_eq!(
                unsafe { lm_pop_wait(h, next - 1, 10_000, &mut out) },
                lm_status::LM_STATUS_OK
            );
            let t0 = Instant::now();
            for id in first..first + iters {
                // SAFETY: as above.
                let status = unsafe { lm_pop(h, id, &mut out) };
                debug_assert_eq!(status, lm_status::LM_STATUS_OK);
                black_box(status);
            }
            t0.elapsed()
        })
    });
    // SAFETY: live handle, nothing racing.
    unsafe { lm_destroy(h) };
}

fn batching_decision(c: &mut Criterion) {
    let t0 = Instant::now();
    let now = t0 + Duration::from_micros(4000);
    c.bench_function("decide", |b| {
        b.iter(|| {
            decide(
                black_box(7),
                32,
                black_box(t0),
                black_box(now),
                Duration::from_micros(10_000),
                false,
            )
        })
    });
}

fn resize_vs_memcpy(c: &mut Criterion) {
    let pixels = frame_1080p();
    let frame = FrameView::new(&pixels, 1920, 1080, 1920 * 3, PixelFormat::Bgr8).expect("frame");
    let mut out = vec![0u8; 192 * 192 * 3];
    let mut scratch = ResizeScratch::default();
    let mut group = c.benchmark_group("crop_resize_to_192");
    for side in [36u32, 150, 450, 900] {
        let crop = CropRect {
            x0: 800,
            y0: 300,
            side,
        };
        group.bench_with_input(BenchmarkId::from_parameter(side), &crop, |b, crop| {
            b.iter(|| crop_resize(&frame, crop, 192, 192, &mut scratch, black_box(&mut out)))
        });
    }
    let source = vec![7u8; 192 * 192 * 3];
    group.bench_function("memcpy_of_the_output_bytes", |b| {
        b.iter(|| out.copy_from_slice(black_box(&source)))
    });
    group.finish();
}

/// The host-side u8 -> planar f32 conversion of a full batch: what the TensorRT backend does on
/// the GPU instead (and falls back to without NVRTC), and what the CPU backends do per batch.
fn to_planar_batch(c: &mut Criterion) {
    let crops: Vec<Vec<u8>> = (0..32).map(|k| vec![k as u8; 192 * 192 * 3]).collect();
    let views: Vec<&[u8]> = crops.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    let mut group = c.benchmark_group("to_planar");
    for n in [1usize, 32] {
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                lmbatch::model::to_planar(black_box(&views[..n]), 192 * 192, 1.0 / 255.0, &mut out)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = hot_paths;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = enqueue, pop, batching_decision, resize_vs_memcpy, to_planar_batch
}
criterion_main!(hot_paths);
