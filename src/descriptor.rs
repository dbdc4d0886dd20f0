//! The model descriptor file (DESIGN "Your model"): a TOML text that says how to feed a landmark
//! network and how to read it back, so an operator can swap models without a code change.
//!
//! Parsing is strict: an unknown key, a missing key, a value of the wrong type or outside its set
//! is an error that names the key and the line. Checks that need the model itself (tensor names,
//! shapes) come later, against the loaded network.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};

/// The bundled model's descriptor, compiled in.
pub const BUNDLED_DESCRIPTOR: &str = include_str!("../models/face_landmark_468.lmbatch.toml");

/// A parsed and checked descriptor.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Descriptor {
    pub input: Input,
    pub crop: Crop,
    pub points: Points,
    /// `None`: the model gives no score; `face_score` is written as -1.
    #[serde(default)]
    pub score: Option<Score>,
    pub scheme: Scheme,
    /// A golden case lm_create verifies when self_check is on.
    #[serde(default)]
    pub check: Option<GoldenCheck>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Tensor name.
    pub name: String,
    /// Width, height of the network's input in pixels.
    pub size: [u32; 2],
    pub layout: Layout,
    pub dtype: DType,
    pub channels: Channels,
    /// value = (byte − mean[c]) / std[c], in the order of `channels`; ignored for u8.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// The network takes the crop transposed (rows = x), as MTCNN's O-Net does.
    pub transpose: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum Layout {
    #[serde(rename = "NCHW")]
    Nchw,
    #[serde(rename = "NHWC")]
    Nhwc,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F16,
    /// Bytes as they are; mean and std are ignored.
    U8,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum Channels {
    #[serde(rename = "RGB")]
    Rgb,
    #[serde(rename = "BGR")]
    Bgr,
    #[serde(rename = "GRAY")]
    Gray,
}

impl Channels {
    pub fn count(self) -> usize {
        match self {
            Channels::Rgb | Channels::Bgr => 3,
            Channels::Gray => 1,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    /// Side of the square crop as a multiple of the detector box's longer side.
    pub scale: f64,
    /// Follow the face's roll (eyes or roll); false: always upright.
    pub rotate: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Points {
    /// Tensor name.
    pub output: String,
    pub count: u32,
    /// 2: z is written as 0.
    pub dims: u32,
    pub order: Order,
    pub space: Space,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// x0 y0 [z0] x1 …
    Interleaved,
    /// x0 x1 … y0 y1 … [z0 …]
    Planar,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Space {
    /// Pixels of the network input.
    InputPx,
    /// [0, 1] of the crop.
    Unit,
    /// [-1, 1] of the crop.
    SignedUnit,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Score {
    /// Tensor name.
    pub output: String,
    pub kind: ScoreKind,
    /// The column to read, after `kind`.
    pub index: u32,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScoreKind {
    /// As given.
    Probability,
    /// Sigmoid applied.
    Logit,
    /// Softmax over the row applied.
    Softmax,
}

/// Which points are which: for roll, tracking, the chip and quality.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scheme {
    pub name: SchemeName,
    // A custom map; the named schemes take none of these.
    #[serde(default)]
    pub right_eye: Option<Vec<u32>>,
    #[serde(default)]
    pub left_eye: Option<Vec<u32>>,
    #[serde(default)]
    pub nose_tip: Option<u32>,
    #[serde(default)]
    pub mouth_right: Option<u32>,
    #[serde(default)]
    pub mouth_left: Option<u32>,
    #[serde(default)]
    pub right_eyelids: Option<Vec<u32>>,
    #[serde(default)]
    pub left_eyelids: Option<Vec<u32>>,
    #[serde(default)]
    pub lips_inner: Option<Vec<u32>>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SchemeName {
    Mediapipe468,
    Mediapipe478,
    FivePoint,
    Custom,
}

/// A golden case: an image, a box, the points the model must give, and how close.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GoldenCheck {
    /// A PNG, relative to the descriptor's folder.
    pub image: String,
    pub r#box: [f32; 4],
    /// (x, y) per point in frame pixels; as many as `points.count`.
    pub expect: Vec<[f32; 2]>,
    pub tolerance_px: f32,
}

impl Descriptor {
    /// Parses and checks a descriptor's text; `origin` names it in messages (a path, "the
    /// bundled descriptor", "metadata_props[lmbatch]").
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let d: Descriptor = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let line = line_of(text, span.start);
                    match key_on_line(text, line) {
                        Some(key) => format!(" (line {line}, {key})"),
                        None => format!(" (line {line})"),
                    }
                })
                .unwrap_or_default();
            model_error(format!(
                "descriptor {origin}{at}: {}",
                e.message().trim_end()
            ))
        })?;
        d.check_values()
            .map_err(|why| model_error(format!("descriptor {origin}: {why}")))?;
        Ok(d)
    }

    /// The checks no type can express; each message names the key.
    fn check_values(&self) -> std::result::Result<(), String> {
        let i = &self.input;
        if i.name.is_empty() {
            return Err("input.name is empty".into());
        }
        if i.size.iter().any(|&s| s == 0 || s > 4096) {
            return Err(format!("input.size {:?} is outside 1..=4096", i.size));
        }
        let channels = i.channels.count();
        for (key, values) in [("input.mean", &i.mean), ("input.std", &i.std)] {
            if values.len() != channels {
                return Err(format!(
                    "{key} has {} values, {:?} needs {channels}",
                    values.len(),
                    i.channels
                ));
            }
            if values.iter().any(|v| !v.is_finite()) {
                return Err(format!("{key} holds a value that is not finite"));
            }
        }
        if i.dtype != DType::U8 && i.std.contains(&0.0) {
            return Err("input.std holds a zero".into());
        }
        if !(self.crop.scale.is_finite() && self.crop.scale > 0.0 && self.crop.scale <= 16.0) {
            return Err(format!("crop.scale {} is outside (0, 16]", self.crop.scale));
        }
        let p = &self.points;
        if p.output.is_empty() {
            return Err("points.output is empty".into());
        }
        if p.count == 0 || p.count > 100_000 {
            return Err(format!("points.count {} is outside 1..=100000", p.count));
        }
        if !(p.dims == 2 || p.dims == 3) {
            return Err(format!("points.dims {} is neither 2 nor 3", p.dims));
        }
        if let Some(s) = &self.score {
            if s.output.is_empty() {
                return Err("score.output is empty".into());
            }
        }
        self.check_scheme()?;
        if let Some(c) = &self.check {
            if c.expect.len() != p.count as usize {
                return Err(format!(
                    "check.expect has {} points, points.count is {}",
                    c.expect.len(),
                    p.count
                ));
            }
            if !(c.tolerance_px.is_finite() && c.tolerance_px > 0.0) {
                return Err(format!("check.tolerance_px {} is not > 0", c.tolerance_px));
            }
        }
        Ok(())
    }

    fn check_scheme(&self) -> std::result::Result<(), String> {
        let s = &self.scheme;
        let custom_keys = [
            ("right_eye", s.right_eye.is_some()),
            ("left_eye", s.left_eye.is_some()),
            ("nose_tip", s.nose_tip.is_some()),
            ("mouth_right", s.mouth_right.is_some()),
            ("mouth_left", s.mouth_left.is_some()),
            ("right_eyelids", s.right_eyelids.is_some()),
            ("left_eyelids", s.left_eyelids.is_some()),
            ("lips_inner", s.lips_inner.is_some()),
        ];
        let count = self.points.count;
        let needed = match s.name {
            SchemeName::Mediapipe468 => Some(468),
            SchemeName::Mediapipe478 => Some(478),
            SchemeName::FivePoint => Some(5),
            SchemeName::Custom => None,
        };
        if let Some(needed) = needed {
            if let Some((key, _)) = custom_keys.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "scheme.{key} is for name = \"custom\" only, not {:?}",
                    s.name
                ));
            }
            // A scheme names points by index: the model must give at least that many.
            if count < needed {
                return Err(format!(
                    "scheme.name {:?} needs {needed} points, points.count is {count}",
                    s.name
                ));
            }
            return Ok(());
        }
        // Custom: the eyes are required (roll, tracking, the chip); the rest is optional.
        for key in ["right_eye", "left_eye"] {
            let list = if key == "right_eye" {
                &s.right_eye
            } else {
                &s.left_eye
            };
            match list {
                None => return Err(format!("scheme.{key} is missing (name = \"custom\")")),
                Some(v) if v.is_empty() => return Err(format!("scheme.{key} is empty")),
                _ => {}
            }
        }
        let lists = [
            ("right_eye", s.right_eye.as_deref()),
            ("left_eye", s.left_eye.as_deref()),
            ("right_eyelids", s.right_eyelids.as_deref()),
            ("left_eyelids", s.left_eyelids.as_deref()),
            ("lips_inner", s.lips_inner.as_deref()),
        ];
        for (key, list) in lists {
            if let Some(bad) = list.unwrap_or_default().iter().find(|&&i| i >= count) {
                return Err(format!(
                    "scheme.{key} names point {bad}, points.count is {count}"
                ));
            }
        }
        for (key, index) in [
            ("nose_tip", s.nose_tip),
            ("mouth_right", s.mouth_right),
            ("mouth_left", s.mouth_left),
        ] {
            if let Some(bad) = index.filter(|&i| i >= count) {
                return Err(format!(
                    "scheme.{key} names point {bad}, points.count is {count}"
                ));
            }
        }
        Ok(())
    }
}

