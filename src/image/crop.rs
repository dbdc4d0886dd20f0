//! The model's square crop: where it lies in the frame, its rotation, and how points map back.

use crate::error::{Error, Result};

/// Largest square crop side accepted, in frame pixels.
pub const MAX_CROP_SIDE: u32 = 65536;

/// A detector box in continuous frame coordinates ((0,0) is the top-left corner of the first pixel).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

/// The model's square crop on whole pixels: frame pixels `[x0, x0+side) × [y0, y0+side)`; it may
/// extend past the frame, where the nearest edge pixel is replicated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropRect {
    pub x0: i64,
    pub y0: i64,
    pub side: u32,
}

impl CropRect {
    /// The square crop for a box (DESIGN, "crop"): `side = floor(scale × max(w, h) + 0.5)` centred on
    /// the box, corners rounded to whole pixels. Rejects boxes that are not finite, are inverted or
    /// empty, do not overlap the frame (touching an edge is no overlap), or give an absurd crop.
    pub fn for_box(
        face: &FaceBox,
        frame_width: u32,
        frame_height: u32,
        scale: f64,
    ) -> Result<Self> {
        let [x1, y1, x2, y2] = [face.x1, face.y1, face.x2, face.y2].map(f64::from);
        if ![x1, y1, x2, y2].iter().all(|v| v.is_finite()) {
            return Err(Error::invalid(format!(
                "box {face:?} has a non-finite coordinate"
            )));
        }
        if x2 <= x1 || y2 <= y1 {
            return Err(Error::invalid(format!("box {face:?} is empty or inverted")));
        }
        let (w, h) = (f64::from(frame_width), f64::from(frame_height));
        if x1 >= w || y1 >= h || x2 <= 0.0 || y2 <= 0.0 {
            return Err(Error::invalid(format!(
                "box {face:?} does not overlap the {frame_width}x{frame_height} frame"
            )));
        }
        let side_f = scale * (x2 - x1).max(y2 - y1);
        let side = (side_f + 0.5).floor();
        if side < 1.0 {
            return Err(Error::invalid(format!(
                "box {face:?} is smaller than a pixel"
            )));
        }
        if side > f64::from(MAX_CROP_SIDE) {
            return Err(Error::invalid(format!(
                "box {face:?} gives a crop of {side} px, more than {MAX_CROP_SIDE}"
            )));
        }
        let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        Ok(CropRect {
            x0: (cx - side_f / 2.0 + 0.5).floor() as i64,
            y0: (cy - side_f / 2.0 + 0.5).floor() as i64,
            side: side as u32,
        })
    }

    /// The same square in the memory of a `width × height` frame mirrored by `mirror`.
    pub fn mirrored(&self, width: u32, height: u32, mirror: Mirror) -> CropRect {
        let side = i64::from(self.side);
        let flip = |start: i64, len: u32, on: bool| match on {
            true => i64::from(len) - start - side,
            false => start,
        };
        CropRect {
            x0: flip(self.x0, width, mirror.columns),
            y0: flip(self.y0, height, mirror.rows),
            side: self.side,
        }
    }

    /// Maps a point from the model input (`size`: the square sampled at width × height) back to
    /// frame pixels; z is on x's scale.
    pub fn to_frame(&self, size: SampleSize, x: f32, y: f32, z: f32) -> [f32; 3] {
        let (kx, ky) = size.steps(self.side);
        [
            (self.x0 as f64 + f64::from(x) * kx) as f32,
            (self.y0 as f64 + f64::from(y) * ky) as f32,
            (f64::from(z) * kx) as f32,
        ]
    }
}

/// How a packed frame's memory holds the image it shows: `rows`, bottom-up (a negative row
/// stride: a bottom-up bitmap, numpy's `frame[::-1]`); `columns`, each row's pixels right to left
/// (`frame[:, ::-1]`). The crop of a mirrored frame samples its memory at the mirrored square and
/// mirrors its own output back, so nothing is copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mirror {
    pub rows: bool,
    pub columns: bool,
}

