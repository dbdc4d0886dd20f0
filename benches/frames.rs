//! What `lm_enqueue_frame` costs per face on decoder frames (criterion): validation + fused crop,
//! resize and colour conversion of NV12 and I420 1080p and 4K frames for 24/100/300/600 px boxes,
//! upright and at 30°, next to the packed-BGR crop (upright, `lm_enqueue`'s path, and at 30°),
//! and next to what a caller does without it: convert the whole NV12 frame to BGR (the `yuv`
//! crate, SIMD) and crop the packed frame, per face with 4 faces per frame. The queue hand-off is the same for every
//! variant and is measured in `hot_paths`. Prints a table with the ratios at the end.
//! Run: `cargo bench --bench frames`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{black_box, criterion_group, BenchmarkId, Criterion};
use lmbatch::image::{sample_crop, CropScratch, Face, FaceCrop, Frame, FrameRef, SampleSize};
use lmbatch::FaceBox;

const SIZES: [(&str, usize, usize); 2] = [("1080p", 1920, 1080), ("4K", 3840, 2160)];
const BOXES: [f32; 4] = [24.0, 100.0, 300.0, 600.0];
const OUT: usize = 192;

struct Planes {
    luma: Vec<u8>,
    uv: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    bgr: Vec<u8>,
}

fn planes(w: usize, h: usize) -> Planes {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let noise = |n: usize, k: usize| (0..n).map(|i| ((i * k) % 251) as u8).collect::<Vec<u8>>();
    Planes {
        luma: noise(w * h, 31),
        uv: noise(2 * cw * ch, 17),
        u: noise(cw * ch, 13),
        v: noise(cw * ch, 7),
        bgr: noise(w * h * 3, 29),
    }
}

fn frame_ref<'a>(p: &'a Planes, format: &str, w: usize, h: usize) -> FrameRef<'a> {
    let cw = w.div_ceil(2);
    let (format, planes, strides) = match format {
        "NV12" => (
            16,
            [Some(&p.luma[..]), Some(&p.uv[..]), None, None],
            [w, 2 * cw, 0, 0],
        ),
        "I420" => (
            18,
            [Some(&p.luma[..]), Some(&p.u[..]), Some(&p.v[..]), None],
            [w, cw, cw, 0],
        ),
        _ => (0, [Some(&p.bgr[..]), None, None, None], [3 * w, 0, 0, 0]),
    };
    FrameRef {
        format,
        width: w as u32,
        height: h as u32,
        planes,
        strides,
        ..FrameRef::default()
    }
}

/// The face of `side` px centred in the frame, upright or turned by 30°.
fn face(w: usize, h: usize, side: f32, tilted: bool) -> Face {
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let b = FaceBox {
        x1: cx - side / 2.0,
        y1: cy - side / 2.0,
        x2: cx + side / 2.0,
        y2: cy + side / 2.0,
    };
    if tilted {
        Face::with_roll(b, 30f32.to_radians())
    } else {
        Face::upright(b)
    }
}

/// What `lm_enqueue_frame` does before the queue: validate the frame and face, then crop.
fn enqueue_equivalent(raw: &FrameRef<'_>, face: &Face, scratch: &mut CropScratch, out: &mut [u8]) {
    let frame = Frame::new(raw).expect("valid frame");
    let crop = FaceCrop::for_face(face, frame.width(), frame.height(), 1.5).expect("valid face");
    sample_crop(&frame, &crop, SampleSize::square(OUT), scratch, out);
}

fn per_face(c: &mut Criterion) {
    let mut out = vec![0u8; OUT * OUT * 3];
    let mut scratch = CropScratch::default();
    for (res, w, h) in SIZES {
        let p = planes(w, h);
        let mut group = c.benchmark_group(format!("frame_{res}"));
        group.measurement_time(Duration::from_secs(2));
        group.warm_up_time(Duration::from_millis(300));
        group.sample_size(30);
        for side in BOXES {
            for (variant, format, tilted) in [
                ("bgr_upright", "BGR", false),
                ("bgr_30deg", "BGR", true),
                ("nv12_upright", "NV12", false),
                ("nv12_30deg", "NV12", true),
                ("i420_upright", "I420", false),
                ("i420_30deg", "I420", true),
            ] {
                let raw = frame_ref(&p, format, w, h);
                let f = face(w, h, side, tilted);
                group.bench_with_input(BenchmarkId::new(variant, side as u32), &side, |b, _| {
                    b.iter(|| enqueue_equivalent(black_box(&raw), &f, &mut scratch, &mut out))
                });
            }
        }
        group.finish();
    }
}

