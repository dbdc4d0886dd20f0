//! The model descriptor: what a backend's network takes and gives, and how its outputs become
//! points in the caller's frame.

use crate::descriptor::{
    Channels, DType, Descriptor, Layout, Order, ScoreKind, Space, BUNDLED_DESCRIPTOR,
};
use crate::error::{Error, ErrorKind, Result};
use crate::image::FaceCrop;

/// The bundled default: MediaPipe Face Mesh landmarks, converted to ONNX (see `models/README.md`).
pub const DEFAULT_MODEL_ONNX: &[u8] = include_bytes!("../models/face_landmark_468.onnx");

/// How to feed a landmark network and read it back. Everything the pipeline needs to know about a
/// model lives here, so a second model is a second descriptor, not a code change.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Name of the float32 input `[N, 3, size, size]`, RGB, value = byte × `input_scale`.
    pub input_name: String,
    /// Side of the square input in pixels.
    pub input_size: u32,
    pub input_scale: f32,
    /// Name of the landmark output `[N, num_points, 3]`, in pixels of the input.
    pub landmarks_name: String,
    /// Name of the face presence output `[N, 1]`, already a probability.
    pub score_name: String,
    pub num_points: u32,
    /// Crop side as a multiple of the detector box's longer side.
    pub crop_scale: f64,
}

impl ModelSpec {
    pub fn face_landmark_468() -> Self {
        ModelSpec {
            input_name: "input".into(),
            input_size: 192,
            input_scale: 1.0 / 255.0,
            landmarks_name: "landmarks".into(),
            score_name: "face_score".into(),
            num_points: 468,
            crop_scale: 1.5,
        }
    }

    /// The bundled model's spec, read from its descriptor (`models/face_landmark_468.lmbatch.toml`,
    /// compiled in): the path every described model will take.
    pub fn bundled() -> Result<Self> {
        Self::from_descriptor(&Descriptor::parse(
            BUNDLED_DESCRIPTOR,
            "models/face_landmark_468.lmbatch.toml (bundled)",
        )?)
    }

    /// The spec of a described model, for the conventions the engines run so far: a square
    /// float32 NCHW RGB input scaled by one factor, interleaved 3-D points in input pixels and a
    /// probability in column 0. Any other convention is MODEL_ERROR naming the key.
    pub fn from_descriptor(d: &Descriptor) -> Result<Self> {
        let unsupported = |key: &str, value: String| {
            Err(Error::new(
                ErrorKind::ModelError,
                format!("descriptor: {key} = {value} is not supported by this build yet"),
            ))
        };
        let i = &d.input;
        if i.size[0] != i.size[1] {
            return unsupported("input.size", format!("{:?}", i.size));
        }
        if i.layout != Layout::Nchw {
            return unsupported("input.layout", format!("{:?}", i.layout));
        }
        if i.dtype != DType::F32 {
            return unsupported("input.dtype", format!("{:?}", i.dtype));
        }
        if i.channels != Channels::Rgb {
            return unsupported("input.channels", format!("{:?}", i.channels));
        }
        if i.transpose {
            return unsupported("input.transpose", "true".into());
        }
        if i.mean.iter().any(|&m| m != 0.0) || i.std.iter().any(|&s| s != i.std[0]) {
            return unsupported("input.mean/std", format!("{:?}/{:?}", i.mean, i.std));
        }
        let p = &d.points;
        if p.dims != 3 || p.order != Order::Interleaved || p.space != Space::InputPx {
            return unsupported(
                "points.dims/order/space",
                format!("{}/{:?}/{:?}", p.dims, p.order, p.space),
            );
        }
        let Some(score) = d.score.as_ref() else {
            return unsupported("score", "none".into());
        };
        if score.kind != ScoreKind::Probability || score.index != 0 {
            return unsupported(
                "score.kind/index",
                format!("{:?}/{}", score.kind, score.index),
            );
        }
        Ok(ModelSpec {
            input_name: i.name.clone(),
            input_size: i.size[0],
            input_scale: 1.0 / i.std[0],
            landmarks_name: p.output.clone(),
            score_name: score.output.clone(),
            num_points: p.count,
            crop_scale: d.crop.scale,
        })
    }

    /// Bytes of one staged crop: interleaved RGB at the input size.
    pub fn crop_bytes(&self) -> usize {
        self.input_size as usize * self.input_size as usize * 3
    }

    /// Floats of one item's landmark output.
    pub fn point_floats(&self) -> usize {
        self.num_points as usize * 3
    }
}

/// Converts interleaved RGB bytes into the model's planar float input (NCHW, value × scale).
pub fn to_planar(crops: &[&[u8]], side: usize, scale: f32, out: &mut Vec<f32>) {
    out.clear();
    out.resize(crops.len() * 3 * side * side, 0.0);
    to_planar_into(crops, side, scale, out);
}

/// [`to_planar`] into a buffer the caller owns (pinned host memory for a GPU), holding at least
/// `crops.len() × 3 × side²` floats.
pub fn to_planar_into(crops: &[&[u8]], side: usize, scale: f32, out: &mut [f32]) {
    let plane = side * side;
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

/// Maps one item's landmarks from input pixels to frame pixels in place. Returns false (and leaves
/// the values unusable) when the network produced a non-finite value: such points are never
/// handed out as a result.
pub fn decode_to_frame(points: &mut [f32], crop: &FaceCrop, input_size: u32) -> bool {
    for p in points.chunks_exact_mut(3) {
        let mapped = crop.to_frame(input_size, p[0], p[1], p[2]);
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
    fn conventions_not_run_yet_are_refused_naming_the_key() {
        for (from, to, key) in [
            ("layout = \"NCHW\"", "layout = \"NHWC\"", "input.layout"),
            ("dtype = \"f32\"", "dtype = \"u8\"", "input.dtype"),
            (
                "space = \"input_px\"",
                "space = \"unit\"",
                "points.dims/order/space",
            ),
            (
                "kind = \"probability\"",
                "kind = \"logit\"",
                "score.kind/index",
            ),
        ] {
            let text = BUNDLED_DESCRIPTOR.replacen(from, to, 1);
            let d = Descriptor::parse(&text, "t").expect("a valid descriptor");
            let e = ModelSpec::from_descriptor(&d).expect_err("not run yet");
            assert_eq!(e.kind(), ErrorKind::ModelError);
            assert!(e.message().contains(key), "{}", e.message());
        }
    }

    #[test]
    fn decode_maps_and_rejects_nan() {
        let crop = FaceCrop::from(CropRect {
            x0: 100,
            y0: 50,
            side: 96,
        });
        let mut pts = vec![0.0, 0.0, 0.0, 192.0, 96.0, 10.0];
        assert!(decode_to_frame(&mut pts, &crop, 192));
        assert_eq!(pts, vec![100.0, 50.0, 0.0, 196.0, 98.0, 5.0]);
        let mut bad = vec![1.0, f32::NAN, 0.0];
        assert!(!decode_to_frame(&mut bad, &crop, 192));
        let mut inf = vec![f32::INFINITY, 1.0, 0.0];
        assert!(!decode_to_frame(&mut inf, &crop, 192));
    }
}
