//! The CUDA half of the TensorRT backend on a real GPU (no TensorRT needed): pinned staging,
//! the async copies, and the u8 -> f32 planar conversion on the GPU (NVRTC) and on the host,
//! both against the CPU reference (`model::to_planar`). The GPU test is ignored by default and
//! run by scripts/gpu-check.sh with `--ignored`; where it runs, it runs in full or fails.
#![cfg(all(feature = "tensorrt", lmbatch_trt_shim))]

use lmbatch::backend::tensorrt::cuda::{compile_kernel, driver_present, BatchBuffers, Gpu};
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

/// Stages batches through `buffers` and compares the GPU's float input with the CPU reference.
fn check_conversion(gpu: &Gpu, mut buffers: BatchBuffers, how: &str) {
    let spec = ModelSpec::face_landmark_468();
    let plane = spec.sample_size().pixels();
    for n in [1usize, 7, 32] {
        let batch = crops(n, spec.crop_bytes());
        let views: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let mut expected = Vec::new();
        to_planar(&views, plane, spec.input_scale, &mut expected);
        let started = std::time::Instant::now();
        buffers.stage(gpu, &views).unwrap();
        gpu.synchronize().unwrap();
        let staged_us = started.elapsed().as_micros();
        let bytes = buffers.read_input(gpu, n).unwrap();
        let got: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!("{how} conversion, batch {n:>2}: staged in {staged_us} us, max |diff| {worst:e}");
        assert_eq!(got.len(), expected.len());
        assert!(worst <= 1e-6, "{how}, batch {n}: {worst}");
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn staging_and_conversion_match_the_cpu_reference() {
    let gpu = Gpu::open(0).unwrap_or_else(|e| panic!("the GPU does not open: {e}"));
    println!(
        "GPU: {} sm {}.{}",
        gpu.identity.name, gpu.identity.compute_capability.0, gpu.identity.compute_capability.1
    );
    let spec = ModelSpec::face_landmark_468();
    let outputs = [(spec.point_floats(), true), (1, true)];
    let buffers = |kernel| BatchBuffers::new(&gpu, kernel, 32, &spec, &outputs).expect("buffers");
    // The batch-end event (blocking sync, no timing, made with raw flags) records and waits.
    let event = gpu.new_event().expect("a CUDA event");
    gpu.record(&event).expect("event record");
    gpu.wait(&event).expect("event wait");
    drop(event);
    // The host conversion first: it needs no NVRTC, so its result is known whatever follows.
    let host = buffers(None);
    assert!(!host.converts_on_gpu());
    check_conversion(&gpu, host, "host");

    let kernel = compile_kernel(&gpu);
    for line in &kernel.fell_back {
        println!("{line}");
    }
    match kernel.outcome {
        Ok((function, form)) => {
            println!("conversion kernel loaded as {form}");
            let on_gpu = buffers(Some(function));
            assert!(on_gpu.converts_on_gpu());
            check_conversion(&gpu, on_gpu, "GPU");
        }
        Err(why) => panic!("the GPU conversion kernel is missing (the host one passed): {why}"),
    }
}

/// Without a CUDA driver, opening the GPU is BACKEND_UNAVAILABLE, never a panic.
#[test]
fn without_a_driver_the_gpu_is_unavailable_never_a_panic() {
    if driver_present() {
        println!("SKIPPED: a CUDA driver is present here (the ignored GPU test covers it)");
        return;
    }
    let e = Gpu::open(0).map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), lmbatch::ErrorKind::BackendUnavailable);
    assert!(e.message().contains("no CUDA driver"), "{}", e.message());
}