/// Finds a model's descriptor in DESIGN's order: `desc_path` (lm_config.model_desc_path); else
/// `<model stem>.lmbatch.toml` beside the model; else the ONNX `metadata_props` entry `lmbatch`;
/// else, when the model's input and output names are the bundled model's, the bundled descriptor.
/// `model` is `None` for the bundled model. The tensor names it gives must be the model's:
/// MODEL_ERROR naming the key otherwise.
pub fn resolve(model: Option<(&Path, &[u8])>, desc_path: Option<&Path>) -> Result<Found> {
    let read = |path: &Path| -> Result<Found> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| model_error(format!("cannot read descriptor {}: {e}", path.display())))?;
        let origin = path.display().to_string();
        Ok(Found {
            descriptor: Descriptor::parse(&text, &origin)?,
            origin,
            folder: Some(folder_of(path)),
        })
    };
    let Some((model_path, bytes)) = model else {
        return match desc_path {
            Some(path) => read(path),
            None => Ok(Found {
                descriptor: Descriptor::parse(BUNDLED_DESCRIPTOR, "(bundled)")?,
                origin: "the bundled descriptor".into(),
                folder: None,
            }),
        };
    };
    let io = crate::onnx_meta::read(bytes).map_err(|why| {
        model_error(format!(
            "{} is not a readable ONNX model: {why}",
            model_path.display()
        ))
    })?;
    let sidecar = model_path.with_extension("lmbatch.toml");
    let found = if let Some(path) = desc_path {
        read(path)?
    } else if sidecar.is_file() {
        read(&sidecar)?
    } else if let Some(text) = io.metadata.get("lmbatch") {
        let origin = format!("{} metadata_props[lmbatch]", model_path.display());
        Found {
            descriptor: Descriptor::parse(text, &origin)?,
            origin,
            // A descriptor inside the model: its check.image lies beside the model.
            folder: Some(folder_of(model_path)),
        }
    } else {
        let bundled = Descriptor::parse(BUNDLED_DESCRIPTOR, "(bundled)")?;
        if !io.names_match(&bundled) {
            return Err(model_error(format!(
                "no descriptor for {}: set lm_config.model_desc_path, or put {} beside it, or a \
                 metadata_props entry \"lmbatch\" in it (its inputs {:?} and outputs {:?} are not \
                 the bundled model's, so its descriptor does not apply)",
                model_path.display(),
                sidecar.display(),
                io.inputs,
                io.outputs
            )));
        }
        Found {
            descriptor: bundled,
            origin: "the bundled descriptor (the model's names match)".into(),
            folder: None,
        }
    };
    io.check_names(&found.descriptor)
        .map_err(|why| model_error(format!("descriptor {}: {why}", found.origin)))?;
    Ok(found)
}

