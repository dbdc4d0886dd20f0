//! The model descriptor: what a backend's network takes and gives, and how its outputs become
//! points in the caller's frame.

use crate::descriptor::{
    Channels, DType, Descriptor, Layout, Order, Scheme, SchemeName, ScoreKind, Space,
    BUNDLED_DESCRIPTOR,
};
use crate::error::Result;
use crate::image::{FaceCrop, SampleSize, MESH_LEFT_EYE, MESH_RIGHT_EYE};

/// The bundled default: MediaPipe Face Mesh landmarks, converted to ONNX (see `models/README.md`).
pub const DEFAULT_MODEL_ONNX: &[u8] = include_bytes!("../models/face_landmark_468.onnx");

/// How to feed a landmark network and read it back. Everything the pipeline needs to know about a
/// model lives here, so a second model is a second descriptor, not a code change.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Name of the input tensor (see `input` for its layout and values).
    pub input_name: String,
    /// Width and height of the input in pixels (`input.size`): the square crop is sampled at
    /// width × height.
    pub input_width: u32,
    pub input_height: u32,
    /// value = byte × `input_scale` for the bundled conventions (what the GPU and remote paths
    /// feed); the general rule is `input`'s mean and std.
    pub input_scale: f32,
    /// Name of the landmark output (see `points` for how to read it).
    pub landmarks_name: String,
    /// Name of the face presence output; empty when the model gives none.
    pub score_name: String,
    pub num_points: u32,
    /// Crop side as a multiple of the detector box's longer side.
    pub crop_scale: f64,
    /// Follow the face's roll; false: every crop upright.
    pub rotate: bool,
    pub input: InputConvention,
    pub points: PointConvention,
    /// `None`: no score (face_score is -1).
    pub score: Option<ScoreConvention>,
    pub scheme: SchemePoints,
}

/// How the staged RGB crop becomes the network's input tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct InputConvention {
    pub layout: Layout,
    pub dtype: DType,
    pub channels: Channels,
    /// Per channel, in the order of `channels`.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Rows are x.
    pub transpose: bool,
}

/// How one item's point values are laid out and scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointConvention {
    pub dims: u32,
    pub order: Order,
    pub space: Space,
}

/// How the face score is read from its output row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreConvention {
    pub kind: ScoreKind,
    pub index: u32,
}

/// Which points are which (indices into the model's points; lists are averaged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemePoints {
    pub name: SchemeName,
    /// The subject's eyes; empty: the model has no eye points (track_roll keeps the crop's roll).
    pub right_eye: Vec<usize>,
    pub left_eye: Vec<usize>,
    /// The nose tip and the subject's right and left mouth corners, for the chip; `None`: the
    /// scheme does not name them.
    pub nose_and_mouth: Option<[usize; 3]>,
}

impl SchemePoints {
    fn of(s: &Scheme) -> Self {
        let (right, left, nose_and_mouth) = match s.name {
            // MediaPipe's mesh (and its first 468 points in the 478 model): eye corners, the nose
            // tip (1) and the mouth corners (61 on the subject's right, 291).
            SchemeName::Mediapipe468 | SchemeName::Mediapipe478 => (
                MESH_RIGHT_EYE.to_vec(),
                MESH_LEFT_EYE.to_vec(),
                Some([1, 61, 291]),
            ),
            // The detector order: right eye, left eye, nose, mouth right, mouth left.
            SchemeName::FivePoint => (vec![0], vec![1], Some([2, 3, 4])),
            SchemeName::Custom => {
                let list = |v: &Option<Vec<u32>>| {
                    v.iter().flatten().map(|&i| i as usize).collect::<Vec<_>>()
                };
                let nose_and_mouth = match (s.nose_tip, s.mouth_right, s.mouth_left) {
                    (Some(n), Some(r), Some(l)) => Some([n as usize, r as usize, l as usize]),
                    _ => None,
                };
                (list(&s.right_eye), list(&s.left_eye), nose_and_mouth)
            }
        };
        SchemePoints {
            name: s.name,
            right_eye: right,
            left_eye: left,
            nose_and_mouth,
        }
    }

    /// Whether the scheme names the five points of the chip.
    pub fn has_five_points(&self) -> bool {
        !self.right_eye.is_empty() && !self.left_eye.is_empty() && self.nose_and_mouth.is_some()
    }

