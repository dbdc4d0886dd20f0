//! What the aligned chip (lm_config.chip_size) costs per face, side by side in one run:
//! - enqueue: the model crop alone (what chip_size 0 does) against the model crop plus the kept
//!   square of the chip (chip_size > 0), on 1080p BGR and NV12 frames, 100 and 300 px boxes,
//!   upright and at 30°; and the whole `Pipeline::enqueue_frame` call with chip_size 0 and 112
//!   (a backend that runs no model, so the queue, not inference, is what else is timed);
//! - worker: the five-point fit and the 112-px warp.
//!
//! Run: `cargo bench --bench chip`. Prints a table; the ratios are what to quote (the machines
//! here are shared and noisy, and each row is the best of 5 rounds).

use std::time::{Duration, Instant};

use lmbatch::backend::null::NullBackend;
use lmbatch::chip::{alignment, ChipFormat, ChipSource, ARCFACE_TEMPLATE};
use lmbatch::image::{sample_crop, CropScratch, Face, FaceCrop, Frame, FrameRef, SampleSize};
use lmbatch::{Config, FaceBox, Pipeline, Popped};

const W: usize = 1920;
const H: usize = 1080;

struct Planes {
    luma: Vec<u8>,
    uv: Vec<u8>,
    bgr: Vec<u8>,
}

fn frame_ref<'a>(p: &'a Planes, nv12: bool) -> FrameRef<'a> {
    let (format, planes, strides) = if nv12 {
        (
            16,
            [Some(&p.luma[..]), Some(&p.uv[..]), None, None],
            [W, W, 0, 0],
        )
    } else {
        (0, [Some(&p.bgr[..]), None, None, None], [3 * W, 0, 0, 0])
    };
    FrameRef {
        format,
        width: W as u32,
        height: H as u32,
        planes,
        strides,
        ..FrameRef::default()
    }
}

fn face(side: f32, tilted: bool) -> Face {
    let (cx, cy) = (W as f32 / 2.0, H as f32 / 2.0);
    let bbox = FaceBox {
        x1: cx - side / 2.0,
        y1: cy - side / 2.0,
        x2: cx + side / 2.0,
        y2: cy + side / 2.0,
    };
    if tilted {
        Face::with_roll(bbox, 30f32.to_radians())
    } else {
        Face::upright(bbox)
    }
}

/// Microseconds per call of `f`, the best of 5 rounds of `n` calls.
fn per_call(n: usize, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// The whole enqueue call, chip_size 0 or 112: µs per `enqueue_frame`, popping as it goes.
fn enqueue_call(raw: &FrameRef<'_>, face: &Face, chip_size: u32) -> f64 {
    let p = Pipeline::with_backend(
        Config {
            max_batch: 32,
            max_wait: Duration::from_millis(1),
            chip_size,
            ..Config::default()
        },
        || Ok(Box::new(NullBackend::new(32))),
    )
    .expect("pipeline");
    let mut id = 0u64;
    let mut spent = Duration::MAX;
    for _ in 0..5 {
        let mut round = Duration::ZERO;
        for _ in 0..64 {
            let t = Instant::now();
            for _ in 0..32 {
                p.enqueue_frame(id, raw, face).expect("enqueue");
                id += 1;
            }
            round += t.elapsed();
            for k in id - 32..id {
                assert!(matches!(
                    p.pop_wait(k, Duration::from_secs(10)),
                    Popped::Landmarks(_)
                ));
            }
        }
        spent = spent.min(round);
    }
    spent.as_secs_f64() * 1e6 / (64.0 * 32.0)
}

fn main() {
    let noise = |n: usize, k: usize| (0..n).map(|i| ((i * k) % 251) as u8).collect::<Vec<u8>>();
    let planes = Planes {
        luma: noise(W * H, 31),
        uv: noise(W * H.div_ceil(2), 17),
        bgr: noise(W * H * 3, 29),
    };
    let mut scratch = CropScratch::default();
    let mut model_crop = vec![0u8; 192 * 192 * 3];
    println!("\nenqueue side, µs per face (best of 5 rounds); 1080p frame");
    println!("| frame | box px | turn | model crop | + chip square | chip/crop cost | whole enqueue_frame, chip 0 | chip 112 | ratio |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for nv12 in [false, true] {
        let raw = frame_ref(&planes, nv12);
        let frame = Frame::new(&raw).expect("frame");
        for side in [100.0f32, 300.0] {
            for tilted in [false, true] {
                let f = face(side, tilted);
                let crop = FaceCrop::for_face(&f, W as u32, H as u32, 1.5).expect("crop");
                let n = if side > 200.0 { 300 } else { 1000 };
                let crop_only = per_call(n, || {
                    sample_crop(
                        &frame,
                        &crop,
                        SampleSize::square(192),
                        &mut scratch,
                        &mut model_crop,
                    );
                    std::hint::black_box(&model_crop);
                });
                let with_chip = per_call(n, || {
                    sample_crop(
                        &frame,
                        &crop,
                        SampleSize::square(192),
                        &mut scratch,
                        &mut model_crop,
                    );
                    let rect = ChipSource::region(&f.bbox, crop.theta, (W as u32, H as u32))
                        .expect("region");
                    std::hint::black_box(ChipSource::capture(&frame, rect, &mut scratch));
                });
                let (call0, call112) = (enqueue_call(&raw, &f, 0), enqueue_call(&raw, &f, 112));
                println!(
                    "| {} | {side} | {} | {crop_only:.1} | {with_chip:.1} | +{:.0}% | {call0:.1} | {call112:.1} | {:.2}× |",
                    if nv12 { "NV12" } else { "BGR8" },
                    if tilted { "30°" } else { "0°" },
                    100.0 * (with_chip / crop_only - 1.0),
                    call112 / call0
                );
            }
        }
    }

    println!("\nworker side, µs per face: the five-point fit and the warp of the kept square");
    println!("| box px | turn | fit | warp 112 px |");
    println!("|---|---|---|---|");
    let raw = frame_ref(&planes, false);
    let frame = Frame::new(&raw).expect("frame");
    for side in [100.0f32, 300.0] {
        for tilted in [false, true] {
            let f = face(side, tilted);
            let theta = f.angle().expect("angle");
            let rect = ChipSource::region(&f.bbox, theta, (W as u32, H as u32)).expect("region");
            let source = ChipSource::capture(&frame, rect, &mut scratch);
            // The template laid into the box: five points where a face's would be.
            let k = f64::from(side) / 112.0;
            let (x0, y0) = (f64::from(f.bbox.x1), f64::from(f.bbox.y1));
            let five = ARCFACE_TEMPLATE.map(|[x, y]| [x0 + x * k, y0 + y * k]);
            let fit = per_call(20_000, || {
                std::hint::black_box(alignment(std::hint::black_box(&five), 112));
            });
            let m = alignment(&five, 112).expect("fit");
            let warp = per_call(200, || {
                std::hint::black_box(source.warp(&m, 112, ChipFormat::Rgb));
            });
            println!(
                "| {side} | {} | {fit:.2} | {warp:.1} |",
                if tilted { "30°" } else { "0°" }
            );
        }
    }
}
