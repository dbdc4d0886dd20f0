//! The main job: landmarks for a detector's face, drawn on the photo, with any described model.
//!
//!     cargo run --release --example demo [-- [--model FILE.onnx [--desc FILE.toml]]
//!         [--backend auto|cpu|onnxruntime|tensorrt] [--print-check] [IMAGE.png X1 Y1 X2 Y2 [OUT.png]]]
//!
//! Without arguments: the bundled 468-point model on the bundled photo and the box a real
//! detector found on it. `--model` runs your ONNX model, described by `--desc` (else its sidecar
//! `<stem>.lmbatch.toml`, its metadata, or the bundled descriptor when the names match; see
//! docs/models.md). Prints the backend, the model's key points and the time per face (one face
//! alone, then a full batch of 32), and writes the photo with every point drawn: a wrong
//! descriptor shows as a mesh off the face. `--print-check` prints a `[check]` table of the points
//! it got, to paste into the descriptor once the picture is right.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lmbatch::{BackendChoice, Config, FaceBox, ModelSource, Pipeline, Popped, RawFrame};

const KEY_POINTS: [(usize, &str); 9] = [
    (1, "nose tip"),
    (33, "right eye, outer corner"),
    (133, "right eye, inner corner"),
    (362, "left eye, inner corner"),
    (263, "left eye, outer corner"),
    (61, "mouth, right corner"),
    (291, "mouth, left corner"),
    (152, "chin"),
    (10, "forehead"),
];

fn read_rgb_png(path: &PathBuf) -> Result<(Vec<u8>, u32, u32), Box<dyn std::error::Error>> {
    let decoder = png::Decoder::new(std::fs::File::open(path)?);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g]).collect(),
        other => {
            return Err(format!(
                "unsupported PNG colour type {other:?} (8-bit RGB, RGBA or gray only)"
            )
            .into())
        }
    };
    if info.bit_depth != png::BitDepth::Eight {
        return Err("only 8-bit PNGs are supported".into());
    }
    Ok((rgb, info.width, info.height))
}

fn draw_dot(rgb: &mut [u8], width: u32, height: u32, x: f32, y: f32, radius: i64, colour: [u8; 3]) {
    let (cx, cy) = (x.floor() as i64, y.floor() as i64);
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            let (px, py) = (cx + dx, cy + dy);
            if px >= 0 && py >= 0 && px < i64::from(width) && py < i64::from(height) {
                let i = (py as usize * width as usize + px as usize) * 3;
                rgb[i..i + 3].copy_from_slice(&colour);
            }
        }
    }
}