    /// The five points of the chip, in the detector order (eye centres as the means of the
    /// scheme's eye points), from `points` (`x, y, z` per point); `None` when the scheme does not
    /// name them or an index is past the points.
    pub fn five_points(&self, points: &[f32]) -> Option<[[f64; 2]; 5]> {
        let n = points.len() / 3;
        let [nose, mouth_right, mouth_left] = self.nose_and_mouth?;
        let mean = |idx: &[usize]| -> Option<[f64; 2]> {
            if idx.is_empty() || idx.iter().any(|&i| i >= n) {
                return None;
            }
            let k = idx.len() as f64;
            Some(idx.iter().fold([0.0, 0.0], |m, &i| {
                [
                    m[0] + f64::from(points[3 * i]) / k,
                    m[1] + f64::from(points[3 * i + 1]) / k,
                ]
            }))
        };
        Some([
            mean(&self.right_eye)?,
            mean(&self.left_eye)?,
            mean(&[nose])?,
            mean(&[mouth_right])?,
            mean(&[mouth_left])?,
        ])
    }

    /// The scheme's name as lm_model_info.scheme gives it.
    pub fn label(&self) -> &'static str {
        match self.name {
            SchemeName::Mediapipe468 => "mediapipe468",
            SchemeName::Mediapipe478 => "mediapipe478",
            SchemeName::FivePoint => "five_point",
            SchemeName::Custom => "custom",
        }
    }
}

impl ModelSpec {
    pub fn face_landmark_468() -> Self {
        ModelSpec {
            input_name: "input".into(),
            input_width: 192,
            input_height: 192,
            input_scale: 1.0 / 255.0,
            landmarks_name: "landmarks".into(),
            score_name: "face_score".into(),
            num_points: 468,
            crop_scale: 1.5,
            rotate: true,
            input: InputConvention {
                layout: Layout::Nchw,
                dtype: DType::F32,
                channels: Channels::Rgb,
                mean: vec![0.0; 3],
                std: vec![255.0; 3],
                transpose: false,
            },
            points: PointConvention {
                dims: 3,
                order: Order::Interleaved,
                space: Space::InputPx,
            },
            score: Some(ScoreConvention {
                kind: ScoreKind::Probability,
                index: 0,
            }),
            scheme: SchemePoints {
                name: SchemeName::Mediapipe468,
                right_eye: MESH_RIGHT_EYE.to_vec(),
                left_eye: MESH_LEFT_EYE.to_vec(),
                nose_and_mouth: Some([1, 61, 291]),
            },
        }
    }

    /// The bundled model's spec, read from its descriptor (`models/face_landmark_468.lmbatch.toml`,
    /// compiled in): the path every described model takes.
    pub fn bundled() -> Result<Self> {
        Self::from_descriptor(&Descriptor::parse(
            BUNDLED_DESCRIPTOR,
            "models/face_landmark_468.lmbatch.toml (bundled)",
        )?)
    }

    /// The spec of a described model.
    pub fn from_descriptor(d: &Descriptor) -> Result<Self> {
        let i = &d.input;
        let p = &d.points;
        Ok(ModelSpec {
            input_name: i.name.clone(),
            input_width: i.size[0],
            input_height: i.size[1],
            input_scale: 1.0 / i.std[0],
            landmarks_name: p.output.clone(),
            score_name: d.score.as_ref().map_or(String::new(), |s| s.output.clone()),
            num_points: p.count,
            crop_scale: d.crop.scale,
            rotate: d.crop.rotate,
            input: InputConvention {
                layout: i.layout,
                dtype: i.dtype,
                channels: i.channels,
                mean: i.mean.clone(),
                std: i.std.clone(),
                transpose: i.transpose,
            },
            points: PointConvention {
                dims: p.dims,
                order: p.order,
                space: p.space,
            },
            score: d.score.as_ref().map(|s| ScoreConvention {
                kind: s.kind,
                index: s.index,
            }),
            scheme: SchemePoints::of(&d.scheme),
        })
    }

    /// Whether the model takes and gives exactly what the bundled one does (float32 NCHW RGB
    /// scaled by one factor, interleaved 3-D points in input pixels, a probability in column 0):
    /// what TensorRT's GPU input kernel converts (any other input is written on the host).
    pub fn has_bundled_conventions(&self) -> bool {
        let i = &self.input;
        i.layout == Layout::Nchw
            && i.dtype == DType::F32
            && i.channels == Channels::Rgb
            && !i.transpose
            && i.mean.iter().all(|&m| m == 0.0)
            && i.std.iter().all(|&s| s == i.std[0])
            && self.points
                == PointConvention {
                    dims: 3,
                    order: Order::Interleaved,
                    space: Space::InputPx,
                }
            && self.score
                == Some(ScoreConvention {
                    kind: ScoreKind::Probability,
                    index: 0,
                })
    }

    /// What the crop is sampled at: the input's width and height.
    pub fn sample_size(&self) -> SampleSize {
        SampleSize {
            width: self.input_width as usize,
            height: self.input_height as usize,
        }
    }

    /// Values of one item's input tensor: channels × width × height.
    pub fn input_values(&self) -> usize {
        self.input.channels.count() * self.sample_size().pixels()
    }

