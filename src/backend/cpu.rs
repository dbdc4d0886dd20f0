//! The CPU backend: tract-onnx, pure Rust, always built; the embedded default.
//!
//! tract runs a plan built for a FIXED batch size about 2.4× faster than one with a symbolic batch
//! (`models/README.md`), so plans are built per size (about 50 ms each) and kept. One tract run
//! uses one core; a batch is split into one slice per core, each slice runs on its own scoped
//! thread, so every core works and no thread outlives the call.
//!
//! Within a slice, faces go through the plan [`FACES_PER_RUN`] at a time. Measured with
//! `cargo bench --bench tract_plans` on the 2-core development machine: a batch of 32 over 2 cores
//! took 204 ms as 16 runs of the batch-1 plan per core, and 324 ms as one run of a batch-16 plan
//! per core (tract's per-face cost grows with the batch on a CPU: 12.3 ms at 1, 22.4 ms at 16).
//! The batch is still ONE call of this backend; how it uses the cores is its own business.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use tract_onnx::prelude::*;

use super::{Backend, BatchOutput, ModelSource, OpenRequest};
use crate::descriptor::DType;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    decode_outputs, write_input_f16, write_input_f32, write_input_u8, ModelSpec, DEFAULT_MODEL_ONNX,
};

type Plan = Arc<TypedRunnableModel>;

/// Faces per tract run (see the module doc for the measurement behind 1).
const FACES_PER_RUN: usize = 1;

pub struct TractBackend {
    spec: ModelSpec,
    max_batch: usize,
    /// The parsed network with its batch still open; plans are made from it.
    network: InferenceModel,
    plans: HashMap<usize, Plan>,
    threads: usize,
}

fn model_error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::ModelError, format!("{context}: {e}"))
}

impl TractBackend {
    pub fn open(request: &OpenRequest) -> Result<Self> {
        let network = match &request.model {
            ModelSource::Bundled => {
                tract_onnx::onnx().model_for_read(&mut Cursor::new(DEFAULT_MODEL_ONNX))
            }
            ModelSource::Path(path) => {
                if !path.is_file() {
                    return Err(Error::new(
                        ErrorKind::ModelError,
                        format!(
                            "model file {} does not exist or is not a file",
                            path.display()
                        ),
                    ));
                }
                tract_onnx::onnx().model_for_path(path)
            }
        }
        .map_err(|e| model_error("cannot read the ONNX model", e))?;
        let spec = request.spec.clone();
        let mut network = network;
        let mut outputs = vec![spec.landmarks_name.as_str()];
        if spec.score.is_some() {
            outputs.push(spec.score_name.as_str());
        }
        network
            .select_outputs_by_name(outputs)
            .map_err(|e| model_error("the model lacks the outputs its descriptor names", e))?;
        let input_count = network.input_outlets().map(|o| o.len()).unwrap_or(0);
        if input_count != 1 {
            return Err(Error::new(
                ErrorKind::ModelError,
                format!("the model has {input_count} inputs, expected 1"),
            ));
        }
        let threads = request
            .cpu_threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
            .clamp(1, request.max_batch);
        let mut backend = TractBackend {
            spec,
            max_batch: request.max_batch,
            network,
            plans: HashMap::new(),
            threads,
        };
        // Building the batch-1 plan checks the model now, so a bad file fails `create`, not a batch.
        let plan = backend.plan(1)?;
        backend.check_output_shapes(&plan)?;
        Ok(backend)
    }

    /// The plan for a batch of exactly `n`, built on first use.
    fn plan(&mut self, n: usize) -> Result<Plan> {
        if let Some(plan) = self.plans.get(&n) {
            return Ok(plan.clone());
        }
        let shape = self.spec.input_shape(n);
        let fact = match self.spec.input.dtype {
            DType::U8 => u8::fact(shape),
            DType::F16 => f16::fact(shape),
            DType::F32 => f32::fact(shape),
        };
        let plan = self
            .network
            .clone()
            .with_input_fact(0, fact.into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| model_error(&format!("cannot build the plan for batch {n}"), e))?;
        self.plans.insert(n, plan.clone());
        Ok(plan)
    }

