//! The batch-invariance self-check: a backend must give the same points for a crop whether it
//! runs alone or in any slot of a full batch. TensorRT picks kernels per batch size and has known
//! cases where they disagree; a backend that fails this is not used.

use super::{Backend, BatchOutput};
use crate::error::{Error, ErrorKind, Result};

/// Largest difference allowed, in pixels of the model input (192 px): FP16 engines differ from
/// run to run by hundredths of a pixel; a kernel that breaks invariance is off by whole pixels.
pub const TOLERANCE_PX: f32 = 0.5;

/// A deterministic test crop with structure at several scales (a face-free pattern is as good as
/// a face for invariance: the check compares the network with itself).
pub fn probe_crop(bytes: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..bytes)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let gradient = ((i / 3) % 192) as u32 + ((i / 576) % 192) as u32;
            (gradient / 2 + (state & 31)) as u8
        })
        .collect()
}

/// Runs a crop alone, then in every slot of a full batch, then amid other crops, and returns the
/// largest difference found. Fails with BACKEND_UNAVAILABLE when it exceeds `tolerance`, so AUTO
/// falls back and says why.
pub fn check_batch_invariance(backend: &mut dyn Backend, tolerance: f32) -> Result<f32> {
    let crop_bytes = backend.spec().crop_bytes();
    let point_floats = backend.spec().point_floats();
    let max_batch = backend.max_batch();
    let probe = probe_crop(crop_bytes, 1);
    let fillers: Vec<Vec<u8>> = (0..max_batch)
        .map(|i| probe_crop(crop_bytes, 100 + i as u32))
        .collect();
    let mut out = BatchOutput::default();
    backend.infer(&[&probe], &mut out)?;
    let alone = out.points.clone();
    if alone.len() != point_floats {
        return Err(Error::new(
            ErrorKind::BackendUnavailable,
            "self-check: the backend returned a wrong number of points",
        ));
    }
    let mut worst = 0.0f32;
    // Run 1: the probe in every slot (any slot position that computes differently shows).
    // Run 2: other crops around it (a slot that leaks into its neighbours shows).
    let everywhere: Vec<&[u8]> = vec![probe.as_slice(); max_batch];
    let mut mixed: Vec<&[u8]> = fillers.iter().map(Vec::as_slice).collect();
    mixed[max_batch / 2] = &probe;
    for (crops, slots) in [
        (everywhere, (0..max_batch).collect::<Vec<_>>()),
        (mixed, vec![max_batch / 2]),
    ] {
        backend.infer(&crops, &mut out)?;
        for slot in slots {
            let got = out
                .points
                .get(slot * point_floats..(slot + 1) * point_floats)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::BackendUnavailable,
                        "self-check: the backend returned too few points for a full batch",
                    )
                })?;
            for (a, b) in alone.iter().zip(got) {
                let d = (a - b).abs();
                if !d.is_finite() || d > tolerance {
                    return Err(Error::new(
                        ErrorKind::BackendUnavailable,
                        format!(
                            "self-check failed: a crop alone and in slot {slot} of a batch of \
                             {max_batch} differ by {d} px (tolerance {tolerance} px); this \
                             engine is not batch-invariant"
                        ),
                    ));
                }
                worst = worst.max(d);
            }
        }
    }
    Ok(worst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSpec;

    /// Points computed from each crop's first bytes, shifted by `skew` px in batches of more than
    /// one and by `leak` × how much the previous item's first byte differs from its own (a slot
    /// reading its neighbour).
    struct Scripted {
        spec: ModelSpec,
        skew: f32,
        leak: f32,
    }

    impl Backend for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn max_batch(&self) -> usize {
            8
        }
        fn spec(&self) -> &ModelSpec {
            &self.spec
        }
        fn infer(&mut self, crops: &[&[u8]], out: &mut BatchOutput) -> Result<()> {
            out.points.clear();
            out.scores.clear();
            for (i, crop) in crops.iter().enumerate() {
                let own = f32::from(crop[0]) + f32::from(crop[1]) / 7.0;
                let neighbour = if i > 0 {
                    f32::from(crops[i - 1][0]) - f32::from(crop[0])
                } else {
                    0.0
                };
                let skew = if crops.len() > 1 { self.skew } else { 0.0 };
                let shift = skew + self.leak * neighbour;
                out.points
                    .extend(std::iter::repeat_n(own + shift, self.spec.point_floats()));
                out.scores.push(1.0);
            }
            Ok(())
        }
    }

    fn check(skew: f32, leak: f32) -> Result<f32> {
        let mut backend = Scripted {
            spec: ModelSpec::face_landmark_468(),
            skew,
            leak,
        };
        check_batch_invariance(&mut backend, TOLERANCE_PX)
    }

    #[test]
    fn an_invariant_backend_passes_and_a_batch_dependent_one_is_refused() {
        assert_eq!(check(0.0, 0.0).unwrap(), 0.0);
        assert!((check(0.3, 0.0).unwrap() - 0.3).abs() < 1e-3);
        let skewed = check(2.0, 0.0).unwrap_err();
        assert_eq!(skewed.kind(), ErrorKind::BackendUnavailable);
        assert!(skewed.message().contains("slot 0"), "{}", skewed.message());
        // Identical neighbours hide a leak in run 1; the mixed run shows it.
        let leaky = check(0.0, 1.0).unwrap_err();
        assert!(leaky.message().contains("slot 4"), "{}", leaky.message());
    }
}
