//! A backend that runs no model: every point lands at the centre of its crop. It measures the
//! library's own costs (validation, crop, queue, batching, store) in benchmarks and soak runs.

use super::{Backend, BatchOutput};
use crate::error::Result;
use crate::model::ModelSpec;

pub struct NullBackend {
    spec: ModelSpec,
    max_batch: usize,
}

impl NullBackend {
    pub fn new(max_batch: usize) -> Self {
        NullBackend {
            spec: ModelSpec::face_landmark_468(),
            max_batch,
        }
    }
}

impl Backend for NullBackend {
    fn name(&self) -> &str {
        "null"
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn infer(&mut self, crops: &[&[u8]], out: &mut BatchOutput) -> Result<()> {
        // Every point at the input's centre (z: the centre's x, as before non-square inputs).
        let (cx, cy) = (
            self.spec.input_width as f32 / 2.0,
            self.spec.input_height as f32 / 2.0,
        );
        out.points.clear();
        for _ in 0..crops.len() * self.spec.num_points as usize {
            out.points.extend_from_slice(&[cx, cy, cx]);
        }
        out.scores.clear();
        out.scores.resize(crops.len(), 1.0);
        Ok(())
    }
}
