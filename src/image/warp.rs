//! The rotated crop: every output pixel samples the frame bilinearly at its own turned source
//! point (DESIGN, "Crop with roll θ"). Fixed point, no allocation.

use super::crop::FaceCrop;
use super::frame::{FrameView, PixelFormat};

/// Fraction bits of a source position (index space). 32 bits keep the error of stepping across a
/// 192-pixel row below 1e-7 px.
pub(crate) const POS_BITS: u32 = 32;
/// Fraction bits of a bilinear weight: positions are rounded to 1/4096 px.
pub(crate) const WEIGHT_BITS: u32 = 12;
pub(crate) const WEIGHT_ONE: u32 = 1 << WEIGHT_BITS;

/// A position in index space as `POS_BITS` fixed point.
pub(crate) fn to_fixed(v: f64) -> i64 {
    (v * (1u64 << POS_BITS) as f64).round() as i64
}

/// The two taps of a fixed-point position, each clamped into `[0, len)` (edge replication), and
/// the weight of the second.
#[inline(always)]
pub(crate) fn taps_at(pos: i64, len: u32) -> (usize, usize, u32) {
    let rounded = pos + (1i64 << (POS_BITS - WEIGHT_BITS - 1));
    let index = rounded >> POS_BITS;
    let weight = ((rounded >> (POS_BITS - WEIGHT_BITS)) as u32) & (WEIGHT_ONE - 1);
    let last = i64::from(len) - 1;
    (
        index.clamp(0, last) as usize,
        (index + 1).clamp(0, last) as usize,
        weight,
    )
}

/// Calls `pixel(n, x, y)` for output pixel n (row-major) of an `out_size` square with its source
/// point in fixed-point index space. Each row starts from the exact point and steps along it.
#[inline(always)]
pub(crate) fn for_each_source_point(
    crop: &FaceCrop,
    out_size: usize,
    mut pixel: impl FnMut(usize, i64, i64),
) {
    let size = out_size as u32;
    let (x1, y1) = crop.sample_point(size, 1.0, 0.0);
    let (x0, y0) = crop.sample_point(size, 0.0, 0.0);
    let (dx, dy) = (to_fixed(x1 - x0), to_fixed(y1 - y0));
    for j in 0..out_size {
        let (x, y) = crop.sample_point(size, 0.0, j as f64);
        let (mut x, mut y) = (to_fixed(x), to_fixed(y));
        for i in 0..out_size {
            pixel(j * out_size + i, x, y);
            x += dx;
            y += dy;
        }
    }
}

/// Rotated crop of a packed frame into interleaved RGB (`out_size² × 3` bytes).
pub fn warp_packed(frame: &FrameView<'_>, crop: &FaceCrop, out_size: usize, out: &mut [u8]) {
    assert_eq!(out.len(), out_size * out_size * 3, "output buffer size");
    match frame.format {
        PixelFormat::Rgb8 => warp::<3, 0, 1, 2>(frame, crop, out_size, out),
        PixelFormat::Bgr8 => warp::<3, 2, 1, 0>(frame, crop, out_size, out),
        PixelFormat::Rgba8 => warp::<4, 0, 1, 2>(frame, crop, out_size, out),
        PixelFormat::Bgra8 => warp::<4, 2, 1, 0>(frame, crop, out_size, out),
        PixelFormat::Gray8 => warp::<1, 0, 0, 0>(frame, crop, out_size, out),
    }
}

