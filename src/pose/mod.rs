//! The best shot (DESIGN "C ABI 1.4"): head pose from a 3-D mesh, and the quality measures a VMS
//! ranks a track's faces by. Pure functions of a result's points (and its staged crop).

mod canonical_face;

use crate::descriptor::SchemeName;
use crate::image::SampleSize;
use crate::model::ModelSpec;
pub use canonical_face::CANONICAL_FACE;

/// Head pose in radians (DESIGN's signs): `yaw` > 0 the subject turns to its left (nose towards
/// the image's right), `pitch` > 0 it looks up, `roll` in the sense of lm_face.roll (the eye
/// line's angle, y down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

impl Pose {
    /// What a model whose scheme cannot say gives.
    pub const UNKNOWN: Pose = Pose {
        yaw: f32::NAN,
        pitch: f32::NAN,
        roll: f32::NAN,
    };
}

/// The pose of a face from its points (`x, y, z` per point, frame pixels, z on x's scale, as
/// every backend gives them) for a model whose scheme is MediaPipe's mesh and whose points are
/// 3-D: the rigid rotation that best maps the canonical face onto the points (Horn's closed form
/// of least-squares Procrustes, scale free). Other models: [`Pose::UNKNOWN`].
pub fn head_pose(points: &[f32], spec: &ModelSpec) -> Pose {
    let mesh = matches!(
        spec.scheme.name,
        SchemeName::Mediapipe468 | SchemeName::Mediapipe478
    );
    if !mesh || spec.points.dims != 3 || points.len() < 3 * CANONICAL_FACE.len() {
        return Pose::UNKNOWN;
    }
    // The image frame (x right, y down, z away from the camera) turned into the canonical one
    // (x right, y up, z towards the viewer): a proper rotation (two axes flipped).
    let observed: Vec<[f64; 3]> = points
        .chunks_exact(3)
        .take(CANONICAL_FACE.len())
        .map(|p| [f64::from(p[0]), -f64::from(p[1]), -f64::from(p[2])])
        .collect();
    let canonical: Vec<[f64; 3]> = CANONICAL_FACE.iter().map(|c| c.map(f64::from)).collect();
    let Some(r) = best_rotation(&canonical, &observed) else {
        return Pose::UNKNOWN;
    };
    pose_of_rotation(&r)
}

/// The Euler angles of `r` = Rz(ψ)·Ry(θ)·Rx(φ) (canonical frame), in DESIGN's signs: yaw = θ
/// (turning towards +x is the subject's left), pitch = −φ (a positive φ tips the nose down),
/// roll = −ψ (ψ turns counter-clockwise with y up; lm_face.roll measures with y down).
pub fn pose_of_rotation(r: &[[f64; 3]; 3]) -> Pose {
    let theta = (-r[2][0]).clamp(-1.0, 1.0).asin();
    let psi = r[1][0].atan2(r[0][0]);
    let phi = r[2][1].atan2(r[2][2]);
    Pose {
        yaw: theta as f32,
        pitch: (-phi) as f32,
        roll: (-psi) as f32,
    }
}

/// The rotation R (row-major) minimising Σ |R·(aᵢ − ā) − (bᵢ − b̄)|² over rotations, by Horn's
/// unit quaternion: the eigenvector of the largest eigenvalue of a symmetric 4×4 built from the
/// cross-covariance. `None` for degenerate input (fewer than 3 points, NaN).
fn best_rotation(a: &[[f64; 3]], b: &[[f64; 3]]) -> Option<[[f64; 3]; 3]> {
    if a.len() != b.len() || a.len() < 3 {
        return None;
    }
    let mean = |v: &[[f64; 3]]| {
        let mut m = [0.0; 3];
        for p in v {
            for k in 0..3 {
                m[k] += p[k] / v.len() as f64;
            }
        }
        m
    };
    let (ma, mb) = (mean(a), mean(b));
    // S[i][j] = Σ (a_i − ā_i)(b_j − b̄_j)
    let mut s = [[0.0f64; 3]; 3];
    for (p, q) in a.iter().zip(b) {
        for i in 0..3 {
            for j in 0..3 {
                s[i][j] += (p[i] - ma[i]) * (q[j] - mb[j]);
            }
        }
    }
    if s.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let [[sxx, sxy, sxz], [syx, syy, syz], [szx, szy, szz]] = s;
    let n = [
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
    ];
    let q = largest_eigenvector(n);
    let [w, x, y, z] = q;
    Some([
        [
            w * w + x * x - y * y - z * z,
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            w * w - x * x + y * y - z * z,
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            w * w - x * x - y * y + z * z,
        ],
    ])
}