    /// The input tensor's rows and columns: height × width, or width × height transposed.
    fn tensor_rows_columns(&self) -> (usize, usize) {
        let SampleSize { width, height } = self.sample_size();
        if self.input.transpose {
            (width, height)
        } else {
            (height, width)
        }
    }

    /// Bytes of one item's input tensor, in its dtype.
    pub fn input_bytes(&self) -> usize {
        let size = match self.input.dtype {
            DType::F32 => 4,
            DType::F16 => 2,
            DType::U8 => 1,
        };
        self.input_values() * size
    }

    /// Values of one item's landmark output: points × dims.
    pub fn raw_point_values(&self) -> usize {
        self.num_points as usize * self.points.dims as usize
    }

    /// Bytes of one staged crop: interleaved RGB at the input size.
    pub fn crop_bytes(&self) -> usize {
        self.sample_size().pixels() * 3
    }

    /// The input tensor's shape for a batch of `n`, in the model's layout (rows = x when
    /// transposed).
    pub fn input_shape(&self, n: usize) -> [usize; 4] {
        let ((rows, columns), channels) = (self.tensor_rows_columns(), self.input.channels.count());
        match self.input.layout {
            Layout::Nchw => [n, channels, rows, columns],
            Layout::Nhwc => [n, rows, columns, channels],
        }
    }

    /// Floats of one item's landmark output.
    pub fn point_floats(&self) -> usize {
        self.num_points as usize * 3
    }
}

/// Converts interleaved RGB bytes (`plane` pixels each) into the model's planar float input
/// (NCHW, value × scale).
pub fn to_planar(crops: &[&[u8]], plane: usize, scale: f32, out: &mut Vec<f32>) {
    out.clear();
    out.resize(crops.len() * 3 * plane, 0.0);
    to_planar_into(crops, plane, scale, out);
}

/// [`to_planar`] into a buffer the caller owns (pinned host memory for a GPU), holding at least
/// `crops.len() × 3 × plane` floats.
pub fn to_planar_into(crops: &[&[u8]], plane: usize, scale: f32, out: &mut [f32]) {
    for (crop, item) in crops.iter().zip(out.chunks_exact_mut(3 * plane)) {
        let (r, rest) = item.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        for (i, px) in crop.chunks_exact(3).enumerate() {
            r[i] = f32::from(px[0]) * scale;
            g[i] = f32::from(px[1]) * scale;
            b[i] = f32::from(px[2]) * scale;
        }
    }
}

/// The byte of channel `c` (in the model's channel order) of an RGB pixel.
#[inline(always)]
fn channel_byte(px: &[u8; 3], channels: Channels, c: usize) -> u8 {
    match channels {
        Channels::Rgb => px[c],
        Channels::Bgr => px[2 - c],
        // BT.601 luma, rounded: (77 R + 150 G + 29 B) / 256; a gray frame's R = G = B stays.
        Channels::Gray => {
            ((77 * u32::from(px[0]) + 150 * u32::from(px[1]) + 29 * u32::from(px[2]) + 128) >> 8)
                as u8
        }
    }
}

/// Writes staged crops (interleaved RGB, width × height pixels each) into the batch tensor as
/// the model takes it: its channel order, layout, transposition, and `(byte − mean) / std`
/// through `value` (f32, f16) or the byte as it is (u8). `out` holds
/// `crops.len() × input_values()` values.
fn write_input<T: Copy>(
    crops: &[&[u8]],
    spec: &ModelSpec,
    out: &mut [T],
    value: impl Fn(u8, usize) -> T,
) {
    let per_item = spec.input_values();
    for (crop, item) in crops.iter().zip(out.chunks_exact_mut(per_item)) {
        write_item(crop, spec, item, &value);
    }
}

/// One item of [`write_input`]. The untransposed layouts (every model seen so far) walk the crop
/// once per plane (NCHW) or once (NHWC) with the channel choice fixed outside the pixel loop:
/// the general per-value loop cost as much as the crop itself.
fn write_item<T: Copy>(
    crop: &[u8],
    spec: &ModelSpec,
    item: &mut [T],
    value: &impl Fn(u8, usize) -> T,
) {
    let conv = &spec.input;
    let channels = conv.channels;
    let c_count = channels.count();
    let (pixels, _) = crop[..spec.crop_bytes()].as_chunks::<3>();
    if !conv.transpose {
        match conv.layout {
            Layout::Nchw => {
                for (c, plane) in item.chunks_exact_mut(pixels.len()).enumerate() {
                    match channels {
                        Channels::Rgb => plane_from(plane, pixels, |p| value(p[c], c)),
                        Channels::Bgr => plane_from(plane, pixels, |p| value(p[2 - c], c)),
                        Channels::Gray => {
                            plane_from(plane, pixels, |p| value(channel_byte(p, channels, c), c))
                        }
                    }
                }
            }
            Layout::Nhwc => {
                for (values, p) in item.chunks_exact_mut(c_count).zip(pixels) {
                    for (c, v) in values.iter_mut().enumerate() {
                        *v = value(channel_byte(p, channels, c), c);
                    }
                }
            }
        }
        return;
    }
    let width = spec.input_width as usize;
    let (rows, columns) = spec.tensor_rows_columns();
    for r in 0..rows {
        for col in 0..columns {
            // The tensor's (row r, column col) is the crop's (x = r, y = col) when transposed.
            let px = &pixels[col * width + r];
            for c in 0..c_count {
                let at = match conv.layout {
                    Layout::Nchw => (c * rows + r) * columns + col,
                    Layout::Nhwc => (r * columns + col) * c_count + c,
                };
                item[at] = value(channel_byte(px, channels, c), c);
            }
        }
    }
}