impl Mirror {
    pub const NONE: Mirror = Mirror {
        rows: false,
        columns: false,
    };

    pub fn is_none(self) -> bool {
        self == Mirror::NONE
    }

    /// Mirrors a tightly packed image of `size` pixels of `pixel` bytes in place.
    pub fn apply(self, image: &mut [u8], size: SampleSize, pixel: usize) {
        let row_bytes = size.width * pixel;
        let image = &mut image[..size.height * row_bytes];
        if self.rows {
            let (mut top, mut bottom) = (0, size.height.saturating_sub(1));
            while top < bottom {
                let (upper, lower) = image.split_at_mut(bottom * row_bytes);
                upper[top * row_bytes..][..row_bytes].swap_with_slice(&mut lower[..row_bytes]);
                (top, bottom) = (top + 1, bottom - 1);
            }
        }
        if self.columns {
            for row in image.chunks_exact_mut(row_bytes) {
                // Reversing the bytes reverses the pixels and each pixel's bytes; reversing
                // each pixel again restores its byte order.
                row.reverse();
                for px in row.chunks_exact_mut(pixel) {
                    px.reverse();
                }
            }
        }
    }
}

/// The pixels the square crop is sampled at: the model input's width and height. A non-square
/// size keeps the square crop and samples it at width × height (DESIGN, "Your model").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleSize {
    pub width: usize,
    pub height: usize,
}

impl SampleSize {
    pub fn square(side: usize) -> Self {
        SampleSize {
            width: side,
            height: side,
        }
    }

    pub fn pixels(&self) -> usize {
        self.width * self.height
    }

    /// Crop pixels per sample along x and along y, for a crop of `side`.
    fn steps(&self, side: u32) -> (f64, f64) {
        let side = f64::from(side);
        (side / self.width as f64, side / self.height as f64)
    }
}

/// A face as a detector gives it: the box, and optionally the eyes or the roll that orient the
/// crop (the fields of `lm_face`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Face {
    pub bbox: FaceBox,
    /// [`Face::EYES`] and/or [`Face::ROLL`]; 0 is the upright crop of `lm_enqueue`.
    pub flags: u32,
    /// The SUBJECT's right eye (image left on an upright frontal face), frame pixels.
    pub right_eye: [f32; 2],
    pub left_eye: [f32; 2],
    /// Radians: the angle of the line right eye -> left eye, `atan2(dy, dx)`, y down.
    pub roll: f32,
}

/// cbindgen:ignore
impl Face {
    /// `right_eye` and `left_eye` are valid; they win over `roll`.
    pub const EYES: u32 = 1;
    /// `roll` is valid.
    pub const ROLL: u32 = 2;

    pub fn upright(bbox: FaceBox) -> Face {
        Face {
            bbox,
            flags: 0,
            right_eye: [0.0; 2],
            left_eye: [0.0; 2],
            roll: 0.0,
        }
    }

    pub fn with_eyes(bbox: FaceBox, right_eye: [f32; 2], left_eye: [f32; 2]) -> Face {
        Face {
            flags: Face::EYES,
            right_eye,
            left_eye,
            ..Face::upright(bbox)
        }
    }

    pub fn with_roll(bbox: FaceBox, roll: f32) -> Face {
        Face {
            flags: Face::ROLL,
            roll,
            ..Face::upright(bbox)
        }
    }

