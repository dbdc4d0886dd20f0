//! The OpenVINO CPU backend, loaded at RUN time: the library links nothing of OpenVINO and opens
//! `libopenvino_c.so*` (from `OPENVINO_LIB_PATH`, the file or its folder, else the loader's path)
//! when a handle asks for it. Where none loads, or it lacks the CPU plugin, it reports
//! BACKEND_UNAVAILABLE and AUTO moves on to ONNX Runtime.
//!
//! One compiled model per handle with a dynamic batch 1..max_batch, THROUGHPUT mode with up to two
//! streams and one infer request per stream: the worker starts a batch and stages the next while
//! it runs (the [`Overlapped`] view, as for TensorRT), so two batches run at once on two streams.
//! The precision is set explicitly (OpenVINO's own default on CPUs with BF16 is BF16). The compiled
//! model's streams and OpenVINO's TBB pool end with the core (tests/openvino.rs counts threads).

pub mod api;

use api::{
    CompiledModel, Core, Dimension, InferRequest, Properties, ELEMENT_F16, ELEMENT_F32, ELEMENT_U8,
};

use super::{
    Backend, BatchOutput, ModelSource, OpenRequest, Overlapped, Precision, SlotRing, MAX_IN_FLIGHT,
    PRECISION_BF16, PRECISION_FP32,
};
use crate::descriptor::DType;
use crate::error::{Error, ErrorKind, Result};
use crate::log::LogLevel;
use crate::model::{
    decode_outputs, write_input_f16, write_input_f32, write_input_u8, ModelSpec, DEFAULT_MODEL_ONNX,
};

pub use api::LIB_ENV;

const DEVICE: &str = "CPU";

fn unavailable(message: String) -> Error {
    Error::new(ErrorKind::BackendUnavailable, message)
}

fn model_error(context: &str, why: String) -> Error {
    Error::new(ErrorKind::ModelError, format!("OpenVINO: {context}: {why}"))
}

fn failed(context: &str, why: String) -> Error {
    Error::new(
        ErrorKind::InferenceFailed,
        format!("OpenVINO: {context}: {why}"),
    )
}

/// A batch's input, kept in the slot while its inference reads it.
enum Input {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
    U8(Vec<u8>),
}

/// One infer request and the input it reads.
struct Slot {
    request: InferRequest,
    input: Input,
    items: usize,
}

pub struct OpenVinoBackend {
    // Field order is drop order: the requests (which wait for a running inference) before the
    // compiled model, before the core that loaded the plugin.
    slots: Vec<Slot>,
    _compiled: CompiledModel,
    _core: Core,
    ring: SlotRing,
    spec: ModelSpec,
    max_batch: usize,
    precision: i32,
}

/// Whether OpenVINO's CPU plugin says this CPU computes in BF16 natively
/// (`OPTIMIZATION_CAPABILITIES`, e.g. "FP32 BF16 INT8 BIN EXPORT_IMPORT").
pub fn has_bf16(capabilities: &str) -> bool {
    capabilities
        .split(|c: char| c.is_whitespace() || c == ',')
        .any(|c| c == "BF16")
}

/// The batch-dynamic input shape: `1..max_batch` items of the descriptor's item shape.
fn dynamic_input(spec: &ModelSpec, max_batch: usize) -> Vec<Dimension> {
    let shape = spec.input_shape(1);
    let mut dims = vec![Dimension {
        min: 1,
        max: max_batch as i64,
    }];
    dims.extend(shape[1..].iter().map(|&d| Dimension {
        min: d as i64,
        max: d as i64,
    }));
    dims
}

