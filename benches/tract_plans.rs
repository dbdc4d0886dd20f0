//! How tract's cost per face depends on the fixed batch size of its plan, and what building a plan
//! costs; this decides how the CPU backend slices a batch. Run: `cargo bench --bench tract_plans`.

use std::io::Cursor;
use std::time::Instant;

use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    let network =
        tract_onnx::onnx().model_for_read(&mut Cursor::new(lmbatch::model::DEFAULT_MODEL_ONNX))?;
    println!(
        "{:>6} {:>14} {:>16} {:>16}",
        "batch", "build ms", "ms per batch", "ms per face"
    );
    for n in [1usize, 2, 4, 8, 16] {
        let t0 = Instant::now();
        let plan = network
            .clone()
            .with_input_fact(0, f32::fact([n, 3, 192, 192]).into())?
            .into_optimized()?
            .into_runnable()?;
        let build = t0.elapsed();
        let input = Tensor::zero::<f32>(&[n, 3, 192, 192])?;
        plan.run(tvec!(input.clone().into_tvalue()))?; // warm-up
        let runs = (32 / n).max(2);
        let t0 = Instant::now();
        for _ in 0..runs {
            plan.run(tvec!(input.clone().into_tvalue()))?;
        }
        let per_batch = t0.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        println!(
            "{n:>6} {:>14.1} {per_batch:>16.2} {:>16.2}",
            build.as_secs_f64() * 1000.0,
            per_batch / n as f64
        );
    }

    // A batch of 32 on every core: one slice per core, each slice either as ONE run of a plan of
    // the slice's size, or as runs of the batch-1 plan.
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let slice = 32 / cores;
    let build = |n: usize| -> TractResult<_> {
        network
            .clone()
            .with_input_fact(0, f32::fact([n, 3, 192, 192]).into())?
            .into_optimized()?
            .into_runnable()
    };
    let (whole, single) = (build(slice)?, build(1)?);
    let run =
        |plan: &std::sync::Arc<TypedRunnableModel>, n: usize, times: usize| -> TractResult<()> {
            let input = Tensor::zero::<f32>(&[n, 3, 192, 192])?;
            for _ in 0..times {
                plan.run(tvec!(input.clone().into_tvalue()))?;
            }
            Ok(())
        };
    println!("\nbatch of 32 over {cores} cores ({slice} faces per core):");
    for (name, plan, n, times) in [
        ("one run of a batch-{slice} plan per core", &whole, slice, 1),
        (
            "{slice} runs of the batch-1 plan per core",
            &single,
            1,
            slice,
        ),
    ] {
        let t0 = Instant::now();
        for _ in 0..3 {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..cores)
                    .map(|_| s.spawn(|| run(plan, n, times)))
                    .collect();
                handles
                    .into_iter()
                    .try_for_each(|h| h.join().unwrap_or_else(|_| Err(TractError::msg("panic"))))
            })?;
        }
        let ms = t0.elapsed().as_secs_f64() * 1000.0 / 3.0;
        println!(
            "  {:<44} {ms:>8.1} ms per batch, {:>6.2} ms per face",
            name.replace("{slice}", &slice.to_string()),
            ms / 32.0
        );
    }
    Ok(())
}