    /// The crop's angle θ (radians): from the eyes when given, else the roll, else 0. Unknown
    /// flags and non-finite eyes or roll are errors.
    pub fn angle(&self) -> Result<f64> {
        if self.flags & !(Face::EYES | Face::ROLL) != 0 {
            return Err(Error::invalid(format!(
                "face flags {:#x} hold unknown bits (LM_FACE_EYES 1, LM_FACE_ROLL 2)",
                self.flags
            )));
        }
        if self.flags & Face::EYES != 0 {
            let [rx, ry] = self.right_eye;
            let [lx, ly] = self.left_eye;
            if ![rx, ry, lx, ly].iter().all(|v| v.is_finite()) {
                return Err(Error::invalid(format!(
                    "eyes {:?} / {:?} have a non-finite coordinate",
                    self.right_eye, self.left_eye
                )));
            }
            let [rx, ry] = self.right_eye.map(f64::from);
            let [lx, ly] = self.left_eye.map(f64::from);
            return Ok((ly - ry).atan2(lx - rx));
        }
        if self.flags & Face::ROLL != 0 {
            if !self.roll.is_finite() {
                return Err(Error::invalid(format!("roll {} is not finite", self.roll)));
            }
            return Ok(f64::from(self.roll));
        }
        Ok(0.0)
    }
}

/// The crop of one face: the square of the crop rule, turned by `theta` about its centre (the
/// centre of the snapped square). θ = 0 is the upright crop exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceCrop {
    pub rect: CropRect,
    /// Radians, as resolved from the face (eyes, roll or 0).
    pub theta: f64,
    cos: f64,
    sin: f64,
}

impl From<CropRect> for FaceCrop {
    fn from(rect: CropRect) -> Self {
        FaceCrop::rotated(rect, 0.0)
    }
}

impl FaceCrop {
    /// The crop of `face` in a `frame_width × frame_height` frame (the box rules of
    /// [`CropRect::for_box`], the angle of [`Face::angle`]).
    pub fn for_face(face: &Face, frame_width: u32, frame_height: u32, scale: f64) -> Result<Self> {
        let theta = face.angle()?;
        let rect = CropRect::for_box(&face.bbox, frame_width, frame_height, scale)?;
        Ok(FaceCrop::rotated(rect, theta))
    }

    pub fn rotated(rect: CropRect, theta: f64) -> Self {
        FaceCrop {
            rect,
            theta,
            cos: theta.cos(),
            sin: theta.sin(),
        }
    }

    /// The crop that reads the memory of a `width × height` frame mirrored by `mirror` at the
    /// source points of this one, its output mirrored by `mirror` (undone by [`Mirror::apply`]):
    /// the square mirrored, and the turn reversed by each mirror.
    pub fn mirrored(&self, width: u32, height: u32, mirror: Mirror) -> FaceCrop {
        let theta = match mirror.rows != mirror.columns {
            true => -self.theta,
            false => self.theta,
        };
        FaceCrop::rotated(self.rect.mirrored(width, height, mirror), theta)
    }

    /// Whether the separable upright path applies (θ exactly 0).
    pub fn is_upright(&self) -> bool {
        self.theta == 0.0
    }

    /// Index-space source point (continuous − ½) of output pixel (i, j) of the crop sampled at
    /// `size`, evaluated as the references do: the upright sample point plus (R − I)(u, v), so
    /// θ = 0 gives the upright point bit for bit.
    pub fn sample_point(&self, size: SampleSize, i: f64, j: f64) -> (f64, f64) {
        let side = f64::from(self.rect.side);
        let (kx, ky) = size.steps(self.rect.side);
        let (u, v) = ((i + 0.5) * kx - side / 2.0, (j + 0.5) * ky - side / 2.0);
        let x = self.rect.x0 as f64 + (i + 0.5) * kx - 0.5;
        let y = self.rect.y0 as f64 + (j + 0.5) * ky - 0.5;
        (
            x + (u * (self.cos - 1.0) - v * self.sin),
            y + (u * self.sin + v * (self.cos - 1.0)),
        )
    }