#[inline(always)]
fn plane_from<T>(plane: &mut [T], pixels: &[[u8; 3]], f: impl Fn(&[u8; 3]) -> T) {
    for (v, p) in plane.iter_mut().zip(pixels) {
        *v = f(p);
    }
}

/// The value of a byte of channel `c`: `(byte − mean[c]) / std[c]`, as `× (1 / std[c])` so the
/// bundled model's input is bit for bit [`to_planar`]'s.
fn normalised(spec: &ModelSpec) -> impl Fn(u8, usize) -> f32 + '_ {
    let mean = &spec.input.mean;
    let inv_std: Vec<f32> = spec.input.std.iter().map(|s| 1.0 / s).collect();
    move |b, c| (f32::from(b) - mean[c]) * inv_std[c]
}

/// [`write_input`] for a float32 input: the [`normalised`] value.
pub fn write_input_f32(crops: &[&[u8]], spec: &ModelSpec, out: &mut [f32]) {
    write_input(crops, spec, out, normalised(spec));
}

/// [`write_input`] for a float16 input: [`write_input_f32`]'s value rounded to the nearest half
/// (ties to even), written straight into the half tensor.
pub fn write_input_f16(crops: &[&[u8]], spec: &ModelSpec, out: &mut [half::f16]) {
    let value = normalised(spec);
    write_input(crops, spec, out, |b, c| half::f16::from_f32(value(b, c)));
}

/// [`write_input`] for a uint8 input: the bytes as they are.
pub fn write_input_u8(crops: &[&[u8]], spec: &ModelSpec, out: &mut [u8]) {
    write_input(crops, spec, out, |b, _| b);
}

/// The input tensor as raw little-endian bytes in the model's dtype (what a GPU upload and a
/// remote request carry): `out` holds `crops.len() × input_bytes()` bytes.
pub fn write_input_bytes(crops: &[&[u8]], spec: &ModelSpec, out: &mut [u8]) {
    match spec.input.dtype {
        DType::U8 => write_input_u8(crops, spec, out),
        DType::F16 => {
            let value = normalised(spec);
            let (words, _) = out.as_chunks_mut::<2>();
            write_input(crops, spec, words, |b, c| {
                half::f16::from_f32(value(b, c)).to_le_bytes()
            });
        }
        DType::F32 => {
            let value = normalised(spec);
            let (words, _) = out.as_chunks_mut::<4>();
            write_input(crops, spec, words, |b, c| value(b, c).to_le_bytes());
        }
    }
}

/// One item's raw point values (`num_points × dims`, in the model's order and space) as
/// interleaved (x, y, z) in pixels of the input (x of its width, y of its height, z on x's
/// scale); z is 0 for 2-D points. `out` holds `num_points × 3` floats.
pub fn points_to_input_px(raw: &[f32], spec: &ModelSpec, out: &mut [f32]) {
    let (n, dims) = (spec.num_points as usize, spec.points.dims as usize);
    let (w, h) = (spec.input_width as f32, spec.input_height as f32);
    for (i, p) in out.chunks_exact_mut(3).enumerate().take(n) {
        let at = |k: usize| match spec.points.order {
            Order::Interleaved => raw[i * dims + k],
            Order::Planar => raw[k * n + i],
        };
        let (x, y, z) = (at(0), at(1), if dims == 3 { at(2) } else { 0.0 });
        let [x, y, z] = match spec.points.space {
            Space::InputPx => [x, y, z],
            Space::Unit => [x * w, y * h, z * w],
            Space::SignedUnit => [(x + 1.0) / 2.0 * w, (y + 1.0) / 2.0 * h, z * w / 2.0],
        };
        p.copy_from_slice(&[x, y, z]);
    }
}

