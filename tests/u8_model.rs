//! models/face_landmark_468_u8.onnx (the served model: uint8 NHWC crops in) gives the bundled
//! model's outputs, within 1e-4 px, on real and random crops (tract runs both).
#![cfg(feature = "cpu-tract")]

mod common;

use tract_onnx::prelude::*;

fn plan(file: &str, fact: InferenceFact) -> Arc<TypedRunnableModel> {
    let path = common::data_dir().join("../../models").join(file);
    tract_onnx::onnx()
        .model_for_path(path)
        .and_then(|m| m.with_input_fact(0, fact))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .expect(file)
}

#[test]
fn the_u8_model_equals_the_original_within_1e_4_px() {
    let n = 3;
    let original = plan("face_landmark_468.onnx", f32::fact([n, 3, 192, 192]).into());
    let wrapped = plan(
        "face_landmark_468_u8.onnx",
        u8::fact([n, 192, 192, 3]).into(),
    );
    // One real face crop (the astronaut's, staged by the library) and two of noise.
    let face = common::astronaut();
    let mut crops = vec![0u8; n * 192 * 192 * 3];
    let pipeline_crop =
        lmbatch::image::CropRect::for_box(&face.face_box(), face.width, face.height, 1.5).unwrap();
    let view = lmbatch::image::FrameView::new(
        &face.frame,
        face.width,
        face.height,
        face.stride,
        lmbatch::image::PixelFormat::from_raw(face.format).unwrap(),
    )
    .unwrap();
    let mut scratch = lmbatch::image::ResizeScratch::default();
    lmbatch::image::crop_resize(
        &view,
        &pipeline_crop,
        192,
        192,
        &mut scratch,
        &mut crops[..192 * 192 * 3],
    );
    let mut rng = common::Rng::new(5);
    for b in &mut crops[192 * 192 * 3..] {
        *b = rng.below(256) as u8;
    }
    let views: Vec<&[u8]> = crops.chunks_exact(192 * 192 * 3).collect();
    let mut planar = Vec::new();
    lmbatch::model::to_planar(&views, 192 * 192, 1.0 / 255.0, &mut planar);
    let a = original
        .run(tvec!(Tensor::from_shape(&[n, 3, 192, 192], &planar)
            .unwrap()
            .into_tvalue()))
        .unwrap();
    let b = wrapped
        .run(tvec!(Tensor::from_shape(&[n, 192, 192, 3], &crops)
            .unwrap()
            .into_tvalue()))
        .unwrap();
    for (x, y) in a.iter().zip(b.iter()) {
        let plain = |t: &TValue| {
            t.try_as_plain_ram()
                .unwrap()
                .as_slice::<f32>()
                .unwrap()
                .to_vec()
        };
        let (x, y) = (plain(x), plain(y));
        assert_eq!(x.len(), y.len());
        let worst = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        println!("{} values, worst difference {worst:e}", x.len());
        assert!(worst <= 1e-4, "the u8 model differs by {worst}");
    }
}
