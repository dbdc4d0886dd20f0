//! The ONNX Runtime CPU backend, loaded at RUN time: the library links nothing of ONNX Runtime and
//! loads `libonnxruntime.so` (from `ORT_DYLIB_PATH`, else the loader's search path) when a handle
//! asks for it. Where none is found it reports BACKEND_UNAVAILABLE and AUTO moves on to tract.
//!
//! One batch is ONE `Session::run` over `[n, 3, 192, 192]`; ONNX Runtime spreads it over all
//! cores with its intra-op pool, which belongs to the session and ends with it (so no thread
//! outlives `lm_destroy`).

use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use super::{Backend, BatchOutput, ModelSource, OpenRequest};
use crate::descriptor::DType;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    decode_outputs, write_input_f16, write_input_f32, write_input_u8, ModelSpec, DEFAULT_MODEL_ONNX,
};

/// The environment variable naming the ONNX Runtime shared library.
pub const DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// ONNX Runtime is loaded, and its environment created, once per process: a shared library cannot
/// be swapped once loaded, and ONNX Runtime allows one environment per process that it never
/// really releases. The outcome, success or the reason it failed, serves every later handle.
/// (The environment keeps one ONNX Runtime thread from the first ONNX Runtime handle to the end of
/// the process; sessions' own threads end with each handle.)
static ENVIRONMENT: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();

fn unavailable(message: String) -> Error {
    Error::new(ErrorKind::BackendUnavailable, message)
}

fn environment() -> Result<&'static Environment> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = std::env::var(DYLIB_ENV).unwrap_or_else(|_| "libonnxruntime.so".to_string());
            // The loader panics on some malformed libraries; that must not take the caller down.
            std::panic::catch_unwind(|| {
                ort::init_from(&path)
                    .map_err(|e| {
                        format!("cannot load ONNX Runtime from {path:?}: {e} (set {DYLIB_ENV} to the libonnxruntime.so file, e.g. from the onnxruntime Python wheel)")
                    })?
                    .with_name("lmbatch")
                    .build()
                    .map_err(|e| format!("ONNX Runtime from {path:?} failed to start: {e}"))
            })
            .unwrap_or_else(|_| Err(format!("loading ONNX Runtime from {path:?} panicked")))
        })
        .as_ref()
        .map_err(|why| unavailable(why.clone()))
}

pub struct OrtBackend {
    spec: ModelSpec,
    max_batch: usize,
    session: Session,
    input: Vec<f32>,
    input_u8: Vec<u8>,
    /// The f16 input (descriptor dtype = "f16").
    input_f16: Vec<half::f16>,
}

fn ort_error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::ModelError,
        format!("ONNX Runtime: {context}: {e}"),
    )
}

impl OrtBackend {
    pub fn open(request: &OpenRequest) -> Result<Self> {
        let env = environment()?;
        let owned;
        let model: &[u8] = match &request.model {
            ModelSource::Bundled => DEFAULT_MODEL_ONNX,
            ModelSource::Path(path) => {
                owned = std::fs::read(path).map_err(|e| {
                    Error::new(
                        ErrorKind::ModelError,
                        format!("cannot read model {}: {e}", path.display()),
                    )
                })?;
                &owned
            }
        };
        let cores = request.cpu_threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let session = Session::builder(env)
            .map_err(|e| ort_error("session builder", e))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| ort_error("optimization level", e))?
            .with_intra_threads(cores)
            .map_err(|e| ort_error("intra-op threads", e))?
            .with_inter_threads(1)
            .map_err(|e| ort_error("inter-op threads", e))?
            .commit_from_memory(model)
            .map_err(|e| ort_error("cannot load the model", e))?;
        let spec = request.spec.clone();
        let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        if !inputs.contains(&spec.input_name.as_str())
            || !outputs.contains(&spec.landmarks_name.as_str())
            || (spec.score.is_some() && !outputs.contains(&spec.score_name.as_str()))
        {
            return Err(Error::new(
                ErrorKind::ModelError,
                format!("the model has inputs {inputs:?} and outputs {outputs:?}; expected input {:?}, outputs {:?} and {:?}", spec.input_name, spec.landmarks_name, spec.score_name),
            ));
        }
        Ok(OrtBackend {
            spec,
            max_batch: request.max_batch,
            session,
            input: Vec::new(),
            input_u8: Vec::new(),
            input_f16: Vec::new(),
        })
    }
}

impl Backend for OrtBackend {
    fn name(&self) -> &str {
        "cpu-onnxruntime"
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn infer(&mut self, crops: &[&[u8]], out: &mut BatchOutput) -> Result<()> {
        let n = crops.len();
        let spec = &self.spec;
        let shape = spec.input_shape(n);
        let failed =
            |e: ort::Error| Error::new(ErrorKind::InferenceFailed, format!("ONNX Runtime: {e}"));
        // Views of the input buffers: they are reused by the next batch, not handed over and
        // allocated again (up to 14 MB for a batch of 32).
        let values = n * spec.input_values();
        let outputs = match spec.input.dtype {
            DType::U8 => {
                self.input_u8.resize(values, 0);
                write_input_u8(crops, spec, &mut self.input_u8);
                let tensor = TensorRef::from_array_view((shape, self.input_u8.as_slice()))
                    .map_err(failed)?;
                self.session
                    .run(ort::inputs![spec.input_name.as_str() => tensor])
                    .map_err(failed)?
            }
            DType::F16 => {
                self.input_f16.resize(values, half::f16::ZERO);
                write_input_f16(crops, spec, &mut self.input_f16);
                let tensor = TensorRef::from_array_view((shape, self.input_f16.as_slice()))
                    .map_err(failed)?;
                self.session
                    .run(ort::inputs![spec.input_name.as_str() => tensor])
                    .map_err(failed)?
            }
            DType::F32 => {
                self.input.resize(values, 0.0);
                write_input_f32(crops, spec, &mut self.input);
                let tensor =
                    TensorRef::from_array_view((shape, self.input.as_slice())).map_err(failed)?;
                self.session
                    .run(ort::inputs![spec.input_name.as_str() => tensor])
                    .map_err(failed)?
            }
        };
        let (_, raw) = outputs[spec.landmarks_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(failed)?;
        let per_item = spec.raw_point_values();
        if raw.len() != n * per_item {
            return Err(Error::new(
                ErrorKind::InferenceFailed,
                format!(
                    "the landmark output holds {} values for {n} faces, {per_item} per face expected",
                    raw.len()
                ),
            ));
        }
        let rows = match spec.score {
            Some(_) => Some(
                outputs[spec.score_name.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(failed)?
                    .1,
            ),
            None => None,
        };
        out.points.clear();
        out.scores.clear();
        decode_outputs(raw, rows, n, spec, &mut out.points, &mut out.scores);
        Ok(())
    }
}
