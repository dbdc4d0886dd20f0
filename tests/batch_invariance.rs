//! The same face gives the same points alone and in every slot of a full batch of 32 (1e-3 px on
//! the CPU backends, the self-check tolerance on TensorRT), through the whole pipeline.
#![cfg(feature = "cpu-tract")]

mod common;

use std::time::Duration;

use common::*;
use lmbatch::{BackendChoice, Config, Pipeline, Popped};

fn points(p: &Popped) -> Vec<f32> {
    match p {
        Popped::Landmarks(l) => l.points.clone(),
        other => panic!("expected landmarks, got {other:?}"),
    }
}

#[test]
fn a_face_alone_and_in_each_slot_of_a_batch_of_32_gives_the_same_points() {
    for (code, name) in cpu_backends() {
        println!("{name}");
        // TensorRT picks kernels per batch size (FP16 on TensorRT 10): held to the tolerance of
        // its own create-time self-check, which refuses engines that break invariance.
        let tolerance = if name == "tensorrt" {
            lmbatch::backend::self_check::TOLERANCE_PX
        } else {
            1e-3
        };
        invariance(lmbatch::BackendChoice::from_raw(code).unwrap(), tolerance);
    }
}

fn invariance(backend: BackendChoice, tolerance: f32) {
    let faces = eval_faces();
    let target = astronaut();
    let alone = {
        let p = Pipeline::new(Config {
            backend,
            max_wait: Duration::ZERO,
            ..Config::default()
        })
        .unwrap();
        p.enqueue(0, &target.raw(), &target.face_box()).unwrap();
        points(&p.pop_wait(0, Duration::from_secs(60)))
    };
    // A deadline far away: batches go only when all 32 are there.
    let p = Pipeline::new(Config {
        backend,
        max_wait: Duration::from_secs(120),
        queue_capacity: Some(64),
        ..Config::default()
    })
    .unwrap();
    for slot in 0..32u64 {
        let base = slot * 100;
        let mut filler = faces.iter().cycle();
        for k in 0..32u64 {
            if k == slot {
                p.enqueue(base + k, &target.raw(), &target.face_box())
                    .unwrap();
            } else {
                let f = filler.next().unwrap();
                p.enqueue(base + k, &f.raw(), &f.face_box()).unwrap();
            }
        }
        let got = points(&p.pop_wait(base + slot, Duration::from_secs(120)));
        let worst = got
            .iter()
            .zip(&alone)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= tolerance, "slot {slot}: max |diff| {worst} px");
        for k in 0..32 {
            assert!(matches!(
                p.pop_wait(base + k, Duration::from_secs(120)),
                Popped::Landmarks(_) | Popped::NotFound
            ));
        }
    }
    let s = p.stats();
    assert_eq!(
        s.counters.batch_size_hist[32], 32,
        "every batch was full: {:?}",
        s.counters.batch_size_hist
    );
}