/// The face score of one item from its score output row: as given, sigmoid of a logit, or the
/// softmax of the row, at the described column; -1 when the model gives no score.
pub fn face_score(row: &[f32], spec: &ModelSpec) -> f32 {
    let Some(conv) = spec.score else {
        return -1.0;
    };
    let Some(&v) = row.get(conv.index as usize) else {
        return f32::NAN;
    };
    match conv.kind {
        ScoreKind::Probability => v,
        ScoreKind::Logit => 1.0 / (1.0 + (-v).exp()),
        ScoreKind::Softmax => {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|&r| (r - max).exp()).sum();
            (v - max).exp() / sum
        }
    }
}

/// Appends `n` items' outputs as the pipeline reads them: `raw_points` (`n × raw_point_values()`,
/// in the model's order and space) as interleaved (x, y, z) input pixels to `points`, and each
/// item's score (`score_rows`: the score output's `n` rows; `None` when the model has none) to
/// `scores`. The one decoder every CPU engine calls.
pub fn decode_outputs(
    raw_points: &[f32],
    score_rows: Option<&[f32]>,
    n: usize,
    spec: &ModelSpec,
    points: &mut Vec<f32>,
    scores: &mut Vec<f32>,
) {
    let (raw, canonical) = (spec.raw_point_values(), spec.point_floats());
    for item in raw_points.chunks_exact(raw).take(n) {
        let start = points.len();
        points.resize(start + canonical, 0.0);
        points_to_input_px(item, spec, &mut points[start..]);
    }
    match score_rows {
        Some(rows) => {
            let columns = (rows.len() / n.max(1)).max(1);
            scores.extend(rows.chunks_exact(columns).map(|r| face_score(r, spec)));
        }
        None => scores.extend(std::iter::repeat_n(-1.0, n)),
    }
}

