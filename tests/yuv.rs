//! Decoder frames (ABI 1.3): every face of the YUV evaluation set through `lm_enqueue_frame`
//! against its references, each case's first crop against the reference bytes, and the
//! fixed-point colour conversion against the float definition over every (Y, U, V).
// Without the CPU backend only the crop and conversion tests run; the ABI test's helpers rest.
#![cfg_attr(not(feature = "cpu-tract"), allow(dead_code))]

mod common;

use common::*;
use lmbatch::ffi::*;
use lmbatch::image::{crop_face, ColorMatrix, ColorRange, YuvToRgb};
use lmbatch::{Face, FaceBox, FrameRef};

/// One case of `tests/data/faces_yuv`.
struct YuvCase {
    name: String,
    width: u32,
    height: u32,
    format: i32,
    planes: Vec<Vec<u8>>,
    strides: Vec<usize>,
    color_matrix: i32,
    color_range: i32,
    chroma_location: i32,
    faces: Vec<YuvFace>,
    first_crop: Vec<u8>,
}

struct YuvFace {
    bbox: [f32; 4],
    landmarks: Vec<[f64; 3]>,
    face_score: f64,
    inter_ocular: f64,
    low_confidence: bool,
}

fn format_of(name: &str) -> i32 {
    match name {
        "NV12" => 16,
        "NV21" => 17,
        "I420" => 18,
        "P010" => 19,
        "P016" => 20,
        "I010" => 21,
        other => panic!("unknown format {other}"),
    }
}

