//! The turned crop (and the upright one) of every pixel format, fed arbitrary geometry, strides,
//! colorimetry, boxes, rolls, output sizes and bytes. Whatever the input, the frame or face must
//! be refused with an error or the crop made without reading outside its planes: each plane is
//! its own allocation of exactly the bytes its geometry addresses, so the sanitizer catches any
//! read past it by the unchecked SIMD loads (windows, records, words).
#![no_main]

#[path = "input.rs"]
mod input;

use input::take;
use libfuzzer_sys::fuzz_target;
use lmbatch::image::{sample_crop, CropScratch, Face, FaceCrop, Frame, FrameRef, SampleSize};
use lmbatch::FaceBox;

/// Every `lm_pixel_format` the library takes: packed 0..4, planar 16..21.
const FORMATS: [i32; 11] = [0, 1, 2, 3, 4, 16, 17, 18, 19, 20, 21];

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let width = u32::from(u16::from_le_bytes(take(&mut data))) % 400;
    let height = u32::from(u16::from_le_bytes(take(&mut data))) % 400;
    let format = FORMATS[usize::from(take::<1>(&mut data)[0]) % FORMATS.len()];
    let mut strides = [0usize; 4];
    for stride in &mut strides {
        *stride = usize::from(u16::from_le_bytes(take(&mut data))) % 2048;
    }
    let [matrix, range, siting] = take::<3>(&mut data).map(|b| i32::from(b % 12));
    let f = |d: &mut &[u8]| f32::from_le_bytes(take(d));
    let bbox = FaceBox { x1: f(&mut data), y1: f(&mut data), x2: f(&mut data), y2: f(&mut data) };
    let roll = f(&mut data);
    let [w, h] = take::<2>(&mut data).map(|b| 1 + usize::from(b % 96));
    let Ok(lens) = FrameRef::plane_byte_lens(format, width, height, &strides) else { return };
    // The remaining bytes, repeated as needed, in one allocation per plane.
    let bytes = |n: usize| -> Vec<u8> {
        (0..n).map(|i| if data.is_empty() { 0 } else { data[i % data.len()] }).collect()
    };
    let planes: Vec<Vec<u8>> = lens.iter().map(|&n| bytes(n)).collect();
    let raw = FrameRef {
        format,
        width,
        height,
        planes: [0, 1, 2, 3].map(|k| (lens[k] > 0).then(|| &planes[k][..])),
        strides,
        color_matrix: matrix,
        color_range: range,
        chroma_location: siting,
        ..FrameRef::default()
    };
    let Ok(frame) = Frame::new(&raw) else { return };
    let Ok(crop) = FaceCrop::for_face(&Face::with_roll(bbox, roll), width, height, 1.5) else {
        return;
    };
    let size = SampleSize { width: w, height: h };
    let mut out = vec![0u8; size.pixels() * 3];
    sample_crop(&frame, &crop, size, &mut CropScratch::default(), &mut out);
});
