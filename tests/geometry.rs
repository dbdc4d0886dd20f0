//! Property tests of the crop geometry over random frames and boxes (seeded; `LMBATCH_SEED`
//! replays): the crop never reads outside the frame, it samples where the crop rule says, and the
//! points it maps back land where the sampling put them.

mod common;

use common::{seed, Rng};
use lmbatch::image::{
    crop_resize, frame_byte_len, CropRect, FrameView, PixelFormat, ResizeScratch,
};
use lmbatch::FaceBox;

const FORMATS: [PixelFormat; 5] = [
    PixelFormat::Bgr8,
    PixelFormat::Rgb8,
    PixelFormat::Bgra8,
    PixelFormat::Rgba8,
    PixelFormat::Gray8,
];

#[test]
fn the_crop_never_reads_outside_an_exactly_sized_frame() {
    let mut rng = Rng::new(seed("geometry/bounds"));
    let mut scratch = ResizeScratch::default();
    let mut out = vec![0u8; 192 * 192 * 3];
    let mut accepted = 0;
    for _ in 0..3000 {
        let (w, h) = (1 + rng.below(300) as u32, 1 + rng.below(300) as u32);
        let format = FORMATS[rng.below(5) as usize];
        let stride = w as usize * format.bytes_per_pixel() + rng.below(8) as usize;
        // Exactly the bytes the geometry spans: the slice's bounds checks catch any read past it.
        let len = frame_byte_len(w, h, stride, format).unwrap();
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let frame = FrameView::new(&data, w, h, stride, format).unwrap();
        let span = rng.range_f32(0.05, 4.0) * w.max(h) as f32;
        // Boxes anywhere from well outside the frame to over its edges and corners.
        let x1 = rng.range_f32(-span, w as f32 + 1.0);
        let y1 = rng.range_f32(-span, h as f32 + 1.0);
        let face = FaceBox {
            x1,
            y1,
            x2: x1 + rng.range_f32(0.1, 1.5 * span),
            y2: y1 + rng.range_f32(0.1, 1.5 * span),
        };
        let Ok(crop) = CropRect::for_box(&face, w, h, 1.5) else {
            continue;
        };
        crop_resize(&frame, &crop, 192, 192, &mut scratch, &mut out);
        accepted += 1;
    }
    assert!(
        accepted > 1000,
        "too few valid boxes ({accepted}) to mean anything"
    );
}

#[test]
fn the_crop_rule_centres_a_square_of_the_right_side() {
    let mut rng = Rng::new(seed("geometry/rule"));
    for _ in 0..10_000 {
        let (x1, y1) = (rng.range_f32(-100.0, 600.0), rng.range_f32(-100.0, 600.0));
        let face = FaceBox {
            x1,
            y1,
            x2: x1 + rng.range_f32(1.0, 400.0),
            y2: y1 + rng.range_f32(1.0, 400.0),
        };
        let Ok(crop) = CropRect::for_box(&face, 640, 480, 1.5) else {
            continue;
        };
        let longer = f64::from((face.x2 - face.x1).max(face.y2 - face.y1));
        assert_eq!(
            f64::from(crop.side),
            (1.5 * longer + 0.5).floor(),
            "{face:?}"
        );
        let cx = f64::from(face.x1 + face.x2) / 2.0;
        let cy = f64::from(face.y1 + face.y2) / 2.0;
        // Whole-pixel rounding moves the centre by at most one pixel.
        assert!(
            (crop.x0 as f64 + f64::from(crop.side) / 2.0 - cx).abs() <= 1.0,
            "{face:?} {crop:?}"
        );
        assert!(
            (crop.y0 as f64 + f64::from(crop.side) / 2.0 - cy).abs() <= 1.0,
            "{face:?} {crop:?}"
        );
    }
}

#[test]
fn the_crop_samples_where_mapped_back_points_land() {
    // Gray ramps (value = column, then value = row) inside a 256x256 frame: bilinear sampling of a
    // ramp is exact, so output pixel o must hold the frame coordinate of its own centre as mapped
    // back by `to_frame`, minus the half pixel between a pixel's corner and its centre.
    let mut rng = Rng::new(seed("geometry/sampling"));
    let ramp_x: Vec<u8> = (0..256 * 256).map(|i| (i % 256) as u8).collect();
    let ramp_y: Vec<u8> = (0..256 * 256).map(|i| (i / 256) as u8).collect();
    let mut scratch = ResizeScratch::default();
    let mut out = vec![0u8; 192 * 192 * 3];
    for _ in 0..300 {
        let side = 2 + rng.below(250) as u32;
        let x0 = rng.below(u64::from(256 - side)) as i64;
        let y0 = rng.below(u64::from(256 - side)) as i64;
        let crop = CropRect { x0, y0, side };
        for (ramp, axis) in [(&ramp_x, 0usize), (&ramp_y, 1usize)] {
            let frame = FrameView::new(ramp, 256, 256, 256, PixelFormat::Gray8).unwrap();
            crop_resize(&frame, &crop, 192, 192, &mut scratch, &mut out);
            for o in 0..192usize {
                let centre = crop.to_frame(
                    lmbatch::image::SampleSize::square(192),
                    o as f32 + 0.5,
                    o as f32 + 0.5,
                    0.0,
                )[axis];
                let origin = [x0, y0][axis] as f32;
                // Inside the crop, clamped at its own first and last pixel.
                let want = (centre - 0.5).clamp(origin, origin + side as f32 - 1.0);
                let (row, col) = if axis == 0 { (96, o) } else { (o, 96) };
                let got = f32::from(out[(row * 192 + col) * 3]);
                assert!(
                    (got - want).abs() <= 0.51,
                    "axis {axis}, {crop:?}, output {o}: {got} vs {want}"
                );
            }
        }
    }
}