/// A descriptor found by [`resolve`].
#[derive(Clone, Debug)]
pub struct Found {
    pub descriptor: Descriptor,
    /// Where it came from, for messages: a path, or the model's metadata_props, or bundled.
    pub origin: String,
    /// The folder a relative `check.image` is taken from: the descriptor file's (the model's for
    /// metadata_props); `None` for the bundled descriptor.
    pub folder: Option<std::path::PathBuf>,
}

/// The folder of a file path ("." for a bare file name).
fn folder_of(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

fn model_error(message: String) -> Error {
    Error::new(ErrorKind::ModelError, message)
}

/// The dotted key set on 1-based `line` of a TOML text ("input.size"), with the table from the
/// nearest header above it; `None` for a line that sets no key.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let own = lines.get(line.checked_sub(1)?)?;
    let key = own.split_once('=')?.0.trim();
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    let table = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| {
            l.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
        });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    })
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    1 + text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> Descriptor {
        Descriptor::parse(BUNDLED_DESCRIPTOR, "the bundled descriptor").expect("it parses")
    }

    /// The bundled text with `from` replaced by `to` (which must occur).
    fn edited(from: &str, to: &str) -> String {
        assert!(BUNDLED_DESCRIPTOR.contains(from), "{from}");
        BUNDLED_DESCRIPTOR.replacen(from, to, 1)
    }

    fn refusal(text: &str) -> String {
        let e = Descriptor::parse(text, "test.toml").expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::ModelError);
        e.message().to_string()
    }

    #[test]
    fn the_bundled_descriptor_says_what_the_default_model_is() {
        let d = bundled();
        assert_eq!(d.input.name, "input");
        assert_eq!(d.input.size, [192, 192]);
        assert_eq!(
            (d.input.layout, d.input.dtype, d.input.channels),
            (Layout::Nchw, DType::F32, Channels::Rgb)
        );
        assert_eq!(d.input.mean, vec![0.0; 3]);
        assert_eq!(d.input.std, vec![255.0; 3]);
        assert!(!d.input.transpose);
        assert_eq!(
            d.crop,
            Crop {
                scale: 1.5,
                rotate: true
            }
        );
        assert_eq!(
            (d.points.output.as_str(), d.points.count, d.points.dims),
            ("landmarks", 468, 3)
        );
        assert_eq!(
            (d.points.order, d.points.space),
            (Order::Interleaved, Space::InputPx)
        );
        let score = d.score.expect("a score");
        assert_eq!(
            (score.output.as_str(), score.kind, score.index),
            ("face_score", ScoreKind::Probability, 0)
        );
        assert_eq!(d.scheme.name, SchemeName::Mediapipe468);
        assert!(d.check.is_none());
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_name_and_line() {
        let why = refusal(&edited(
            "transpose = false",
            "transpose = false\nmeans = [1.0]",
        ));
        assert!(why.contains("means") && why.contains("line "), "{why}");
        let why = refusal(&format!("{BUNDLED_DESCRIPTOR}\n[extra]\nx = 1\n"));
        assert!(why.contains("extra"), "{why}");
    }

    #[test]
    fn a_missing_key_is_refused_with_its_name() {
        let why = refusal(&edited("dtype = \"f32\"", ""));
        assert!(why.contains("dtype"), "{why}");
        let why = refusal(&edited("count = 468", ""));
        assert!(why.contains("count"), "{why}");
    }

    #[test]
    fn values_outside_their_sets_are_refused_naming_the_key() {
        for (from, to, key) in [
            ("layout = \"NCHW\"", "layout = \"CHW\"", "CHW"),
            ("dtype = \"f32\"", "dtype = \"f64\"", "f64"),
            ("channels = \"RGB\"", "channels = \"RGBA\"", "RGBA"),
            ("order = \"interleaved\"", "order = \"rows\"", "rows"),
            ("space = \"input_px\"", "space = \"pixels\"", "pixels"),
            ("kind = \"probability\"", "kind = \"odds\"", "odds"),
            ("name = \"mediapipe468\"", "name = \"dlib68\"", "dlib68"),
            ("size = [192, 192]", "size = [192]", "size"),
            ("size = [192, 192]", "size = [0, 192]", "input.size"),
            (
                "std = [255.0, 255.0, 255.0]",
                "std = [255.0, 255.0]",
                "input.std",
            ),
            (
                "std = [255.0, 255.0, 255.0]",
                "std = [255.0, 0.0, 255.0]",
                "input.std",
            ),
            ("scale = 1.5", "scale = -1.5", "crop.scale"),
            ("dims = 3", "dims = 4", "points.dims"),
            ("count = 468", "count = 400", "scheme.name"),
            ("transpose = false", "transpose = \"no\"", "transpose"),
        ] {
            let why = refusal(&edited(from, to));
            assert!(why.contains(key), "{to}: {why}");
        }
    }

    #[test]
    fn gray_takes_one_mean_and_one_std() {
        let text = edited("channels = \"RGB\"", "channels = \"GRAY\"")
            .replacen("mean = [0.0, 0.0, 0.0]", "mean = [127.5]", 1)
            .replacen("std = [255.0, 255.0, 255.0]", "std = [127.5]", 1);
        let d = Descriptor::parse(&text, "test.toml").expect("parses");
        assert_eq!(
            (d.input.mean.clone(), d.input.std.clone()),
            (vec![127.5], vec![127.5])
        );
    }

    /// A five-point model as a user would describe it: no score, 2-D points in [0, 1].
    const FIVE_POINT: &str = r#"
[input]
name = "data"
size = [48, 48]
layout = "NCHW"
dtype = "f32"
channels = "BGR"
mean = [127.5, 127.5, 127.5]
std = [128.0, 128.0, 128.0]
transpose = true
[crop]
scale = 1.0
rotate = false
[points]
output = "landmarks"
count = 5
dims = 2
order = "planar"
space = "unit"
[scheme]
name = "five_point"
"#;

    #[test]
    fn a_five_point_model_without_a_score_parses() {
        let d = Descriptor::parse(FIVE_POINT, "onet.lmbatch.toml").expect("parses");
        assert!(d.score.is_none());
        assert_eq!(
            (d.points.dims, d.points.order, d.points.space),
            (2, Order::Planar, Space::Unit)
        );
        assert!(d.input.transpose && d.input.channels == Channels::Bgr);
        // A named scheme takes no custom keys.
        let why = refusal(&FIVE_POINT.replace(
            "name = \"five_point\"",
            "name = \"five_point\"\nnose_tip = 2",
        ));
        assert!(why.contains("scheme.nose_tip"), "{why}");
    }

    #[test]
    fn a_custom_scheme_needs_its_eyes_and_indices_inside_the_points() {
        let custom = FIVE_POINT.replace("name = \"five_point\"", "name = \"custom\"");
        let why = refusal(&custom);
        assert!(why.contains("scheme.right_eye"), "{why}");
        let ok = custom.replace(
            "name = \"custom\"",
            "name = \"custom\"\nright_eye = [0]\nleft_eye = [1]\nnose_tip = 2",
        );
        let d = Descriptor::parse(&ok, "t").expect("parses");
        assert_eq!(d.scheme.right_eye, Some(vec![0]));
        let why = refusal(&ok.replace("nose_tip = 2", "nose_tip = 5"));
        assert!(why.contains("scheme.nose_tip names point 5"), "{why}");
        let why = refusal(&ok.replace("left_eye = [1]", "left_eye = [1, 9]"));
        assert!(why.contains("scheme.left_eye names point 9"), "{why}");
    }

    #[test]
    fn a_golden_check_must_cover_every_point() {
        let with_check = format!(
            "{FIVE_POINT}[check]\nimage = \"face.png\"\nbox = [10.0, 10.0, 60.0, 60.0]\n\
             expect = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]\n\
             tolerance_px = 1.5\n"
        );
        let d = Descriptor::parse(&with_check, "t").expect("parses");
        assert_eq!(d.check.expect("a check").expect.len(), 5);
        let why = refusal(&with_check.replace(", [9.0, 10.0]]", "]"));
        assert!(why.contains("check.expect has 4 points"), "{why}");
    }

    #[test]
    fn the_five_point_example_of_docs_models_md_parses() {
        let doc = include_str!("../docs/models.md");
        let start = doc.find("```toml\n").expect("a TOML block") + "```toml\n".len();
        let end = start + doc[start..].find("```").expect("its end");
        let d = Descriptor::parse(&doc[start..end], "docs/models.md").expect("it parses");
        assert_eq!((d.points.count, d.scheme.name), (5, SchemeName::FivePoint));
        assert_eq!(d.score.expect("a score").index, 1);
        assert_eq!(d.check.expect("a check").expect.len(), 5);
    }

    #[test]
    fn a_wrong_type_names_the_dotted_key() {
        let why = refusal(&edited("size = [192, 192]", "size = [192]"));
        assert!(why.contains("input.size"), "{why}");
        let why = refusal(&edited("count = 468", "count = \"468\""));
        assert!(why.contains("points.count"), "{why}");
        assert_eq!(key_on_line("[a]\nb = 1 # c\n", 2), Some("a.b".into()));
        assert_eq!(key_on_line("[a]\n# x = 1\n", 2), None);
    }

    #[test]
    fn lines_are_counted_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}