    /// Maps a point from the model input (the crop sampled at `size`) back to frame pixels
    /// through the same rotation: c + R(θ)·(p·side/size − side/2) per axis, z·side/width.
    pub fn to_frame(&self, size: SampleSize, x: f32, y: f32, z: f32) -> [f32; 3] {
        if self.is_upright() {
            return self.rect.to_frame(size, x, y, z);
        }
        let side = f64::from(self.rect.side);
        let (kx, ky) = size.steps(self.rect.side);
        let (cx, cy) = (
            self.rect.x0 as f64 + side / 2.0,
            self.rect.y0 as f64 + side / 2.0,
        );
        let (u, v) = (
            f64::from(x) * kx - side / 2.0,
            f64::from(y) * ky - side / 2.0,
        );
        [
            (cx + u * self.cos - v * self.sin) as f32,
            (cy + u * self.sin + v * self.cos) as f32,
            (f64::from(z) * kx) as f32,
        ]
    }
}

/// Face Mesh's eye-corner points: the subject's right eye (33, 133) and left eye (263, 362).
pub const MESH_RIGHT_EYE: [usize; 2] = [33, 133];
pub const MESH_LEFT_EYE: [usize; 2] = [263, 362];

/// Where to look for the face in the next frame, from this result's own points (`x, y, z` per
/// point, frame pixels): the roll of the eye centres (the means of the model scheme's `right_eye`
/// and `left_eye` points; `roll` for a model without eye points), and the square around the
/// points' bounding box taken along that roll.
pub fn track_region(
    points: &[f32],
    roll: f32,
    right_eye: &[usize],
    left_eye: &[usize],
) -> (FaceBox, f32) {
    let n = points.len() / 3;
    let at = |i: usize| (f64::from(points[3 * i]), f64::from(points[3 * i + 1]));
    let has_eyes = !right_eye.is_empty()
        && !left_eye.is_empty()
        && right_eye.iter().chain(left_eye).all(|&i| i < n);
    let track_roll = if has_eyes {
        let centre = |eye: &[usize]| {
            let (sx, sy) = eye.iter().fold((0.0, 0.0), |(sx, sy), &i| {
                let p = at(i);
                (sx + p.0, sy + p.1)
            });
            (sx / eye.len() as f64, sy / eye.len() as f64)
        };
        let (r, l) = (centre(right_eye), centre(left_eye));
        (l.1 - r.1).atan2(l.0 - r.0)
    } else {
        f64::from(roll)
    };
    if n == 0 {
        let nan = f32::NAN;
        return (
            FaceBox {
                x1: nan,
                y1: nan,
                x2: nan,
                y2: nan,
            },
            track_roll as f32,
        );
    }
    let (mut mx, mut my) = (0.0, 0.0);
    for i in 0..n {
        let (x, y) = at(i);
        mx += x;
        my += y;
    }
    let (mx, my) = (mx / n as f64, my / n as f64);
    let (c, s) = (track_roll.cos(), track_roll.sin());
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for i in 0..n {
        let (x, y) = at(i);
        let (dx, dy) = (x - mx, y - my);
        // R(−roll)·(p − mean)
        let q = [dx * c + dy * s, -dx * s + dy * c];
        for k in 0..2 {
            lo[k] = lo[k].min(q[k]);
            hi[k] = hi[k].max(q[k]);
        }
    }
    let (qx, qy) = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0);
    let (cx, cy) = (mx + qx * c - qy * s, my + qx * s + qy * c);
    let d = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    (
        FaceBox {
            x1: (cx - d / 2.0) as f32,
            y1: (cy - d / 2.0) as f32,
            x2: (cx + d / 2.0) as f32,
            y2: (cy + d / 2.0) as f32,
        },
        track_roll as f32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x1: f32, y1: f32, x2: f32, y2: f32) -> FaceBox {
        FaceBox { x1, y1, x2, y2 }
    }

    #[test]
    fn crop_follows_the_rounding_rule() {
        // The astronaut box of the evaluation set and its published crop.
        let c =
            CropRect::for_box(&bx(177.2828, 80.559, 271.8469, 175.1234), 512, 512, 1.5).unwrap();
        assert_eq!(
            c,
            CropRect {
                x0: 154,
                y0: 57,
                side: 142
            }
        );
        // side = floor(1.5 * 10 + 0.5) = 15; x0 = floor(5 - 7.5 + 0.5) = -2
        let c = CropRect::for_box(&bx(0.0, 0.0, 10.0, 4.0), 100, 100, 1.5).unwrap();
        assert_eq!(
            c,
            CropRect {
                x0: -2,
                y0: -5,
                side: 15
            }
        );
    }

    #[test]
    fn bad_boxes_are_rejected() {
        let bad = [
            bx(f32::NAN, 0.0, 10.0, 10.0),
            bx(0.0, 0.0, f32::INFINITY, 10.0),
            bx(10.0, 0.0, 10.0, 10.0),
            bx(10.0, 10.0, 5.0, 20.0),
            bx(-20.0, 0.0, 0.0, 10.0), // touches the left edge only
            bx(100.0, 0.0, 120.0, 10.0),
            bx(0.0, 100.0, 10.0, 130.0),
            bx(0.0, 0.0, 0.1, 0.1),
            bx(-1e9, 0.0, 50.0, 50.0),
        ];
        for b in bad {
            let e = CropRect::for_box(&b, 100, 100, 1.5).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument, "{b:?}");
        }
    }

    #[test]
    fn points_map_back_to_frame_pixels() {
        let c = CropRect {
            x0: -10,
            y0: 20,
            side: 384,
        };
        assert_eq!(
            c.to_frame(SampleSize::square(192), 0.0, 0.0, 0.0),
            [-10.0, 20.0, 0.0]
        );
        assert_eq!(
            c.to_frame(SampleSize::square(192), 96.0, 192.0, -5.0),
            [182.0, 404.0, -10.0]
        );
    }

    #[test]
    fn the_angle_comes_from_eyes_then_roll() {
        let b = bx(0.0, 0.0, 10.0, 10.0);
        assert_eq!(Face::upright(b).angle().unwrap(), 0.0);
        let up = Face::with_eyes(b, [0.0, 0.0], [0.0, 1.0]);
        assert!((up.angle().unwrap() - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
        let both = Face {
            flags: Face::EYES | Face::ROLL,
            roll: 1.0,
            ..up
        };
        assert_eq!(both.angle().unwrap(), up.angle().unwrap());
        assert_eq!(Face::with_roll(b, -0.25).angle().unwrap(), -0.25);
        for bad in [
            Face::with_roll(b, f32::NAN),
            Face::with_roll(b, f32::INFINITY),
            Face::with_eyes(b, [f32::NAN, 0.0], [1.0, 1.0]),
            Face::with_eyes(b, [0.0, 0.0], [1.0, f32::NEG_INFINITY]),
            Face {
                flags: 4,
                ..Face::upright(b)
            },
        ] {
            assert!(bad.angle().is_err(), "{bad:?}");
        }
        // The eyes win: the roll is not read then.
        let eyes_and_nan_roll = Face {
            flags: 3,
            roll: f32::NAN,
            ..up
        };
        assert!(eyes_and_nan_roll.angle().is_ok());
    }

    #[test]
    fn rotated_points_map_back_through_the_same_rotation() {
        let rect = CropRect {
            x0: 10,
            y0: 20,
            side: 96,
        };
        let crop = FaceCrop::rotated(rect, std::f64::consts::FRAC_PI_2);
        // Centre stays; the input's +x axis becomes the frame's +y axis.
        let c = crop.to_frame(SampleSize::square(192), 96.0, 96.0, 4.0);
        assert_eq!(c, [58.0, 68.0, 2.0]);
        let p = crop.to_frame(SampleSize::square(192), 192.0, 96.0, 0.0);
        assert!(
            (p[0] - 58.0).abs() < 1e-4 && (p[1] - 116.0).abs() < 1e-4,
            "{p:?}"
        );
        // The sample point of the same output pixel lies on the same rotation (index space).
        let (sx, sy) = crop.sample_point(SampleSize::square(192), 191.5, 95.5);
        assert!((sx + 0.5 - 58.0).abs() < 1e-9 && (sy + 0.5 - 116.0).abs() < 1e-9);
        // θ = 0: the upright rule, bit for bit.
        let up = FaceCrop::from(rect);
        assert_eq!(
            up.sample_point(SampleSize::square(192), 3.0, 7.0),
            (10.0 + 3.5 * 0.5 - 0.5, 20.0 + 7.5 * 0.5 - 0.5)
        );
        assert_eq!(
            up.to_frame(SampleSize::square(192), 5.0, 6.0, 7.0),
            rect.to_frame(SampleSize::square(192), 5.0, 6.0, 7.0)
        );
    }

    #[test]
    fn a_non_square_size_samples_the_square_crop_at_width_by_height() {
        let rect = CropRect {
            x0: 10,
            y0: 20,
            side: 96,
        };
        // 128 wide, 64 high: 0.75 crop px per sample along x, 1.5 along y; z on x's scale.
        let size = SampleSize {
            width: 128,
            height: 64,
        };
        assert_eq!(rect.to_frame(size, 128.0, 64.0, 4.0), [106.0, 116.0, 3.0]);
        assert_eq!(
            FaceCrop::from(rect).sample_point(size, 0.0, 0.0),
            (10.0 + 0.375 - 0.5, 20.0 + 0.75 - 0.5)
        );
        // Turned: every sample point is where its pixel centre maps back to, in both axes.
        for theta in [0.0, 0.3, -2.0] {
            let crop = FaceCrop::rotated(rect, theta);
            for (i, j) in [(0.0, 0.0), (127.0, 0.0), (5.0, 63.0), (64.0, 32.0)] {
                let (sx, sy) = crop.sample_point(size, i, j);
                let [fx, fy, _] = crop.to_frame(size, i as f32 + 0.5, j as f32 + 0.5, 0.0);
                assert!(
                    (sx + 0.5 - f64::from(fx)).abs() < 1e-4
                        && (sy + 0.5 - f64::from(fy)).abs() < 1e-4,
                    "θ {theta} ({i}, {j}): ({sx}, {sy}) vs ({fx}, {fy})"
                );
            }
        }
    }

    #[test]
    fn the_track_follows_the_eye_line() {
        // 468 points: a 40x20 rectangle of points turned by 30°, eyes on its long axis.
        let t = 30f64.to_radians();
        let mut pts = vec![0f32; 468 * 3];
        for i in 0..468 {
            let (u, v) = match i {
                33 | 133 => (-10.0, 0.0),
                263 | 362 => (10.0, 0.0),
                0..=450 => (((i % 41) as f64) - 20.0, (i / 41) as f64 - 5.0),
                _ => (0.0, 0.0),
            };
            pts[3 * i] = (100.0 + u * t.cos() - v * t.sin()) as f32;
            pts[3 * i + 1] = (50.0 + u * t.sin() + v * t.cos()) as f32;
        }
        let (b, roll) = track_region(&pts, 0.0, &MESH_RIGHT_EYE, &MESH_LEFT_EYE);
        assert!((f64::from(roll) - t).abs() < 1e-6, "{roll}");
        let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
        // A 40x10 box along the eye line: a 40 px square about its centre.
        assert!((f64::from(b.x2 - b.x1) - 40.0).abs() < 1e-3, "{b:?}");
        assert!((f64::from(b.y2 - b.y1) - 40.0).abs() < 1e-3, "{b:?}");
        assert!((f64::from(cx) - 100.0).abs() < 1e-3, "{b:?}");
        assert!((f64::from(cy) - 50.0).abs() < 1e-3, "{b:?}");
        // Without eye points the given roll is kept: too few points, or a scheme without eyes.
        let (_, r) = track_region(&pts[..300], 0.5, &MESH_RIGHT_EYE, &MESH_LEFT_EYE);
        assert_eq!(r, 0.5);
        let (_, r) = track_region(&pts, 0.5, &[], &[]);
        assert_eq!(r, 0.5);
    }
}