impl OpenVinoBackend {
    pub fn open(request: &OpenRequest) -> Result<Self> {
        let api = api::api().map_err(unavailable)?;
        let core = Core::new(api)
            .map_err(|why| unavailable(format!("OpenVINO {} cannot start: {why}", api.version)))?;
        // Asking the CPU plugin anything loads it: a library without it stops here.
        let capabilities = core
            .property(DEVICE, "OPTIMIZATION_CAPABILITIES")
            .map_err(|why| {
                unavailable(format!(
                    "the OpenVINO at {:?} (version {}) has no usable CPU plugin \
                     (libopenvino_intel_cpu_plugin.so beside it): {why}",
                    api.path, api.version
                ))
            })?;
        let bf16 = request.precision == Precision::Reduced && has_bf16(&capabilities);
        let spec = request.spec.clone();
        let model = match &request.model {
            ModelSource::Bundled => core.read_model_bytes(DEFAULT_MODEL_ONNX),
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
                core.read_model_file(path)
            }
        }
        .map_err(|why| model_error("cannot read the model", why))?;
        let inputs = model.inputs().map_err(|why| model_error("inputs", why))?;
        let mut missing = Vec::new();
        if inputs != 1 || !model.has_tensor(&spec.input_name, false).unwrap_or(false) {
            missing.push(format!("one input {:?} (it has {inputs})", spec.input_name));
        }
        let mut outputs = vec![spec.landmarks_name.as_str()];
        if spec.score.is_some() {
            outputs.push(spec.score_name.as_str());
        }
        for name in outputs {
            if !model.has_tensor(name, true).unwrap_or(false) {
                missing.push(format!("output {name:?}"));
            }
        }
        if !missing.is_empty() {
            return Err(Error::new(
                ErrorKind::ModelError,
                format!("the model lacks {}", missing.join(", ")),
            ));
        }
        model
            .reshape_input(&spec.input_name, &dynamic_input(&spec, request.max_batch))
            .map_err(|why| {
                model_error(
                    &format!("cannot give the input a batch of 1..{}", request.max_batch),
                    why,
                )
            })?;
        let threads = request.cpu_threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        // One stream per batch the worker keeps in flight, never more streams than threads.
        let streams = threads.clamp(1, MAX_IN_FLIGHT);
        let cache_dir = match &request.engine_cache_dir {
            Some(dir) => dir.to_str().map(str::to_string).ok_or_else(|| {
                Error::invalid(format!("engine_cache_dir {} is not UTF-8", dir.display()))
            })?,
            None => String::new(),
        };
        let properties = Properties::new(
            "THROUGHPUT",
            streams,
            if bf16 { "bf16" } else { "f32" },
            threads,
            &cache_dir,
        );
        let compiled = core
            .compile(&model, DEVICE, &properties)
            .map_err(|why| model_error("cannot compile the model for the CPU", why))?;
        drop(model);
        let ran = compiled
            .property("INFERENCE_PRECISION_HINT")
            .unwrap_or_default();
        let precision = if ran.eq_ignore_ascii_case("bf16") {
            PRECISION_BF16
        } else {
            PRECISION_FP32
        };
        let mut slots = Vec::with_capacity(MAX_IN_FLIGHT);
        for _ in 0..MAX_IN_FLIGHT {
            let values = request.max_batch * spec.input_values();
            slots.push(Slot {
                request: compiled
                    .infer_request()
                    .map_err(|why| model_error("infer request", why))?,
                input: match spec.input.dtype {
                    DType::U8 => Input::U8(vec![0; values]),
                    DType::F16 => Input::F16(vec![half::f16::ZERO; values]),
                    DType::F32 => Input::F32(vec![0.0; values]),
                },
                items: 0,
            });
        }
        let mut backend = OpenVinoBackend {
            slots,
            _compiled: compiled,
            _core: core,
            ring: SlotRing::default(),
            spec,
            max_batch: request.max_batch,
            precision,
        };
        // One face now: a model whose outputs do not fit its descriptor fails `create`, not the
        // first batch.
        let blank = vec![0u8; backend.spec.crop_bytes()];
        let mut out = BatchOutput::default();
        backend
            .infer(&[&blank], &mut out)
            .map_err(|e| Error::new(ErrorKind::ModelError, e.message().to_string()))?;
        request.logger.log(
            LogLevel::Info,
            &format!(
                "OpenVINO {} from {}: {streams} stream(s), {threads} thread(s), {}{}",
                api.version,
                api.path,
                if bf16 { "BF16" } else { "FP32" },
                if cache_dir.is_empty() {
                    String::new()
                } else {
                    format!(", model cache in {cache_dir}")
                }
            ),
        );
        Ok(backend)
    }
}