/// Maps one item's landmarks from input pixels to frame pixels in place. Returns false (and leaves
/// the values unusable) when the network produced a non-finite value: such points are never
/// handed out as a result.
pub fn decode_to_frame(points: &mut [f32], crop: &FaceCrop, size: SampleSize) -> bool {
    for p in points.chunks_exact_mut(3) {
        let mapped = crop.to_frame(size, p[0], p[1], p[2]);
        if !mapped.iter().all(|v| v.is_finite()) {
            return false;
        }
        p.copy_from_slice(&mapped);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::CropRect;

    #[test]
    fn the_bundled_descriptor_gives_the_default_models_spec() {
        assert_eq!(
            ModelSpec::bundled().expect("the bundled descriptor converts"),
            ModelSpec::face_landmark_468()
        );
    }

    #[test]
    fn only_the_bundled_conventions_count_as_bundled() {
        assert!(ModelSpec::face_landmark_468().has_bundled_conventions());
        for (from, to) in [
            ("layout = \"NCHW\"", "layout = \"NHWC\""),
            ("dtype = \"f32\"", "dtype = \"u8\""),
            ("channels = \"RGB\"", "channels = \"BGR\""),
            ("transpose = false", "transpose = true"),
            ("mean = [0.0, 0.0, 0.0]", "mean = [127.5, 127.5, 127.5]"),
            ("space = \"input_px\"", "space = \"unit\""),
            ("order = \"interleaved\"", "order = \"planar\""),
            ("kind = \"probability\"", "kind = \"logit\""),
        ] {
            let text = BUNDLED_DESCRIPTOR.replacen(from, to, 1);
            let d = Descriptor::parse(&text, "t").expect("a valid descriptor");
            let spec = ModelSpec::from_descriptor(&d).expect("converts");
            assert!(!spec.has_bundled_conventions(), "{to}");
        }
        // A non-square input: width then height, as the descriptor writes them.
        let text = BUNDLED_DESCRIPTOR.replacen("size = [192, 192]", "size = [256, 192]", 1);
        let d = Descriptor::parse(&text, "t").expect("a valid descriptor");
        let spec = ModelSpec::from_descriptor(&d).expect("converts");
        assert_eq!((spec.input_width, spec.input_height), (256, 192));
        assert_eq!(spec.input_shape(2), [2, 3, 192, 256]);
        assert_eq!(spec.crop_bytes(), 256 * 192 * 3);
    }

    fn spec_with(edit: &[(&str, &str)]) -> ModelSpec {
        let mut text = BUNDLED_DESCRIPTOR.to_string();
        for (from, to) in edit {
            assert!(text.contains(from), "{from}");
            text = text.replacen(from, to, 1);
        }
        ModelSpec::from_descriptor(&Descriptor::parse(&text, "t").expect("valid")).expect("spec")
    }

    /// A 3×3 crop whose pixel (x, y) is (10y + x, 100 + 10y + x, 200 + x): every byte says where
    /// it came from.
    fn tagged_crop() -> Vec<u8> {
        let mut crop = Vec::new();
        for y in 0..3u8 {
            for x in 0..3u8 {
                crop.extend_from_slice(&[10 * y + x, 100 + 10 * y + x, 200 + x]);
            }
        }
        crop
    }

    #[test]
    fn the_bundled_input_is_to_planar() {
        let spec = spec_with(&[("size = [192, 192]", "size = [3, 3]")]);
        let crop = tagged_crop();
        let (mut general, mut planar) = (vec![0f32; 27], Vec::new());
        write_input_f32(&[&crop], &spec, &mut general);
        to_planar(&[&crop], 9, spec.input_scale, &mut planar);
        assert_eq!(general, planar);
    }

    #[test]
    fn the_plane_walk_is_the_per_value_formula() {
        // A 5 x 4 crop of scattered bytes, untransposed, every layout and channel order: each
        // value where the general formula puts it, bit for bit.
        let crop: Vec<u8> = (0..60u32).map(|i| (i * 97 % 251) as u8).collect();
        for layout in ["NCHW", "NHWC"] {
            for (channels, mean, std) in [
                ("RGB", "[1.0, 2.0, 3.0]", "[50.0, 60.0, 70.0]"),
                ("BGR", "[1.0, 2.0, 3.0]", "[50.0, 60.0, 70.0]"),
                ("GRAY", "[4.0]", "[80.0]"),
            ] {
                let spec = spec_with(&[
                    ("size = [192, 192]", "size = [5, 4]"),
                    ("layout = \"NCHW\"", &format!("layout = \"{layout}\"")),
                    ("channels = \"RGB\"", &format!("channels = \"{channels}\"")),
                    ("mean = [0.0, 0.0, 0.0]", &format!("mean = {mean}")),
                    ("std = [255.0, 255.0, 255.0]", &format!("std = {std}")),
                ]);
                let mut out = vec![0f32; spec.input_values()];
                write_input_f32(&[&crop], &spec, &mut out);
                let c_count = spec.input.channels.count();
                for y in 0..4 {
                    for x in 0..5 {
                        let px: &[u8; 3] = crop[3 * (y * 5 + x)..][..3].try_into().unwrap();
                        for c in 0..c_count {
                            let at = match spec.input.layout {
                                Layout::Nchw => (c * 4 + y) * 5 + x,
                                Layout::Nhwc => (y * 5 + x) * c_count + c,
                            };
                            let byte = channel_byte(px, spec.input.channels, c);
                            let want =
                                (f32::from(byte) - spec.input.mean[c]) * (1.0 / spec.input.std[c]);
                            assert_eq!(
                                out[at].to_bits(),
                                want.to_bits(),
                                "{layout} {channels} ({x}, {y}) c {c}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_input_convention_lands_where_it_says() {
        let crop = tagged_crop();
        // NHWC, BGR, transposed, mean/std of [-1, 1]: tensor (y=0, x=1) is crop (x=0, y=1).
        let spec = spec_with(&[
            ("size = [192, 192]", "size = [3, 3]"),
            ("layout = \"NCHW\"", "layout = \"NHWC\""),
            ("channels = \"RGB\"", "channels = \"BGR\""),
            ("transpose = false", "transpose = true"),
            ("mean = [0.0, 0.0, 0.0]", "mean = [127.5, 127.5, 127.5]"),
            ("std = [255.0, 255.0, 255.0]", "std = [127.5, 127.5, 127.5]"),
        ]);
        let mut out = vec![0f32; 27];
        write_input_f32(&[&crop], &spec, &mut out);
        let at = |y: usize, x: usize, c: usize| out[(y * 3 + x) * 3 + c];
        let v = |b: u8| (f32::from(b) - 127.5) * (1.0 / 127.5);
        // crop pixel (x=0, y=1) = (10, 110, 200); BGR order.
        assert_eq!(
            [at(0, 1, 0), at(0, 1, 1), at(0, 1, 2)],
            [v(200), v(110), v(10)]
        );
        // u8 NCHW GRAY: the luma byte, mean/std ignored.
        let spec = spec_with(&[
            ("size = [192, 192]", "size = [3, 3]"),
            ("dtype = \"f32\"", "dtype = \"u8\""),
            ("channels = \"RGB\"", "channels = \"GRAY\""),
            ("mean = [0.0, 0.0, 0.0]", "mean = [0.0]"),
            ("std = [255.0, 255.0, 255.0]", "std = [255.0]"),
        ]);
        let mut bytes = vec![0u8; 9];
        write_input_u8(&[&crop], &spec, &mut bytes);
        let luma = |r: u32, g: u32, b: u32| ((77 * r + 150 * g + 29 * b + 128) >> 8) as u8;
        assert_eq!(bytes[3 + 2], luma(12, 112, 202)); // (y=1, x=2)
        assert_eq!(channel_byte(&[90, 90, 90], Channels::Gray, 0), 90);
    }

    #[test]
    fn a_non_square_input_keeps_rows_and_columns_apart() {
        // A 3 x 2 crop (3 wide, 2 high) whose pixel (x, y) has R = 10y + x.
        let crop: Vec<u8> = (0..2u8)
            .flat_map(|y| (0..3u8).flat_map(move |x| [10 * y + x, 0, 0]))
            .collect();
        let red = |edits: &[(&str, &str)]| {
            let mut all = vec![
                ("size = [192, 192]", "size = [3, 2]"),
                ("dtype = \"f32\"", "dtype = \"u8\""),
            ];
            all.extend_from_slice(edits);
            let spec = spec_with(&all);
            let mut out = vec![0u8; spec.input_values()];
            write_input_u8(&[&crop], &spec, &mut out);
            (spec.input_shape(1), out[..6].to_vec())
        };
        // NCHW: 2 rows of 3; the red plane is the crop row by row.
        assert_eq!(red(&[]), ([1, 3, 2, 3], vec![0, 1, 2, 10, 11, 12]));
        // Transposed: 3 rows (x) of 2 columns (y).
        assert_eq!(
            red(&[("transpose = false", "transpose = true")]),
            ([1, 3, 3, 2], vec![0, 10, 1, 11, 2, 12])
        );
        // NHWC transposed: (row x, column y) pixels, red first.
        let (shape, out) = red(&[
            ("transpose = false", "transpose = true"),
            ("layout = \"NCHW\"", "layout = \"NHWC\""),
        ]);
        assert_eq!(shape, [1, 3, 2, 3]);
        assert_eq!([out[0], out[3]], [0, 10]);
        // Points in [0, 1] of a 256 x 192 input: x by the width, y by the height, z as x.
        let spec = spec_with(&[
            ("size = [192, 192]", "size = [256, 192]"),
            ("count = 468", "count = 1"),
            ("space = \"input_px\"", "space = \"unit\""),
            (
                "name = \"mediapipe468\"",
                "name = \"custom\"\nright_eye = [0]\nleft_eye = [0]",
            ),
        ]);
        let mut p = [0f32; 3];
        points_to_input_px(&[0.5, 0.25, 0.125], &spec, &mut p);
        assert_eq!(p, [128.0, 48.0, 32.0]);
    }

    #[test]
    fn a_half_float_input_is_the_float_input_rounded() {
        let crop = tagged_crop();
        let spec = spec_with(&[
            ("size = [192, 192]", "size = [3, 3]"),
            ("layout = \"NCHW\"", "layout = \"NHWC\""),
            ("dtype = \"f32\"", "dtype = \"f16\""),
            ("mean = [0.0, 0.0, 0.0]", "mean = [127.5, 127.5, 127.5]"),
            ("std = [255.0, 255.0, 255.0]", "std = [127.5, 127.5, 127.5]"),
        ]);
        let (mut wide, mut half) = (vec![0f32; 27], vec![half::f16::ZERO; 27]);
        write_input_f32(&[&crop], &spec, &mut wide);
        write_input_f16(&[&crop], &spec, &mut half);
        for (w, h) in wide.iter().zip(&half) {
            // The nearest half: within half a unit in the last place (2^-11 relative; values
            // below 2^-14 are subnormal, steps of 2^-24).
            let err = (h.to_f32() - w).abs();
            assert!(
                err <= (w.abs() * 2f32.powi(-11)).max(2f32.powi(-25)),
                "{w} -> {h}"
            );
        }
        // Byte 200 at (y=0, x=0) channel 2: (200 − 127.5) / 127.5 = 0.568627…, whose nearest
        // halves are 0.568359375 and 0.5688476…; the second is nearer.
        assert_eq!(half[2].to_f32(), 0.568_847_66);
    }

    #[test]
    fn the_input_bytes_are_each_dtypes_values_little_endian() {
        let crop = tagged_crop();
        let square = ("size = [192, 192]", "size = [3, 3]");
        let f32_spec = spec_with(&[square, ("layout = \"NCHW\"", "layout = \"NHWC\"")]);
        let mut values = vec![0f32; 27];
        write_input_f32(&[&crop, &crop], &f32_spec, &mut values);
        let mut bytes = vec![0u8; 2 * f32_spec.input_bytes()];
        write_input_bytes(&[&crop, &crop], &f32_spec, &mut bytes);
        assert_eq!(bytes.len(), 2 * 27 * 4);
        let want: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(&bytes[..108], &want[..]);
        assert_eq!(&bytes[108..], &want[..], "the second item");
        let f16_spec = spec_with(&[square, ("dtype = \"f32\"", "dtype = \"f16\"")]);
        let mut halves = vec![half::f16::ZERO; 27];
        write_input_f16(&[&crop], &f16_spec, &mut halves);
        let mut bytes = vec![0u8; f16_spec.input_bytes()];
        write_input_bytes(&[&crop], &f16_spec, &mut bytes);
        let want: Vec<u8> = halves.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(bytes, want);
        let u8_spec = spec_with(&[square, ("dtype = \"f32\"", "dtype = \"u8\"")]);
        let mut raw = vec![0u8; 27];
        write_input_u8(&[&crop], &u8_spec, &mut raw);
        let mut bytes = vec![0u8; u8_spec.input_bytes()];
        write_input_bytes(&[&crop], &u8_spec, &mut bytes);
        assert_eq!(bytes, raw);
    }

    #[test]
    fn every_point_convention_decodes_to_input_pixels() {
        // Two points at (48, 96, 24) and (144, 0, -24) of a 192-px input, in each convention.
        let want = [48.0, 96.0, 24.0, 144.0, 0.0, -24.0];
        let count = ("count = 468", "count = 2");
        let scheme = (
            "name = \"mediapipe468\"",
            "name = \"custom\"\nright_eye = [0]\nleft_eye = [1]",
        );
        for (edits, raw, expect) in [
            (vec![], vec![48.0, 96.0, 24.0, 144.0, 0.0, -24.0], want),
            (
                vec![("order = \"interleaved\"", "order = \"planar\"")],
                vec![48.0, 144.0, 96.0, 0.0, 24.0, -24.0],
                want,
            ),
            (
                vec![("space = \"input_px\"", "space = \"unit\"")],
                vec![0.25, 0.5, 0.125, 0.75, 0.0, -0.125],
                want,
            ),
            (
                vec![("space = \"input_px\"", "space = \"signed_unit\"")],
                vec![-0.5, 0.0, 0.25, 0.5, -1.0, -0.25],
                want,
            ),
            (
                vec![
                    ("dims = 3", "dims = 2"),
                    ("order = \"interleaved\"", "order = \"planar\""),
                ],
                vec![48.0, 144.0, 96.0, 0.0],
                [48.0, 96.0, 0.0, 144.0, 0.0, 0.0],
            ),
        ] {
            let mut all = vec![count, scheme];
            all.extend(edits.iter().copied());
            let spec = spec_with(&all);
            let mut out = [0f32; 6];
            points_to_input_px(&raw, &spec, &mut out);
            assert_eq!(out, expect, "{edits:?}");
        }
    }

    #[test]
    fn scores_follow_their_kind_and_column() {
        let spec = ModelSpec::face_landmark_468();
        assert_eq!(face_score(&[0.25], &spec), 0.25);
        let logit = spec_with(&[("kind = \"probability\"", "kind = \"logit\"")]);
        assert!((face_score(&[0.0], &logit) - 0.5).abs() < 1e-6);
        assert!((face_score(&[2.0], &logit) - 0.880_797).abs() < 1e-5);
        let softmax = spec_with(&[
            ("kind = \"probability\"", "kind = \"softmax\""),
            ("index = 0", "index = 1"),
        ]);
        assert!((face_score(&[0.0, 0.0], &softmax) - 0.5).abs() < 1e-6);
        assert!((face_score(&[1000.0, 1001.0], &softmax) - 0.731_058_6).abs() < 1e-5);
        assert!(face_score(&[0.3], &softmax).is_nan(), "a missing column");
        let none = spec_with(&[(
            "[score]\noutput = \"face_score\"   # [N, 1], already a probability\nkind = \"probability\"    # probability | logit | softmax\nindex = 0\n",
            "",
        )]);
        assert_eq!(face_score(&[], &none), -1.0);
    }

    #[test]
    fn decode_maps_and_rejects_nan() {
        let crop = FaceCrop::from(CropRect {
            x0: 100,
            y0: 50,
            side: 96,
        });
        let mut pts = vec![0.0, 0.0, 0.0, 192.0, 96.0, 10.0];
        let size = SampleSize::square(192);
        assert!(decode_to_frame(&mut pts, &crop, size));
        assert_eq!(pts, vec![100.0, 50.0, 0.0, 196.0, 98.0, 5.0]);
        // 256 x 192: x back by side / 256, y by side / 192, z on x's scale.
        let mut wide = vec![256.0, 96.0, 8.0];
        let size_wide = SampleSize {
            width: 256,
            height: 192,
        };
        assert!(decode_to_frame(&mut wide, &crop, size_wide));
        assert_eq!(wide, vec![196.0, 98.0, 3.0]);
        let mut bad = vec![1.0, f32::NAN, 0.0];
        assert!(!decode_to_frame(&mut bad, &crop, size));
        let mut inf = vec![f32::INFINITY, 1.0, 0.0];
        assert!(!decode_to_frame(&mut inf, &crop, size));
    }
}