/// What the command line asks for.
struct Args {
    model: Option<PathBuf>,
    desc: Option<PathBuf>,
    backend: BackendChoice,
    print_check: bool,
    /// IMAGE X1 Y1 X2 Y2 [OUT]
    positional: Vec<String>,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut args = Args {
        model: None,
        desc: None,
        backend: BackendChoice::Auto,
        print_check: false,
        positional: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--model" => args.model = Some(PathBuf::from(value()?)),
            "--desc" => args.desc = Some(PathBuf::from(value()?)),
            "--backend" => {
                args.backend = match value()?.as_str() {
                    "auto" => BackendChoice::Auto,
                    "cpu" | "tract" => BackendChoice::Cpu,
                    "onnxruntime" => BackendChoice::OnnxRuntime,
                    "openvino" => BackendChoice::OpenVino,
                    "tensorrt" => BackendChoice::TensorRt,
                    other => return Err(format!("unknown backend {other:?}").into()),
                }
            }
            "--print-check" => args.print_check = true,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}").into()),
            _ => args.positional.push(arg),
        }
    }
    if args.desc.is_some() && args.model.is_none() {
        return Err("--desc describes a --model".into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cli = parse_args()?;
    let args = &cli.positional;
    let (image_path, face, out_path) = if args.len() >= 5 {
        let n = |i: usize| args[i].parse::<f32>();
        let face = FaceBox {
            x1: n(1)?,
            y1: n(2)?,
            x2: n(3)?,
            y2: n(4)?,
        };
        let out = args
            .get(5)
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/demo/landmarks.png"));
        (PathBuf::from(&args[0]), face, out)
    } else if !args.is_empty() {
        return Err(
            "give IMAGE.png X1 Y1 X2 Y2 [OUT.png], or nothing for the bundled photo".into(),
        );
    } else {
        // The bundled photo and the box a real detector (BlazeFace) found on it.
        let crop: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("tests/data/crop.json"))?)?;
        let b: Vec<f32> = crop["detection"]["box_xywh_px"]
            .as_array()
            .ok_or("crop.json has no detection box")?
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN) as f32)
            .collect();
        if b.len() != 4 {
            return Err("crop.json's box is not x, y, w, h".into());
        }
        let face = FaceBox {
            x1: b[0],
            y1: b[1],
            x2: b[0] + b[2],
            y2: b[1] + b[3],
        };
        (
            root.join("tests/data/astronaut.png"),
            face,
            root.join("target/demo/astronaut_landmarks.png"),
        )
    };
    let (mut rgb, width, height) = read_rgb_png(&image_path)?;

    let t0 = Instant::now();
    let pipeline = Pipeline::new(Config {
        model: cli
            .model
            .clone()
            .map_or(ModelSource::Bundled, ModelSource::Path),
        model_desc: cli.desc.clone(),
        backend: cli.backend,
        ..Config::default()
    })?;
    let info = pipeline.model_info().clone();
    println!(
        "backend: {} ({} points, {} scheme, input {}x{}, max batch {}), created in {:.0} ms",
        info.backend,
        info.num_points,
        info.scheme,
        info.input_width,
        info.input_height,
        info.max_batch,
        t0.elapsed().as_secs_f64() * 1e3
    );
    if !info.fallback_reason.is_empty() {
        println!("  ({})", info.fallback_reason);
    }
    let frame = RawFrame {
        data: Some(&rgb),
        width,
        height,
        stride: width as usize * 3,
        format: 1,
    };

    // One face alone: it waits for its batch deadline (max_wait, 10 ms by default), then runs.
    let t0 = Instant::now();
    pipeline.enqueue(0, &frame, &face)?;
    let landmarks = match pipeline.pop_wait(0, Duration::from_secs(60)) {
        Popped::Landmarks(l) => l,
        other => return Err(format!("no landmarks: {other:?}").into()),
    };
    let alone = t0.elapsed();

    // A full batch of 32 faces, as a busy VMS would send them.
    let t0 = Instant::now();
    for id in 1..=32 {
        pipeline.enqueue(id, &frame, &face)?;
    }
    for id in 1..=32 {
        if !matches!(
            pipeline.pop_wait(id, Duration::from_secs(60)),
            Popped::Landmarks(_)
        ) {
            return Err(format!("face {id} of the batch failed").into());
        }
    }
    let batch = t0.elapsed();

    println!(
        "face box ({:.1}, {:.1})-({:.1}, {:.1}), face score {:.3}",
        face.x1, face.y1, face.x2, face.y2, landmarks.face_score
    );
    let key_points = key_points(&info.scheme, info.num_points as usize);
    for &(index, name) in &key_points {
        let p = &landmarks.points[index * 3..index * 3 + 3];
        println!(
            "  {index:>3} {name:<24} x {:>7.2}  y {:>7.2}  z {:>7.2}",
            p[0], p[1], p[2]
        );
    }
    println!(
        "one face alone: {:.1} ms end to end (queue {:.1} ms, inference {:.1} ms)",
        alone.as_secs_f64() * 1e3,
        landmarks.queue_us as f64 / 1e3,
        landmarks.infer_us as f64 / 1e3
    );
    println!(
        "batch of 32: {:.1} ms, {:.2} ms per face, {:.0} faces/s",
        batch.as_secs_f64() * 1e3,
        batch.as_secs_f64() * 1e3 / 32.0,
        32.0 / batch.as_secs_f64()
    );

    // Small models get bigger dots, so five points are seen on a large photo.
    let dot = if info.num_points <= 100 { 2 } else { 0 };
    for (i, p) in landmarks.points.chunks(3).enumerate() {
        let key = key_points.iter().any(|(k, _)| *k == i);
        draw_dot(
            &mut rgb,
            width,
            height,
            p[0],
            p[1],
            if key { dot + 2 } else { dot },
            if key { [255, 40, 40] } else { [40, 255, 80] },
        );
    }
    if let Some(dir) = out_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut encoder = png::Encoder::new(
        std::io::BufWriter::new(std::fs::File::create(&out_path)?),
        width,
        height,
    );
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&rgb)?;
    println!("wrote {}", out_path.display());
    if cli.print_check {
        print_check(&image_path, &face, &landmarks.points);
    }
    Ok(())
}

/// The points worth naming: MediaPipe's landmarks for its schemes, the detector's order for
/// five_point, else the first five.
fn key_points(scheme: &str, count: usize) -> Vec<(usize, &'static str)> {
    const FIVE: [&str; 5] = [
        "right eye",
        "left eye",
        "nose tip",
        "mouth, right corner",
        "mouth, left corner",
    ];
    match scheme {
        "mediapipe468" | "mediapipe478" => KEY_POINTS.to_vec(),
        "five_point" => FIVE.iter().copied().enumerate().collect(),
        _ => (0..count.min(5)).map(|i| (i, "")).collect(),
    }
}

/// A `[check]` table of these points (DESIGN's golden case), for a descriptor.
fn print_check(image: &std::path::Path, face: &FaceBox, points: &[f32]) {
    println!("\n[check]   # the points above; image relative to the descriptor's folder");
    println!("image = {:?}", image.display().to_string());
    println!("box = [{}, {}, {}, {}]", face.x1, face.y1, face.x2, face.y2);
    println!("expect = [");
    for p in points.chunks_exact(3) {
        println!("  [{:.3}, {:.3}],", p[0], p[1]);
    }
    println!("]");
    println!(
        "tolerance_px = 1.0   # above the engines' spread, below what a wrong descriptor moves"
    );
}
