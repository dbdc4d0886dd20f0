//! The best shot of a track: follows the turning astronaut of `tests/data/faces_rotated` (19
//! frames, turned 0..180° in 10° steps; a detector box on the first frame only, then each result's
//! `track_box`/`track_roll`), with a 112-px aligned chip in every result, and writes a contact
//! sheet of the frames sorted by `quality.overall`: per row the frame (halved) and its chip.
//!
//! Run: `cargo run --release --example best_shot [OUT.png]` (default `target/best_shot.png`;
//! `docs/best_shot_sheet.png` was made by it).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lmbatch::{BackendChoice, Config, Face, FaceBox, FrameRef, Pipeline, Popped};

const CHIP: usize = 112;
const FRAME: usize = 224;

struct Shot {
    frame: usize,
    rgb: Vec<u8>,
    landmarks: lmbatch::Landmarks,
}

fn main() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/best_shot.png"));
    let dir = root.join("tests/data/faces_rotated");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)?;
    let track = &manifest["tracks"][0];
    // The detector's box on the first frame; later frames follow the results.
    let first = &track["frames"][0]["box"];
    let corner = |i: usize| first[i].as_f64().map(|v| v as f32).ok_or("frames[0].box");
    let mut face = Face::upright(FaceBox {
        x1: corner(0)?,
        y1: corner(1)?,
        x2: corner(2)?,
        y2: corner(3)?,
    });
    let pipeline = Pipeline::new(Config {
        backend: BackendChoice::Cpu,
        max_batch: 1,
        max_wait: Duration::ZERO,
        chip_size: CHIP as u32,
        ..Config::default()
    })?;
    let mut shots = Vec::new();
    for (n, f) in track["frames"]
        .as_array()
        .ok_or("frames")?
        .iter()
        .enumerate()
    {
        let rgb = std::fs::read(dir.join(f["raw_file"].as_str().ok_or("raw_file")?))?;
        let frame = FrameRef {
            format: 1, // RGB8
            width: FRAME as u32,
            height: FRAME as u32,
            planes: [Some(&rgb[..]), None, None, None],
            strides: [3 * FRAME, 0, 0, 0],
            ..FrameRef::default()
        };
        pipeline.enqueue_frame(n as u64, &frame, &face)?;
        let Popped::Landmarks(l) = pipeline.pop_wait(n as u64, Duration::from_secs(60)) else {
            return Err(format!("frame {n}: no landmarks").into());
        };
        face = Face::with_roll(l.track_box, l.track_roll);
        shots.push(Shot {
            frame: n,
            rgb,
            landmarks: l,
        });
    }
    shots.sort_by(|a, b| {
        b.landmarks
            .quality
            .overall
            .total_cmp(&a.landmarks.quality.overall)
    });
    println!("rank  frame  turn  overall  sharpness  frontal  eyes_open  score  head_roll");
    for (rank, s) in shots.iter().enumerate() {
        let (l, q) = (&s.landmarks, &s.landmarks.quality);
        println!(
            "{rank:4}  {:5}  {:3}°  {:7.3}  {:9.3}  {:7.3}  {:9.3}  {:5.3}  {:8.1}°",
            s.frame,
            10 * s.frame,
            q.overall,
            q.sharpness,
            q.frontal,
            q.eyes_open,
            l.face_score,
            l.pose.roll.to_degrees()
        );
    }
    write_sheet(&out, &shots)?;
    println!(
        "contact sheet: {} ({} frames, best first: frame halved | its chip)",
        out.display(),
        shots.len()
    );
    Ok(())
}

/// Tiles of (the frame halved, the chip), four to a row, best first.
fn write_sheet(path: &Path, shots: &[Shot]) -> Result<(), Box<dyn Error>> {
    const COLUMNS: usize = 4;
    const GAP: usize = 4;
    let tile_w = FRAME / 2 + CHIP + GAP;
    let rows = shots.len().div_ceil(COLUMNS);
    let (w, h) = (COLUMNS * tile_w + GAP, rows * (CHIP + GAP) + GAP);
    let mut sheet = vec![255u8; w * h * 3];
    for (k, s) in shots.iter().enumerate() {
        let (ox, oy) = (
            GAP + (k % COLUMNS) * tile_w,
            GAP + (k / COLUMNS) * (CHIP + GAP),
        );
        for y in 0..CHIP {
            for x in 0..FRAME / 2 {
                for c in 0..3 {
                    let at = |dx: usize, dy: usize| {
                        u16::from(s.rgb[((2 * y + dy) * FRAME + 2 * x + dx) * 3 + c])
                    };
                    let mean = (at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) + 2) / 4;
                    sheet[((oy + y) * w + ox + x) * 3 + c] = mean as u8;
                }
            }
            let chip_row = &s.landmarks.chip[y * CHIP * 3..(y + 1) * CHIP * 3];
            let at = ((oy + y) * w + ox + FRAME / 2) * 3;
            sheet[at..at + CHIP * 3].copy_from_slice(chip_row);
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut encoder = png::Encoder::new(std::fs::File::create(path)?, w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    encoder.write_header()?.write_image_data(&sheet)?;
    Ok(())
}