impl Backend for OpenVinoBackend {
    fn name(&self) -> &str {
        "cpu-openvino"
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn precision(&self) -> i32 {
        self.precision
    }

    fn infer(&mut self, crops: &[&[u8]], out: &mut BatchOutput) -> Result<()> {
        self.start(crops)?;
        self.finish(out)
    }

    fn overlapped(&mut self) -> Option<&mut dyn Overlapped> {
        Some(self)
    }
}

impl Overlapped for OpenVinoBackend {
    /// Writes the crops into the next slot's input and starts its request; returns at once.
    fn start(&mut self, crops: &[&[u8]]) -> Result<()> {
        let n = crops.len();
        let index = self.ring.next(n, self.max_batch)?;
        let spec = &self.spec;
        let slot = &mut self.slots[index];
        let values = n * spec.input_values();
        let shape = spec.input_shape(n);
        let (element, data) = match &mut slot.input {
            Input::F32(buffer) => {
                write_input_f32(crops, spec, &mut buffer[..values]);
                (ELEMENT_F32, buffer.as_mut_ptr().cast())
            }
            Input::F16(buffer) => {
                write_input_f16(crops, spec, &mut buffer[..values]);
                (ELEMENT_F16, buffer.as_mut_ptr().cast())
            }
            Input::U8(buffer) => {
                write_input_u8(crops, spec, &mut buffer[..values]);
                (ELEMENT_U8, buffer.as_mut_ptr().cast())
            }
        };
        // SAFETY: the slot's buffer holds max_batch ≥ n items of this shape and element type; it
        // is neither touched nor moved until `finish` has waited for this request.
        unsafe {
            slot.request
                .set_input(&spec.input_name, element, &shape, data)
        }
        .and_then(|()| slot.request.start())
        .map_err(|why| failed("cannot start the batch", why))?;
        slot.items = n;
        self.ring.started();
        Ok(())
    }

    /// Waits for the oldest started batch and decodes its points and scores.
    fn finish(&mut self, out: &mut BatchOutput) -> Result<()> {
        let index = self.ring.finish()?;
        let spec = &self.spec;
        let slot = &mut self.slots[index];
        let n = slot.items;
        slot.request
            .wait()
            .map_err(|why| failed("the batch failed", why))?;
        let per_item = spec.raw_point_values();
        out.points.clear();
        out.scores.clear();
        let request = &slot.request;
        let decode = |raw: &[f32], rows: Option<&[f32]>, out: &mut BatchOutput| {
            decode_outputs(raw, rows, n, spec, &mut out.points, &mut out.scores)
        };
        request
            .with_output(&spec.landmarks_name, |raw| -> Result<()> {
                if raw.len() != n * per_item {
                    return Err(Error::new(
                        ErrorKind::InferenceFailed,
                        format!(
                            "the landmark output {:?} holds {} values for {n} faces, {per_item} \
                             per face expected (points.count x points.dims)",
                            spec.landmarks_name,
                            raw.len()
                        ),
                    ));
                }
                match spec.score {
                    None => decode(raw, None, out),
                    Some(conv) => request
                        .with_output(&spec.score_name, |rows| -> Result<()> {
                            if rows.len() < n || rows.len() / n <= conv.index as usize {
                                return Err(Error::new(
                                    ErrorKind::InferenceFailed,
                                    format!(
                                        "the score output {:?} holds {} values for {n} faces: \
                                         score.index {} is not one of its columns",
                                        spec.score_name,
                                        rows.len(),
                                        conv.index
                                    ),
                                ));
                            }
                            decode(raw, Some(rows), out);
                            Ok(())
                        })
                        .map_err(|why| failed("score output", why))??,
                }
                Ok(())
            })
            .map_err(|why| failed("landmark output", why))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_is_read_from_the_cpu_plugins_capabilities() {
        assert!(has_bf16("FP32 BF16 INT8 BIN EXPORT_IMPORT"));
        assert!(has_bf16("BF16, WINOGRAD, FP32"));
        assert!(!has_bf16("WINOGRAD FP32 INT8 BIN EXPORT_IMPORT"));
        assert!(!has_bf16("FP16 XBF16"));
        assert!(!has_bf16(""));
    }

    #[test]
    fn the_input_is_batch_dynamic_and_otherwise_the_descriptors() {
        let spec = ModelSpec::face_landmark_468();
        let dims = dynamic_input(&spec, 32);
        let fixed = |d: i64| Dimension { min: d, max: d };
        assert_eq!(
            dims,
            vec![
                Dimension { min: 1, max: 32 },
                fixed(3),
                fixed(192),
                fixed(192)
            ]
        );
    }
}