/// The unit eigenvector of the largest eigenvalue of a symmetric 4×4 (cyclic Jacobi rotations).
fn largest_eigenvector(mut a: [[f64; 4]; 4]) -> [f64; 4] {
    let mut v = [[0.0f64; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..50 {
        let off: f64 = (0..4)
            .flat_map(|i| (0..4).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..3 {
            for q in p + 1..4 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ·A·J: the columns p, q, then the rows p, q.
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (row_p, row_q) = (a[p], a[q]);
                for k in 0..4 {
                    a[p][k] = c * row_p[k] - s * row_q[k];
                    a[q][k] = s * row_p[k] + c * row_q[k];
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let best = (0..4)
        .max_by(|&i, &j| a[i][i].total_cmp(&a[j][j]))
        .unwrap_or(0);
    let e = [v[0][best], v[1][best], v[2][best], v[3][best]];
    let norm = e
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    e.map(|x| x / norm)
}

/// Quality measures of one result (lm_quality). Each formula, and why its constants, is below.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quality {
    pub sharpness: f32,
    pub eyes_open: f32,
    pub mouth_open: f32,
    pub inter_eye_px: f32,
    pub frontal: f32,
    pub overall: f32,
}

/// The Laplacian energy scale of sharpness, chosen on the faces set at the bundled input size
/// (`cargo test --test best_shot -- --nocapture` prints every face): the sharp, large faces read
/// 0.9..1.0, the set's median 0.72, a 36-px face upscaled 0.22 and the astronaut box-blurred
/// (radius 2) 0.06.
pub const SHARP_LAPLACIAN_ENERGY: f32 = 150.0;

/// An eyelid gap of a quarter of the eye's width is a fully open eye (MediaPipe's mesh on open
/// eyes in the faces set: 0.25..0.35); closed eyes are near 0.05.
const OPEN_EYE_RATIO: f32 = 0.25;
/// An inner-lip gap of half the mouth's width is a fully open mouth.
const OPEN_MOUTH_RATIO: f32 = 0.5;
/// The inter-eye distance (frame px) from which a face counts as large enough in `overall`
/// (ISO/IEC 39794-5 asks for 60 px between the eye centres for recognition).
const ENOUGH_INTER_EYE_PX: f32 = 60.0;

/// Which points a mesh scheme uses for eyelids and lips (MediaPipe's indices).
struct MeshFeatures;
impl MeshFeatures {
    const RIGHT_LIDS: [usize; 2] = [159, 145];
    const LEFT_LIDS: [usize; 2] = [386, 374];
    const RIGHT_CORNERS: [usize; 2] = [33, 133];
    const LEFT_CORNERS: [usize; 2] = [263, 362];
    const LIPS_INNER: [usize; 2] = [13, 14];
    const MOUTH_CORNERS: [usize; 2] = [61, 291];
}

/// The quality of a result: `points` in frame pixels, `crop` the staged RGB crop the model saw
/// (`size` pixels), `face_score` as reported (-1: the model has none), `pose` from
/// [`head_pose`].
pub fn quality(
    points: &[f32],
    spec: &ModelSpec,
    crop: &[u8],
    size: SampleSize,
    face_score: f32,
    pose: Pose,
) -> Quality {
    let n = points.len() / 3;
    let at = |i: usize| (points[3 * i], points[3 * i + 1]);
    let dist = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).hypot(a.1 - b.1);
    let centre = |idx: &[usize]| {
        let (sx, sy) = idx.iter().fold((0.0, 0.0), |(sx, sy), &i| {
            let p = at(i);
            (sx + p.0, sy + p.1)
        });
        (sx / idx.len() as f32, sy / idx.len() as f32)
    };
    let s = &spec.scheme;
    let eyes_known = !s.right_eye.is_empty()
        && !s.left_eye.is_empty()
        && s.right_eye.iter().chain(&s.left_eye).all(|&i| i < n);
    let inter_eye_px = if eyes_known {
        dist(centre(&s.right_eye), centre(&s.left_eye))
    } else {
        f32::NAN
    };
    let mesh = matches!(s.name, SchemeName::Mediapipe468 | SchemeName::Mediapipe478) && n >= 468;
    // Openness: the gap between the lids (lips) over the eye's (mouth's) width, scaled so the
    // open constant above reads 1.
    let ratio = |gap: [usize; 2], width: [usize; 2], open: f32| {
        let w = dist(at(width[0]), at(width[1]));
        if w > 0.0 {
            (dist(at(gap[0]), at(gap[1])) / w / open).clamp(0.0, 1.0)
        } else {
            f32::NAN
        }
    };
    let (eyes_open, mouth_open) = if mesh {
        (
            ratio(
                MeshFeatures::RIGHT_LIDS,
                MeshFeatures::RIGHT_CORNERS,
                OPEN_EYE_RATIO,
            )
            .min(ratio(
                MeshFeatures::LEFT_LIDS,
                MeshFeatures::LEFT_CORNERS,
                OPEN_EYE_RATIO,
            )),
            ratio(
                MeshFeatures::LIPS_INNER,
                MeshFeatures::MOUTH_CORNERS,
                OPEN_MOUTH_RATIO,
            ),
        )
    } else {
        (f32::NAN, f32::NAN)
    };
    // ISO/IEC 29794-5's head-pose component, as OFIQ computes it.
    let frontal = (pose.yaw.cos() * pose.pitch.cos()).powi(2);
    let sharpness = sharpness(crop, size, spec.crop_scale);
    let factor = |v: f32| if v.is_nan() { 1.0 } else { v };
    let score = if face_score < 0.0 { 1.0 } else { face_score };
    let overall = score
        * factor(frontal)
        * factor(sharpness)
        * factor((inter_eye_px / ENOUGH_INTER_EYE_PX).min(1.0))
        * (0.5 + 0.5 * factor(eyes_open));
    Quality {
        sharpness,
        eyes_open,
        mouth_open,
        inter_eye_px,
        frontal,
        overall,
    }
}

/// Mean squared 4-neighbour Laplacian of the crop's luma inside the face (the box's share of the
/// crop: its central 1/crop_scale along each axis), in 8-bit units; blur and upscaling flatten it.
pub fn laplacian_energy(crop: &[u8], size: SampleSize, crop_scale: f64) -> f32 {
    let SampleSize { width, height } = size;
    if width < 3 || height < 3 || crop.len() < size.pixels() * 3 {
        return 0.0;
    }
    let luma = |p: &[u8; 3]| {
        (77.0 * f32::from(p[0]) + 150.0 * f32::from(p[1]) + 29.0 * f32::from(p[2])) / 256.0
    };
    // The central 1/crop_scale of an axis of `len` pixels, one pixel in from its edges.
    let span = |len: usize| {
        let inner = ((len as f64 / crop_scale.max(1.0)) as usize).clamp(3, len);
        let start = ((len - inner) / 2).max(1);
        start..(start + inner).min(len - 1)
    };
    let (xs, ys) = (span(width), span(height));
    // The luma of the span and its one-pixel ring, each pixel converted once (one allocation on
    // the worker, per face).
    let (pixels, _) = crop[..size.pixels() * 3].as_chunks::<3>();
    let (left, right) = (xs.start - 1, xs.end + 1);
    let ring_width = right - left;
    let lumas: Vec<f32> = (ys.start - 1..ys.end + 1)
        .flat_map(|y| pixels[y * width + left..y * width + right].iter().map(luma))
        .collect();
    let (mut sum, mut count) = (0.0f64, 0usize);
    for rows in lumas.windows(3 * ring_width).step_by(ring_width) {
        let (above, rest) = rows.split_at(ring_width);
        let (here, below) = rest.split_at(ring_width);
        for i in 1..ring_width - 1 {
            let l = here[i - 1] + here[i + 1] + above[i] + below[i] - 4.0 * here[i];
            sum += f64::from(l * l);
            count += 1;
        }
    }
    if count == 0 {
        0.0
    } else {
        (sum / count as f64) as f32
    }
}

/// Sharpness in [0, 1): 1 − exp(−E / E_sharp) of the Laplacian energy E (see
/// [`SHARP_LAPLACIAN_ENERGY`]).
pub fn sharpness(crop: &[u8], size: SampleSize, crop_scale: f64) -> f32 {
    1.0 - (-laplacian_energy(crop, size, crop_scale) / SHARP_LAPLACIAN_ENERGY).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Laplacian energy as first written: five luma conversions per pixel.
    fn laplacian_energy_per_pixel(crop: &[u8], size: SampleSize, crop_scale: f64) -> f32 {
        let SampleSize { width, height } = size;
        let luma = |x: usize, y: usize| {
            let p = &crop[3 * (y * width + x)..];
            (77.0 * f32::from(p[0]) + 150.0 * f32::from(p[1]) + 29.0 * f32::from(p[2])) / 256.0
        };
        let span = |len: usize| {
            let inner = ((len as f64 / crop_scale.max(1.0)) as usize).clamp(3, len);
            let start = ((len - inner) / 2).max(1);
            start..(start + inner).min(len - 1)
        };
        let (mut sum, mut count) = (0.0f64, 0usize);
        for y in span(height) {
            for x in span(width) {
                let l = luma(x - 1, y) + luma(x + 1, y) + luma(x, y - 1) + luma(x, y + 1)
                    - 4.0 * luma(x, y);
                sum += f64::from(l * l);
                count += 1;
            }
        }
        (sum / count as f64) as f32
    }

    #[test]
    fn the_laplacian_energy_converts_each_pixel_once_and_sums_the_same() {
        for (width, height, scale) in [
            (3, 3, 1.0),
            (4, 7, 1.5),
            (192, 192, 1.5),
            (256, 192, 2.2),
            (9, 5, 0.5),
        ] {
            let size = SampleSize { width, height };
            let crop: Vec<u8> = (0..size.pixels() * 3)
                .map(|i| (i * 131 % 253) as u8)
                .collect();
            let (fast, slow) = (
                laplacian_energy(&crop, size, scale),
                laplacian_energy_per_pixel(&crop, size, scale),
            );
            assert!(fast > 0.0);
            assert_eq!(
                fast.to_bits(),
                slow.to_bits(),
                "{width} x {height} at {scale}"
            );
        }
    }

    fn rot_x(a: f64) -> [[f64; 3]; 3] {
        [
            [1.0, 0.0, 0.0],
            [0.0, a.cos(), -a.sin()],
            [0.0, a.sin(), a.cos()],
        ]
    }
    fn rot_y(a: f64) -> [[f64; 3]; 3] {
        [
            [a.cos(), 0.0, a.sin()],
            [0.0, 1.0, 0.0],
            [-a.sin(), 0.0, a.cos()],
        ]
    }
    fn rot_z(a: f64) -> [[f64; 3]; 3] {
        [
            [a.cos(), -a.sin(), 0.0],
            [a.sin(), a.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ]
    }
    fn mul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
        let mut c = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        c
    }

    /// The canonical face turned by (yaw, pitch, roll) in DESIGN's signs, scaled to pixels and
    /// placed in a frame as a model gives it (x right, y down, z away).
    fn posed_face(yaw: f64, pitch: f64, roll: f64) -> Vec<f32> {
        let r = mul(&rot_z(-roll), &mul(&rot_y(yaw), &rot_x(-pitch)));
        let mut points = Vec::new();
        for c in CANONICAL_FACE {
            let c = c.map(f64::from);
            let p: Vec<f64> = (0..3)
                .map(|i| (0..3).map(|k| r[i][k] * c[k]).sum())
                .collect();
            let (x, y, z) = (300.0 + 12.0 * p[0], 200.0 - 12.0 * p[1], -12.0 * p[2]);
            points.extend([x as f32, y as f32, z as f32]);
        }
        points
    }

    #[test]
    fn a_posed_canonical_face_gives_its_pose_back() {
        let spec = ModelSpec::face_landmark_468();
        for (yaw, pitch, roll) in [
            (0.0, 0.0, 0.0),
            (0.4, 0.0, 0.0),
            (-0.7, 0.2, 0.0),
            (0.0, -0.3, 0.5),
            (0.3, 0.25, -1.2),
            (-0.2, -0.4, 2.8),
        ] {
            let pose = head_pose(&posed_face(yaw, pitch, roll), &spec);
            for (got, want, what) in [
                (pose.yaw, yaw, "yaw"),
                (pose.pitch, pitch, "pitch"),
                (pose.roll, roll, "roll"),
            ] {
                assert!(
                    (f64::from(got) - want).abs() < 1e-4,
                    "{what}: {got} for ({yaw}, {pitch}, {roll})"
                );
            }
        }
    }

    #[test]
    fn the_signs_are_designs() {
        let spec = ModelSpec::face_landmark_468();
        // Turning to its left moves the nose tip (1) towards the image's right.
        let turned = posed_face(0.5, 0.0, 0.0);
        let frontal = posed_face(0.0, 0.0, 0.0);
        assert!(turned[3] > frontal[3]);
        assert!(head_pose(&turned, &spec).yaw > 0.0);
        // Looking up moves the nose tip up the image (smaller y).
        let up = posed_face(0.0, 0.4, 0.0);
        assert!(up[4] < frontal[4]);
        assert!(head_pose(&up, &spec).pitch > 0.0);
        // Roll is the eye line's angle with y down: the left eye (263) lower for a positive roll.
        let rolled = posed_face(0.0, 0.0, 0.3);
        let eye_angle =
            (rolled[263 * 3 + 1] - rolled[33 * 3 + 1]).atan2(rolled[263 * 3] - rolled[33 * 3]);
        assert!((eye_angle - 0.3).abs() < 0.05, "{eye_angle}");
        assert!((head_pose(&rolled, &spec).roll - 0.3).abs() < 1e-4);
    }

    #[test]
    fn models_without_a_mesh_have_no_pose() {
        let mut spec = ModelSpec::face_landmark_468();
        spec.scheme.name = SchemeName::FivePoint;
        let pose = head_pose(&posed_face(0.0, 0.0, 0.0), &spec);
        assert!(pose.yaw.is_nan() && pose.pitch.is_nan() && pose.roll.is_nan());
        let spec = ModelSpec::face_landmark_468();
        assert!(head_pose(&[1.0; 30], &spec).yaw.is_nan(), "too few points");
    }

    #[test]
    fn quality_follows_its_formulas() {
        let spec = ModelSpec::face_landmark_468();
        let points = posed_face(0.0, 0.0, 0.0);
        let pose = head_pose(&points, &spec);
        // A flat crop has no Laplacian energy; a checkerboard a lot.
        let side = 32;
        let size = SampleSize::square(side);
        let flat = vec![128u8; side * side * 3];
        let board: Vec<u8> = (0..side * side)
            .flat_map(|i| {
                let v = if (i % side + i / side) % 2 == 0 {
                    0
                } else {
                    255
                };
                [v, v, v]
            })
            .collect();
        assert_eq!(sharpness(&flat, size, 1.5), 0.0);
        assert!(sharpness(&board, size, 1.5) > 0.999);
        // The same board read as 64 x 16: as sharp, and the flat one as flat.
        let wide = SampleSize {
            width: 64,
            height: 16,
        };
        assert!(sharpness(&board, wide, 1.5) > 0.999);
        assert_eq!(sharpness(&flat, wide, 1.5), 0.0);
        let q = quality(&points, &spec, &board, size, 0.9, pose);
        assert!((q.frontal - 1.0).abs() < 1e-6);
        // The canonical face at 12 px/cm: eye centres 2 x 3.6 cm apart or so.
        let (r, l) = (
            (
                (points[33 * 3] + points[133 * 3]) / 2.0,
                (points[33 * 3 + 1] + points[133 * 3 + 1]) / 2.0,
            ),
            (
                (points[263 * 3] + points[362 * 3]) / 2.0,
                (points[263 * 3 + 1] + points[362 * 3 + 1]) / 2.0,
            ),
        );
        assert!((q.inter_eye_px - (r.0 - l.0).hypot(r.1 - l.1)).abs() < 1e-3);
        assert!(q.eyes_open > 0.0 && q.eyes_open <= 1.0 && q.mouth_open >= 0.0);
        let want = 0.9
            * q.frontal
            * q.sharpness
            * (q.inter_eye_px / 60.0).min(1.0)
            * (0.5 + 0.5 * q.eyes_open);
        assert!((q.overall - want).abs() < 1e-6);
        // Turned 60 degrees: frontal = cos^2(60) = 0.25.
        let turned = posed_face(std::f64::consts::FRAC_PI_3, 0.0, 0.0);
        let q = quality(&turned, &spec, &board, size, 0.9, head_pose(&turned, &spec));
        assert!((q.frontal - 0.25).abs() < 1e-4, "{}", q.frontal);
        // No score (-1) and no pose (NaN) count as 1.
        let q = quality(&points, &spec, &board, size, -1.0, Pose::UNKNOWN);
        assert!(q.frontal.is_nan());
        let want = q.sharpness * (q.inter_eye_px / 60.0).min(1.0) * (0.5 + 0.5 * q.eyes_open);
        assert!((q.overall - want).abs() < 1e-6);
    }
}