/// A caller without `lm_enqueue_frame`: the whole NV12 frame to BGR with the `yuv` crate, then
/// the packed crop of each of 4 faces. Reported per frame; the table divides by 4.
fn convert_then_crop(c: &mut Criterion) {
    let mut out = vec![0u8; OUT * OUT * 3];
    let mut scratch = CropScratch::default();
    for (res, w, h) in SIZES {
        let p = planes(w, h);
        let mut bgr = vec![0u8; w * h * 3];
        let mut group = c.benchmark_group(format!("today_{res}"));
        group.measurement_time(Duration::from_secs(3));
        group.warm_up_time(Duration::from_millis(300));
        group.sample_size(20);
        for side in BOXES {
            group.bench_with_input(
                BenchmarkId::new("nv12_to_bgr_then_4_crops", side as u32),
                &side,
                |b, _| {
                    b.iter(|| {
                        let image = yuv::YuvBiPlanarImage {
                            y_plane: &p.luma,
                            y_stride: w as u32,
                            uv_plane: &p.uv,
                            uv_stride: (2 * w.div_ceil(2)) as u32,
                            width: w as u32,
                            height: h as u32,
                        };
                        yuv::yuv_nv12_to_bgr(
                            &image,
                            &mut bgr,
                            (3 * w) as u32,
                            yuv::YuvRange::Limited,
                            yuv::YuvStandardMatrix::Bt709,
                            yuv::YuvConversionMode::Balanced,
                        )
                        .expect("conversion");
                        let raw = FrameRef {
                            format: 0,
                            width: w as u32,
                            height: h as u32,
                            planes: [Some(&bgr[..]), None, None, None],
                            strides: [3 * w, 0, 0, 0],
                            ..FrameRef::default()
                        };
                        for _ in 0..4 {
                            enqueue_equivalent(
                                &raw,
                                &face(w, h, side, false),
                                &mut scratch,
                                &mut out,
                            );
                        }
                        black_box(&out);
                    })
                },
            );
        }
        group.finish();
    }
}

/// Criterion's point estimate (mean, ns) of one benchmark, from its saved estimates.
fn estimate(group: &str, id: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = dir
        .join("criterion")
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn print_table() {
    println!("\nper face, microseconds (criterion means); ratios against the packed-BGR upright crop and");
    println!(
        "against today's whole-frame NV12->BGR conversion + packed crop with 4 faces per frame:\n"
    );
    println!(
        "| frame | box px | BGR upright | BGR 30° | NV12 upright | NV12 30° | I420 upright | I420 30° | BGR 30°/BGR | NV12/BGR | NV12 30°/BGR | I420 30°/BGR | today (per face, 4/frame) | today / NV12 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (res, _, _) in SIZES {
        for side in BOXES {
            let side = side as u32;
            let get: BTreeMap<&str, Option<f64>> = [
                "bgr_upright",
                "bgr_30deg",
                "nv12_upright",
                "nv12_30deg",
                "i420_upright",
                "i420_30deg",
            ]
            .into_iter()
            .map(|v| (v, estimate(&format!("frame_{res}"), &format!("{v}/{side}"))))
            .collect();
            let today = estimate(
                &format!("today_{res}"),
                &format!("nv12_to_bgr_then_4_crops/{side}"),
            )
            .map(|t| t / 4.0);
            let us = |v: Option<f64>| v.map_or("-".to_string(), |ns| format!("{:.1}", ns / 1000.0));
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => format!("{:.2}x", a / b),
                _ => "-".into(),
            };
            println!(
                "| {res} | {side} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                us(get["bgr_upright"]),
                us(get["bgr_30deg"]),
                us(get["nv12_upright"]),
                us(get["nv12_30deg"]),
                us(get["i420_upright"]),
                us(get["i420_30deg"]),
                ratio(get["bgr_30deg"], get["bgr_upright"]),
                ratio(get["nv12_upright"], get["bgr_upright"]),
                ratio(get["nv12_30deg"], get["bgr_upright"]),
                ratio(get["i420_30deg"], get["bgr_upright"]),
                us(today),
                ratio(today, get["nv12_upright"]),
            );
        }
    }
}

criterion_group!(benches, per_face, convert_then_crop);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_table();
}