fn cases() -> Vec<YuvCase> {
    let dir = data_dir().join("faces_yuv");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let u = |v: &serde_json::Value| v.as_u64().unwrap();
    manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let planes = c["planes"].as_array().unwrap();
            let boxes = c["boxes"].as_array().unwrap();
            YuvCase {
                name: c["name"].as_str().unwrap().into(),
                width: u(&c["width"]) as u32,
                height: u(&c["height"]) as u32,
                format: format_of(c["format"].as_str().unwrap()),
                planes: planes
                    .iter()
                    .map(|p| std::fs::read(dir.join(p["file"].as_str().unwrap())).unwrap())
                    .collect(),
                strides: planes
                    .iter()
                    .map(|p| u(&p["stride_bytes"]) as usize)
                    .collect(),
                color_matrix: u(&c["color_matrix"]) as i32,
                color_range: u(&c["color_range"]) as i32,
                chroma_location: u(&c["chroma_location"]) as i32,
                first_crop: std::fs::read(dir.join(boxes[0]["crop_file"].as_str().unwrap()))
                    .unwrap(),
                faces: boxes
                    .iter()
                    .map(|b| {
                        let bx = b["box"].as_array().unwrap();
                        YuvFace {
                            bbox: [0, 1, 2, 3].map(|i| f(&bx[i]) as f32),
                            landmarks: b["landmarks"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|p| {
                                    let p = p.as_array().unwrap();
                                    [f(&p[0]), f(&p[1]), f(&p[2])]
                                })
                                .collect(),
                            face_score: f(&b["face_score"]),
                            inter_ocular: f(&b["inter_ocular"]),
                            low_confidence: b["low_confidence"].as_bool().unwrap(),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

impl YuvCase {
    fn lm_frame(&self) -> lm_frame {
        let mut planes = [std::ptr::null(); 4];
        let mut strides = [0usize; 4];
        for (i, p) in self.planes.iter().enumerate() {
            planes[i] = p.as_ptr() as *const std::ffi::c_void;
            strides[i] = self.strides[i];
        }
        lm_frame {
            struct_size: std::mem::size_of::<lm_frame>(),
            format: self.format,
            width: self.width,
            height: self.height,
            planes,
            strides,
            color_matrix: self.color_matrix,
            color_range: self.color_range,
            chroma_location: self.chroma_location,
            memory: lm_memory::LM_MEMORY_HOST as i32,
        }
    }

    fn frame_ref(&self) -> FrameRef<'_> {
        let mut planes = [None; 4];
        let mut strides = [0usize; 4];
        for (i, p) in self.planes.iter().enumerate() {
            planes[i] = Some(p.as_slice());
            strides[i] = self.strides[i];
        }
        FrameRef {
            format: self.format,
            width: self.width,
            height: self.height,
            planes,
            strides,
            color_matrix: self.color_matrix,
            color_range: self.color_range,
            chroma_location: self.chroma_location,
            memory: 0,
        }
    }
}

fn face_box(b: [f32; 4]) -> FaceBox {
    FaceBox {
        x1: b[0],
        y1: b[1],
        x2: b[2],
        y2: b[3],
    }
}

fn nme(points: &[f32], reference: &[[f64; 3]], inter_ocular: f64) -> f64 {
    let sum: f64 = points
        .chunks_exact(3)
        .zip(reference)
        .map(|(p, r)| (f64::from(p[0]) - r[0]).hypot(f64::from(p[1]) - r[1]))
        .sum();
    sum / reference.len() as f64 / inter_ocular
}

#[test]
fn every_first_face_crop_is_within_a_level_of_the_reference() {
    let cases = cases();
    assert_eq!(cases.len(), 12);
    for case in &cases {
        let mut out = vec![0u8; 192 * 192 * 3];
        let face = Face::upright(face_box(case.faces[0].bbox));
        crop_face(&case.frame_ref(), &face, 192, 1.5, &mut out).unwrap();
        assert_eq!(out.len(), case.first_crop.len());
        let worst = out
            .iter()
            .zip(&case.first_crop)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        let off = out
            .iter()
            .zip(&case.first_crop)
            .filter(|(a, b)| a != b)
            .count();
        println!(
            "{:<34} max diff {worst} level(s), {off} of {} bytes differ",
            case.name,
            out.len()
        );
        assert!(
            worst <= 1,
            "{}: a crop byte is {worst} levels off",
            case.name
        );
    }
}

#[cfg(feature = "cpu-tract")]
#[test]
fn every_yuv_face_through_the_c_abi_is_within_tolerance() {
    let cases = cases();
    let h = cpu_handle(32, 1000);
    let mut id = 0u64;
    for case in &cases {
        let frame = case.lm_frame();
        for face in &case.faces {
            let b = face.bbox;
            let lm = lm_face {
                struct_size: std::mem::size_of::<lm_face>(),
                r#box: lm_box {
                    x1: b[0],
                    y1: b[1],
                    x2: b[2],
                    y2: b[3],
                },
                flags: 0,
                right_eye: [0.0; 2],
                left_eye: [0.0; 2],
                roll: 0.0,
            };
            // SAFETY: live handle; the planes outlive the call.
            assert_eq!(
                unsafe { lm_enqueue_frame(h, id, &frame, &lm) },
                lm_status::LM_STATUS_OK,
                "{}",
                case.name
            );
            id += 1;
        }
    }
    let (mut id, mut total, mut counted) = (0u64, 0.0, 0);
    println!(
        "{:<34} {:>4} {:>8} {:>8} {:>9}",
        "case", "face", "NME %", "score", "|d score|"
    );
    for case in &cases {
        for (k, face) in case.faces.iter().enumerate() {
            let mut points = vec![0f32; 468 * 3];
            let mut out = landmarks_buf(&mut points);
            // SAFETY: live handle; `out` points at a buffer of 468 points.
            assert_eq!(
                unsafe { lm_pop_wait(h, id, 60_000, &mut out) },
                lm_status::LM_STATUS_OK
            );
            id += 1;
            let e = nme(&points, &face.landmarks, face.inter_ocular);
            println!(
                "{:<34} {k:>4} {:>8.4} {:>8.4} {:>9.1e}{}",
                case.name,
                e * 100.0,
                out.face_score,
                (f64::from(out.face_score) - face.face_score).abs(),
                if face.low_confidence {
                    " (low confidence: score only)"
                } else {
                    ""
                }
            );
            assert!(
                (f64::from(out.face_score) - face.face_score).abs() <= 0.005,
                "{} face {k}: score {} vs {}",
                case.name,
                out.face_score,
                face.face_score
            );
            assert_eq!(out.roll, 0.0, "an upright face is cropped upright");
            if face.low_confidence {
                continue;
            }
            assert!(
                e <= 0.01,
                "{} face {k}: NME {:.3}% > 1%",
                case.name,
                e * 100.0
            );
            total += e;
            counted += 1;
        }
    }
    let mean = total / f64::from(counted);
    println!(
        "faces_yuv: {counted} faces, set mean NME {:.4}%",
        mean * 100.0
    );
    assert!(counted >= 12);
    assert!(mean <= 0.0025, "set mean NME {:.3}% > 0.25%", mean * 100.0);
    // SAFETY: live handle, nothing racing.
    unsafe { lm_destroy(h) };
}

/// DESIGN's coefficient table: (Ky, Rv, Gu, Gv, Bu) and y0, written out here as the float
/// reference the fixed point is held to.
fn table(matrix: ColorMatrix, range: ColorRange) -> ([f64; 5], f64) {
    use ColorMatrix::*;
    use ColorRange::*;
    match (matrix, range) {
        (Bt601, Limited) => ([1.164384, 1.596027, -0.391762, -0.812968, 2.017232], 16.0),
        (Bt709, Limited) => ([1.164384, 1.792741, -0.213249, -0.532909, 2.112402], 16.0),
        (Bt2020, Limited) => ([1.164384, 1.678674, -0.187326, -0.650424, 2.141772], 16.0),
        (Bt601, Full) => ([1.0, 1.402, -0.344136, -0.714136, 1.772], 0.0),
        (Bt709, Full) => ([1.0, 1.5748, -0.187324, -0.468124, 1.8556], 0.0),
        (Bt2020, Full) => ([1.0, 1.4746, -0.164553, -0.571353, 1.8814], 0.0),
    }
}

fn float_rgb(matrix: ColorMatrix, range: ColorRange, y: f64, u: f64, v: f64) -> [f64; 3] {
    let ([ky, rv, gu, gv, bu], y0) = table(matrix, range);
    let l = ky * (y - y0);
    [
        l + rv * (v - 128.0),
        l + gu * (u - 128.0) + gv * (v - 128.0),
        l + bu * (u - 128.0),
    ]
    .map(|c| (c + 0.5).floor().clamp(0.0, 255.0))
}

const ALL: [(ColorMatrix, ColorRange); 6] = [
    (ColorMatrix::Bt601, ColorRange::Limited),
    (ColorMatrix::Bt709, ColorRange::Limited),
    (ColorMatrix::Bt2020, ColorRange::Limited),
    (ColorMatrix::Bt601, ColorRange::Full),
    (ColorMatrix::Bt709, ColorRange::Full),
    (ColorMatrix::Bt2020, ColorRange::Full),
];

#[test]
fn fixed_point_conversion_is_within_a_level_everywhere() {
    // Through convert_row, as the crop paths call it: rows of 256 V values (the vector loop)
    // for every (Y, U).
    let v_row: Vec<u16> = (0..=255u16).map(|v| v << 7).collect();
    let (mut r, mut g, mut b) = ([0u8; 256], [0u8; 256], [0u8; 256]);
    for (matrix, range) in ALL {
        let convert = YuvToRgb::new(matrix, range);
        let (mut worst, mut off) = (0.0f64, 0u64);
        for y in 0..=255u16 {
            for u in 0..=255u16 {
                let (ys, us) = ([y << 7; 256], [u << 7; 256]);
                convert.convert_row(&ys, &us, &v_row, &mut r, &mut g, &mut b);
                for v in 0..=255usize {
                    let got = [r[v], g[v], b[v]];
                    let want = float_rgb(matrix, range, y.into(), u.into(), v as f64);
                    for (g, w) in got.iter().zip(want) {
                        let d = (f64::from(*g) - w).abs();
                        worst = worst.max(d);
                        off += u64::from(d > 0.0);
                    }
                }
            }
        }
        println!(
            "{matrix:?} {range:?}: max diff {worst}, {off} of {} channels differ",
            3u64 << 24
        );
        assert!(worst <= 1.0, "{matrix:?} {range:?}: {worst} levels off");
    }
}

#[test]
fn black_white_and_the_primaries_are_pinned() {
    // (Y, U, V) of black, white, red, green, blue, yellow, cyan, magenta in each matrix and range
    // (the standard's forward matrix from Kr/Kb, rounded to 8 bits), and the RGB the DESIGN
    // definition gives for them (8-bit rounding of Y, U, V leaves some channels one level off the
    // ideal 0/255). A missing 16 offset, a wrong sign, swapped U/V or the wrong matrix moves them
    // by many levels.
    type Pin = ([u8; 3], [u8; 3]);
    let pins: [(ColorMatrix, ColorRange, [Pin; 8]); 6] = [
        (
            ColorMatrix::Bt601,
            ColorRange::Limited,
            [
                ([16, 128, 128], [0, 0, 0]),
                ([235, 128, 128], [255, 255, 255]),
                ([81, 90, 240], [254, 0, 0]),
                ([145, 54, 34], [0, 255, 1]),
                ([41, 240, 110], [0, 0, 255]),
                ([210, 16, 146], [255, 255, 0]),
                ([170, 166, 16], [1, 255, 255]),
                ([106, 202, 222], [255, 0, 254]),
            ],
        ),
        (
            ColorMatrix::Bt709,
            ColorRange::Limited,
            [
                ([16, 128, 128], [0, 0, 0]),
                ([235, 128, 128], [255, 255, 255]),
                ([63, 102, 240], [255, 1, 0]),
                ([173, 42, 26], [0, 255, 1]),
                ([32, 240, 118], [1, 0, 255]),
                ([219, 16, 138], [254, 255, 0]),
                ([188, 154, 16], [0, 254, 255]),
                ([78, 214, 230], [255, 0, 254]),
            ],
        ),
        (
            ColorMatrix::Bt2020,
            ColorRange::Limited,
            [
                ([16, 128, 128], [0, 0, 0]),
                ([235, 128, 128], [255, 255, 255]),
                ([74, 97, 240], [255, 0, 1]),
                ([164, 47, 25], [0, 254, 0]),
                ([29, 240, 119], [0, 0, 255]),
                ([222, 16, 137], [255, 255, 0]),
                ([177, 159, 16], [0, 255, 254]),
                ([87, 209, 231], [255, 1, 255]),
            ],
        ),
        (
            ColorMatrix::Bt601,
            ColorRange::Full,
            [
                ([0, 128, 128], [0, 0, 0]),
                ([255, 128, 128], [255, 255, 255]),
                ([76, 85, 255], [254, 0, 0]),
                ([150, 44, 21], [0, 255, 1]),
                ([29, 255, 107], [0, 0, 254]),
                ([226, 0, 149], [255, 255, 0]),
                ([179, 171, 1], [1, 255, 255]),
                ([105, 212, 235], [255, 0, 254]),
            ],
        ),
        (
            ColorMatrix::Bt709,
            ColorRange::Full,
            [
                ([0, 128, 128], [0, 0, 0]),
                ([255, 128, 128], [255, 255, 255]),
                ([54, 99, 255], [254, 0, 0]),
                ([182, 30, 12], [0, 255, 0]),
                ([18, 255, 116], [0, 0, 254]),
                ([237, 1, 140], [255, 255, 1]),
                ([201, 157, 1], [1, 255, 255]),
                ([73, 226, 244], [255, 0, 255]),
            ],
        ),
        (
            ColorMatrix::Bt2020,
            ColorRange::Full,
            [
                ([0, 128, 128], [0, 0, 0]),
                ([255, 128, 128], [255, 255, 255]),
                ([67, 92, 255], [254, 0, 0]),
                ([173, 36, 11], [0, 255, 0]),
                ([15, 255, 118], [0, 0, 254]),
                ([240, 0, 138], [255, 255, 0]),
                ([188, 164, 1], [1, 255, 255]),
                ([82, 220, 245], [255, 0, 255]),
            ],
        ),
    ];
    for (matrix, range, colours) in pins {
        let convert = YuvToRgb::new(matrix, range);
        for (k, ([y, u, v], rgb)) in colours.into_iter().enumerate() {
            let ideal = [
                [0, 0, 0],
                [255; 3],
                [255, 0, 0],
                [0, 255, 0],
                [0, 0, 255],
                [255, 255, 0],
                [0, 255, 255],
                [255, 0, 255],
            ][k];
            assert!(rgb
                .iter()
                .zip(ideal)
                .all(|(a, b): (&u8, u8)| a.abs_diff(b) <= 1));
            assert_eq!(
                convert.convert_u8(y, u, v),
                rgb,
                "{matrix:?} {range:?}: YUV ({y}, {u}, {v})"
            );
        }
    }
}