fn warp<const BPP: usize, const R: usize, const G: usize, const B: usize>(
    frame: &FrameView<'_>,
    crop: &FaceCrop,
    out_size: usize,
    out: &mut [u8],
) {
    let (data, stride) = (frame.data, frame.stride);
    for_each_source_point(crop, out_size, |n, x, y| {
        let (xa, xb, wx) = taps_at(x, frame.width);
        let (ya, yb, wy) = taps_at(y, frame.height);
        let (top, bottom) = (ya * stride, yb * stride);
        let (xa, xb) = (xa * BPP, xb * BPP);
        let px = &mut out[3 * n..3 * n + 3];
        for (o, ch) in px.iter_mut().zip([R, G, B]) {
            let s = |p: usize| u32::from(data[p + ch]);
            // 8 + 12 + 12 bits: within u32 (255 × 4096² < 2³²).
            let t = s(top + xa) * (WEIGHT_ONE - wx) + s(top + xb) * wx;
            let b = s(bottom + xa) * (WEIGHT_ONE - wx) + s(bottom + xb) * wx;
            let v = t * (WEIGHT_ONE - wy) + b * wy;
            *o = ((v + (1 << (2 * WEIGHT_BITS - 1))) >> (2 * WEIGHT_BITS)) as u8;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::crop::CropRect;

    /// The float rule (DESIGN): bilinear at P − ½ with clamped taps, rounded half up.
    fn reference(frame: &FrameView<'_>, crop: &FaceCrop, size: usize) -> Vec<u8> {
        let bpp = frame.format.bytes_per_pixel();
        let channels: [usize; 3] = match frame.format {
            PixelFormat::Rgb8 | PixelFormat::Rgba8 => [0, 1, 2],
            PixelFormat::Bgr8 | PixelFormat::Bgra8 => [2, 1, 0],
            PixelFormat::Gray8 => [0, 0, 0],
        };
        let mut out = Vec::new();
        for j in 0..size {
            for i in 0..size {
                let (x, y) = crop.sample_point(size as u32, i as f64, j as f64);
                let (fx, fy) = (x.floor(), y.floor());
                let (ax, ay) = (x - fx, y - fy);
                let cx = |v: f64| v.clamp(0.0, f64::from(frame.width - 1)) as usize;
                let cy = |v: f64| v.clamp(0.0, f64::from(frame.height - 1)) as usize;
                for ch in channels {
                    let p = |xx: usize, yy: usize| {
                        f64::from(frame.data[yy * frame.stride + xx * bpp + ch])
                    };
                    let v = (1.0 - ay)
                        * ((1.0 - ax) * p(cx(fx), cy(fy)) + ax * p(cx(fx + 1.0), cy(fy)))
                        + ay * ((1.0 - ax) * p(cx(fx), cy(fy + 1.0))
                            + ax * p(cx(fx + 1.0), cy(fy + 1.0)));
                    out.push((v + 0.5).floor().clamp(0.0, 255.0) as u8);
                }
            }
        }
        out
    }

    #[test]
    fn rotated_crop_is_within_a_level_of_the_float_rule() {
        let (w, h) = (61u32, 47u32);
        let stride = 3 * w as usize + 5;
        let data: Vec<u8> = (0..stride * h as usize)
            .map(|i| ((i * 7919) % 251) as u8)
            .collect();
        let frame = FrameView::new(&data, w, h, stride, PixelFormat::Bgr8).unwrap();
        for (x0, y0, side, deg) in [
            (5, 3, 40, 30.0),
            (-10, -8, 80, -135.0),
            (20, 10, 13, 90.0),
            (0, 0, 61, 180.0),
        ] {
            let crop = FaceCrop::rotated(CropRect { x0, y0, side }, f64::to_radians(deg));
            let size = 24;
            let mut out = vec![0u8; size * size * 3];
            warp_packed(&frame, &crop, size, &mut out);
            let want = reference(&frame, &crop, size);
            for (n, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!(a.abs_diff(*b) <= 1, "{deg}° byte {n}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn a_quarter_turn_is_a_pixel_permutation() {
        // 4x4 gray frame, crop = whole frame, output 4x4, θ = 90°: output (i, j) samples
        // P − ½ = (3 − j, i).
        let data: Vec<u8> = (0..16).map(|v| v * 10).collect();
        let frame = FrameView::new(&data, 4, 4, 4, PixelFormat::Gray8).unwrap();
        let crop = FaceCrop::rotated(
            CropRect {
                x0: 0,
                y0: 0,
                side: 4,
            },
            std::f64::consts::FRAC_PI_2,
        );
        let mut out = vec![0u8; 48];
        warp_packed(&frame, &crop, 4, &mut out);
        for j in 0..4 {
            for i in 0..4 {
                assert_eq!(out[3 * (j * 4 + i)], data[i * 4 + 3 - j], "({i}, {j})");
            }
        }
    }

    #[test]
    fn a_hair_of_roll_gives_the_upright_crop() {
        // The rotated path at θ = 1e-12 against the separable upright path (θ = 0), on a crop
        // larger than the output (where both replicate the frame's edges the same way). The
        // upright path (unchanged since ABI 1.0) rounds between its passes with 7-bit weights and
        // the rotated one keeps 12-bit weights: each within a level of the rule, so within two of
        // each other.
        let (w, h) = (300u32, 260u32);
        let stride = 4 * w as usize;
        let data: Vec<u8> = (0..stride * h as usize)
            .map(|i| ((i * 131) % 253) as u8)
            .collect();
        let frame = FrameView::new(&data, w, h, stride, PixelFormat::Rgba8).unwrap();
        let rect = CropRect {
            x0: -30,
            y0: 40,
            side: 250,
        };
        let mut upright = vec![0u8; 192 * 192 * 3];
        crate::image::crop_resize(
            &frame,
            &rect,
            192,
            192,
            &mut Default::default(),
            &mut upright,
        );
        let mut turned = vec![0u8; 192 * 192 * 3];
        warp_packed(&frame, &FaceCrop::rotated(rect, 1e-12), 192, &mut turned);
        let worst = upright
            .iter()
            .zip(&turned)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 2, "{worst} levels apart");
    }
}
