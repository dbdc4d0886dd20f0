//! The CUDA half of the TensorRT backend on a real GPU (no TensorRT needed): pinned staging,
//! the async copies, and the u8 -> f32 planar conversion on the GPU (NVRTC) and on the host,
//! both against the CPU reference (`model::to_planar`). Runs only with LMBATCH_TEST_CUDA=1
//! (scripts/gpu-check.sh sets it); elsewhere it checks that opening the GPU fails cleanly.
#![cfg(all(feature = "tensorrt", lmbatch_trt_shim))]

use lmbatch::model::{to_planar, ModelSpec};

fn crops(n: usize, bytes: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| {
            (0..bytes)
                .map(|i| ((i * 31 + k * 17 + i / 7) % 256) as u8)
                .collect()
        })
        .collect()
}

#[test]
fn staging_and_conversion_match_the_cpu_reference() {
    use lmbatch::backend::tensorrt::cuda::{compile_kernel, BatchBuffers, Gpu};
    let on_gpu = std::env::var("LMBATCH_TEST_CUDA").as_deref() == Ok("1");
    let gpu = match Gpu::open(0) {
        Ok(gpu) => gpu,
        Err(e) => {
            assert!(
                !on_gpu,
                "LMBATCH_TEST_CUDA=1 but the GPU does not open: {e}"
            );
            println!(
                "no GPU here ({}); the CUDA half is checked by scripts/gpu-check.sh",
                e.message()
            );
            assert_eq!(e.kind(), lmbatch::ErrorKind::BackendUnavailable);
            return;
        }
    };
    println!(
        "GPU: {} sm {}.{}",
        gpu.identity.name, gpu.identity.compute_capability.0, gpu.identity.compute_capability.1
    );
    let spec = ModelSpec::face_landmark_468();
    let side = spec.input_size as usize;
    let max_batch = 32;
    let kernel = compile_kernel(&gpu).expect("NVRTC compiles the conversion kernel here");
    for host_conversion in [false, true] {
        let buffers = BatchBuffers::new(
            &gpu,
            (!host_conversion).then(|| kernel.clone()),
            max_batch,
            side,
            spec.input_scale,
            &[(spec.point_floats(), true), (1, true)],
        );
        let mut buffers = buffers.expect("buffers");
        assert_eq!(buffers.converts_on_gpu(), !host_conversion);
        for n in [1usize, 7, 32] {
            let batch = crops(n, spec.crop_bytes());
            let views: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            let mut expected = Vec::new();
            to_planar(&views, side, spec.input_scale, &mut expected);
            let started = std::time::Instant::now();
            buffers.stage(&gpu, &views).unwrap();
            gpu.synchronize().unwrap();
            let staged_us = started.elapsed().as_micros();
            let got = buffers.read_input(&gpu, n).unwrap();
            let worst = got
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            println!(
                "{} conversion, batch {n:>2}: staged in {staged_us} us, max |diff| {worst:e}",
                if host_conversion { "host" } else { "GPU" }
            );
            assert_eq!(got.len(), expected.len());
            assert!(worst <= 1e-6, "batch {n}: {worst}");
        }
    }
}