    fn check_output_shapes(&self, plan: &Plan) -> Result<()> {
        let model = plan.model();
        let shape = |ix: usize| -> Result<Vec<usize>> {
            let fact = model
                .output_fact(ix)
                .map_err(|e| model_error("output", e))?;
            fact.shape
                .as_concrete()
                .map(|s| s.to_vec())
                .ok_or_else(|| model_error("output shape", "not concrete"))
        };
        // Per item, the landmark output holds points × dims values and the score output at
        // least the column the descriptor reads; their other dimensions are free ([1, 468, 3],
        // [1, 1, 1, 1434], [1, 1]).
        let per_item = |s: &[usize]| s.iter().skip(1).product::<usize>();
        let points = shape(0)?;
        let want = self.spec.raw_point_values();
        if points.first() != Some(&1) || per_item(&points) != want {
            return Err(Error::new(
                ErrorKind::ModelError,
                format!(
                    "the landmark output {:?} is {points:?}: points.count x points.dims = {want} \
                     values per face expected",
                    self.spec.landmarks_name
                ),
            ));
        }
        if let Some(conv) = self.spec.score {
            let score = shape(1)?;
            if score.first() != Some(&1) || per_item(&score) <= conv.index as usize {
                return Err(Error::new(
                    ErrorKind::ModelError,
                    format!(
                        "the score output {:?} is {score:?}: score.index {} is not one of its columns",
                        self.spec.score_name, conv.index
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// How a batch of `n` faces is split over `threads` threads (the worker runs the first slice, each
/// other slice gets a scoped thread): near-equal contiguous slices, never more than `n`, never an
/// empty one.
fn slice_bounds(n: usize, threads: usize) -> Vec<(usize, usize)> {
    let slices = threads.clamp(1, n.max(1)).min(n);
    let mut bounds = Vec::with_capacity(slices);
    let mut start = 0;
    for k in 0..slices {
        let len = n / slices + usize::from(k < n % slices);
        bounds.push((start, start + len));
        start += len;
    }
    bounds
}

/// Runs one slice of the batch, [`FACES_PER_RUN`] faces at a time; returns (points, scores).
fn run_slice(
    plans: &HashMap<usize, Plan>,
    crops: &[&[u8]],
    spec: &ModelSpec,
) -> TractResult<(Vec<f32>, Vec<f32>)> {
    let (mut points, mut scores) = (Vec::new(), Vec::new());
    for run in crops.chunks(FACES_PER_RUN) {
        let plan = plans
            .get(&run.len())
            .ok_or_else(|| TractError::msg(format!("no plan for {} faces", run.len())))?;
        let shape = spec.input_shape(run.len());
        let values = run.len() * spec.input_values();
        let tensor = match spec.input.dtype {
            DType::U8 => {
                let mut input = vec![0u8; values];
                write_input_u8(run, spec, &mut input);
                Tensor::from_shape(&shape, &input)?
            }
            DType::F16 => {
                let mut input = vec![f16::ZERO; values];
                write_input_f16(run, spec, &mut input);
                Tensor::from_shape(&shape, &input)?
            }
            DType::F32 => {
                let mut input = vec![0f32; values];
                write_input_f32(run, spec, &mut input);
                Tensor::from_shape(&shape, &input)?
            }
        };
        let outputs = plan.run(tvec!(tensor.into_tvalue()))?;
        let raw = outputs[0].try_as_plain_ram()?.as_slice::<f32>()?;
        let rows = match spec.score {
            Some(_) => Some(outputs[1].try_as_plain_ram()?.as_slice::<f32>()?),
            None => None,
        };
        decode_outputs(raw, rows, run.len(), spec, &mut points, &mut scores);
    }
    Ok((points, scores))
}

impl Backend for TractBackend {
    fn name(&self) -> &str {
        "cpu-tract"
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn infer(&mut self, crops: &[&[u8]], out: &mut BatchOutput) -> Result<()> {
        let n = crops.len();
        if n == 0 || n > self.max_batch {
            return Err(Error::new(
                ErrorKind::Internal,
                format!("batch of {n} items, max {}", self.max_batch),
            ));
        }
        let bounds = slice_bounds(n, self.threads);
        for &(start, end) in &bounds {
            let len = end - start;
            for run in (0..len).step_by(FACES_PER_RUN) {
                self.plan(FACES_PER_RUN.min(len - run))?;
            }
        }
        let (spec, plans) = (&self.spec, &self.plans);
        let results: Vec<TractResult<(Vec<f32>, Vec<f32>)>> = std::thread::scope(|scope| {
            let mut rest = bounds.iter();
            let Some(&(s0, e0)) = rest.next() else {
                return Vec::new();
            };
            let handles: Vec<_> = rest
                .map(|&(s, e)| scope.spawn(move || run_slice(plans, &crops[s..e], spec)))
                .collect();
            let mut results = vec![run_slice(plans, &crops[s0..e0], spec)];
            for handle in handles {
                results.push(
                    handle
                        .join()
                        .unwrap_or_else(|_| Err(TractError::msg("a tract thread panicked"))),
                );
            }
            results
        });
        out.points.clear();
        out.scores.clear();
        for result in results {
            let (points, scores) = result
                .map_err(|e| Error::new(ErrorKind::InferenceFailed, format!("tract: {e}")))?;
            out.points.extend_from_slice(&points);
            out.scores.extend_from_slice(&scores);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::slice_bounds;

    #[test]
    fn one_thread_runs_the_whole_batch_as_one_slice() {
        for n in [1, 7, 32] {
            assert_eq!(slice_bounds(n, 1), vec![(0, n)]);
        }
    }

    #[test]
    fn slices_are_near_equal_contiguous_and_never_more_than_the_faces() {
        assert_eq!(slice_bounds(32, 2), vec![(0, 16), (16, 32)]);
        assert_eq!(slice_bounds(7, 3), vec![(0, 3), (3, 5), (5, 7)]);
        assert_eq!(slice_bounds(2, 16), vec![(0, 1), (1, 2)]);
        for threads in 1..=8 {
            for n in 1..=32 {
                let b = slice_bounds(n, threads);
                assert_eq!(b.len(), threads.min(n));
                assert_eq!((b[0].0, b[b.len() - 1].1), (0, n));
                assert!(b.windows(2).all(|w| w[0].1 == w[1].0));
                let (lo, hi) = b.iter().fold((usize::MAX, 0), |(lo, hi), &(s, e)| {
                    (lo.min(e - s), hi.max(e - s))
                });
                assert!(lo >= 1 && hi - lo <= 1, "{n} over {threads}: {b:?}");
            }
        }
    }
}
