//! The TensorRT backend proper: opening (library, GPU, plan, engine, buffers, self-check) and
//! running one batch.

use std::ffi::CString;

use super::cuda::{compile_kernel, BatchBuffers, Event, Gpu};
use super::library::{NvInfer, OnnxParserLib};
use super::plan::{self, EngineLayout, ModelInput, PlanFate, PlanKey, Profile};
use super::shim::{self, Context, Engine, Runtime, TrtLogger};
use crate::backend::{
    self_check, Backend, BatchOutput, OpenRequest, Overlapped, SlotRing, MAX_IN_FLIGHT,
};
use crate::error::{Error, ErrorKind, Result};
use crate::log::LogLevel;
use crate::model::{decode_outputs, ModelSpec};

/// Scratch memory TensorRT may use while building; the default model needs far less.
const BUILD_WORKSPACE_BYTES: u64 = 1 << 30;

/// One batch's buffers and the event that marks its work done. Two slots: while the GPU runs
/// the batch of one, the worker stages the next batch into the other (double buffering).
struct Slot {
    buffers: BatchBuffers,
    done: Event,
    items: usize,
}

pub struct TrtBackend {
    // Fields drop in this order: the context before the engine before the runtime, then this
    // pipeline's log sink; the GPU buffers the context points at after all of them.
    context: Context,
    _engine: Engine,
    _runtime: Runtime,
    _logger: TrtLogger,
    slots: Vec<Slot>,
    gpu: Gpu,
    ring: SlotRing,
    spec: ModelSpec,
    max_batch: usize,
    layout: EngineLayout,
    input_name: CString,
    output_names: Vec<CString>,
}

// SAFETY: TensorRT objects and CUDA buffers may be used from any thread, one at a time; the
// backend is created on the worker thread and used only there.
unsafe impl Send for TrtBackend {}

impl Drop for TrtBackend {
    fn drop(&mut self) {
        // Nothing may still run on the stream when the context and buffers are freed.
        let _ = self.gpu.synchronize();
    }
}

/// Where a plan came from: what a failure to run it means depends on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PlanOrigin {
    /// Given by the caller as the model: a plan that does not fit is MODEL_ERROR.
    Given,
    /// From the cache: one that does not fit is rebuilt.
    Cached,
    /// Just built here from the ONNX: if TensorRT cannot run what it built, TensorRT or the GPU
    /// is at fault (BACKEND_UNAVAILABLE, and AUTO moves on).
    Built,
}

/// Why a plan could not be used.
enum Refusal {
    /// The plan does not deserialize here or does not fit the model.
    DoesNotFit(Error),
    /// The GPU could not give it an execution context (out of memory): not the plan's fault.
    NoContext(Error),
}

/// Deserializes `bytes` and checks the engine against the model, including the output shapes
/// TensorRT resolves for batches of 1, the optimal size and `max_batch`.
fn engine_from(
    runtime: &Runtime,
    bytes: &[u8],
    spec: &ModelSpec,
    request: &OpenRequest,
) -> std::result::Result<(Engine, Context, EngineLayout), Refusal> {
    let engine = runtime.deserialize(bytes).map_err(Refusal::DoesNotFit)?;
    let layout = engine
        .io()
        .and_then(|io| plan::validate(&io, spec, request.max_batch))
        .map_err(Refusal::DoesNotFit)?;
    let mut context = engine.context().map_err(Refusal::NoContext)?;
    check_batches_follow(&mut context, &layout, spec, request).map_err(Refusal::DoesNotFit)?;
    Ok((engine, context, layout))
}

/// Sets the input shape for a few batch sizes and refuses an engine whose outputs, as TensorRT
/// reports them, do not grow with the batch (`plan::check_output_shapes`).
fn check_batches_follow(
    context: &mut Context,
    layout: &EngineLayout,
    spec: &ModelSpec,
    request: &OpenRequest,
) -> Result<()> {
    let (input, outputs) = tensor_names(layout)?;
    let profile = Profile::for_batch(request.max_batch, request.opt_batch);
    for n in [1, profile.opt, profile.max] {
        context
            .set_input_shape(&input, &plan::input_dims(spec, n))
            .map_err(|e| Error::new(ErrorKind::ModelError, e.message()))?;
        let shapes = outputs
            .iter()
            .map(|name| context.tensor_shape(name))
            .collect::<Result<Vec<_>>>()?;
        plan::check_output_shapes(layout, n, &shapes)?;
    }
    Ok(())
}

/// The input's and the outputs' names as C strings, for the shim.
fn tensor_names(layout: &EngineLayout) -> Result<(CString, Vec<CString>)> {
    let input = CString::new(layout.input.as_str())
        .map_err(|_| Error::new(ErrorKind::ModelError, "input name contains NUL"))?;
    let outputs = layout
        .outputs
        .iter()
        .map(|o| CString::new(o.name.as_str()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::new(ErrorKind::ModelError, "output name contains NUL"))?;
    Ok((input, outputs))
}

/// What to do with a plan that was refused.
#[derive(Debug)]
enum Next {
    /// Give up with this error.
    Fail(Error),
    /// Build a new plan (the cached one is stale); the error is the reason, for the log.
    Rebuild(Error),
}

/// What a refusal means, by where the plan came from.
fn on_refusal(refusal: Refusal, origin: PlanOrigin) -> Next {
    match (refusal, origin) {
        // Out of GPU memory for an execution context: a rebuild takes minutes and needs as much
        // memory again. Give up at once (BACKEND_UNAVAILABLE: AUTO moves on).
        (Refusal::NoContext(e), _) => {
            Next::Fail(Error::new(ErrorKind::BackendUnavailable, e.message()))
        }
        (Refusal::DoesNotFit(e), PlanOrigin::Given) => Next::Fail(Error::new(
            ErrorKind::ModelError,
            format!(
                "refusing the plan: {} (plans run only on the TensorRT version and GPU that \
                 built them; rebuild it, or give the .onnx)",
                e.message()
            ),
        )),
        (Refusal::DoesNotFit(e), PlanOrigin::Cached) => Next::Rebuild(e),
        // An ONNX whose plan does not fit is refused by the CPU backends in their turn.
        (Refusal::DoesNotFit(e), PlanOrigin::Built) => Next::Fail(Error::new(
            ErrorKind::BackendUnavailable,
            format!("TensorRT cannot run the plan it built: {}", e.message()),
        )),
    }
}

/// The self-check is the first real upload, enqueueV3 and download: whatever fails there says
/// this GPU cannot run TensorRT here, so it is BACKEND_UNAVAILABLE with the reason and AUTO moves
/// on to a CPU backend. Only a fault of the model stays MODEL_ERROR.
fn self_check(backend: &mut dyn Backend) -> Result<f32> {
    self_check::check_batch_invariance(backend, self_check::TOLERANCE_PX).map_err(|e| {
        match e.kind() {
            ErrorKind::ModelError | ErrorKind::BackendUnavailable => e,
            _ => Error::new(
                ErrorKind::BackendUnavailable,
                format!("TensorRT self-check failed: {}", e.message()),
            ),
        }
    })
}

/// The engine to run, and what becomes of its plan once the self-check has run.
type Loaded = (Engine, Context, EngineLayout, PlanFate);

fn build_or_load_plan(
    request: &OpenRequest,
    nvinfer: &NvInfer,
    gpu: &Gpu,
    runtime: &Runtime,
    spec: &ModelSpec,
) -> Result<Loaded> {
    let log = |level, message: &str| request.logger.log(level, message);
    let run = |bytes: &[u8], origin: PlanOrigin| {
        engine_from(runtime, bytes, spec, request).map_err(|refusal| on_refusal(refusal, origin))
    };
    let (onnx, sha256) = match plan::read_model(&request.model)? {
        // A plan the caller gives is used as it is, or refused: it cannot be rebuilt here.
        ModelInput::Plan { bytes, path } => {
            let (engine, context, layout) = run(&bytes, PlanOrigin::Given).map_err(|next| {
                let (Next::Fail(e) | Next::Rebuild(e)) = next;
                Error::new(e.kind(), format!("{}: {}", path.display(), e.message()))
            })?;
            return Ok((engine, context, layout, PlanFate::Untracked));
        }
        ModelInput::Onnx { bytes, sha256 } => (bytes, sha256),
    };
    let profile = Profile::for_batch(request.max_batch, request.opt_batch);
    let input_dims = plan::item_dims(spec);
    let key = PlanKey {
        tensorrt: nvinfer.version,
        compute_capability: gpu.identity.compute_capability,
        gpu_uuid: gpu.identity.uuid.clone(),
        model_sha256: sha256,
        input_dims,
        profile,
        // TensorRT 11 networks are strongly typed: the flag does not exist there.
        fp16: nvinfer.version.major < 11,
    };
    let cache_dir = request.engine_cache_dir.as_deref();
    let name = key.file_name();
    if let Some(dir) = cache_dir {
        let path = dir.join(&name);
        if let Ok(bytes) = std::fs::read(&path) {
            match run(&bytes, PlanOrigin::Cached) {
                Ok((engine, context, layout)) => {
                    log(
                        LogLevel::Info,
                        &format!("TensorRT plan from cache {}", path.display()),
                    );
                    return Ok((engine, context, layout, PlanFate::Cached(path)));
                }
                Err(Next::Fail(e)) => {
                    return Err(Error::new(
                        e.kind(),
                        format!("cached plan {}: {}", path.display(), e.message()),
                    ))
                }
                Err(Next::Rebuild(e)) => log(
                    LogLevel::Warning,
                    &format!(
                        "cached plan {} is unusable, rebuilding: {}",
                        path.display(),
                        e.message()
                    ),
                ),
            }
        }
    } else {
        log(
            LogLevel::Warning,
            "no engine_cache_dir: the TensorRT plan is built again at every create (set one in \
             production)",
        );
    }
    log(
        LogLevel::Info,
        &format!(
            "building a TensorRT {} plan for {} (batch {}..{}, opt {}, input [N, {}, {}, {}]); \
             this takes a while once",
            nvinfer.version,
            gpu.identity.name,
            profile.min,
            profile.max,
            profile.opt,
            input_dims[0],
            input_dims[1],
            input_dims[2]
        ),
    );
    let (bytes, fp16) = shim::build_plan(
        nvinfer,
        &OnnxParserLib::candidates(nvinfer.version.major),
        &shim::BuildRequest {
            onnx: &onnx,
            input_name: &spec.input_name,
            profile,
            input_dims,
            fp16: key.fp16,
            workspace_bytes: BUILD_WORKSPACE_BYTES,
        },
    )?;
    if fp16 != key.fp16 {
        log(LogLevel::Info, "TensorRT plan built without FP16");
    }
    let (engine, context, layout) = run(&bytes, PlanOrigin::Built).map_err(|next| {
        let (Next::Fail(e) | Next::Rebuild(e)) = next;
        e
    })?;
    // Cached only after the self-check passed (`plan::settle`).
    let fate = match cache_dir {
        Some(dir) => PlanFate::Built {
            dir: dir.to_path_buf(),
            name,
            bytes,
        },
        None => PlanFate::Untracked,
    };
    Ok((engine, context, layout, fate))
}

impl TrtBackend {
    pub fn open(request: &OpenRequest) -> Result<Self> {
        let mut nvinfer = NvInfer::open(shim::header_version())?;
        let gpu = Gpu::open(request.device_id)?;
        // This thread's TensorRT messages go to this pipeline's log from here until drop.
        let logger = TrtLogger::attach(request.logger.clone());
        // From the first call into TensorRT on, its library is never unloaded: even a failed
        // createInferRuntime may leave threads or exit handlers behind.
        nvinfer.keep_loaded();
        let runtime = Runtime::new(nvinfer.create_runtime)?;
        let spec = request.spec.clone();
        // A plan built here is not cached when the backend around it cannot be made (the
        // buffers below): it is settled only after the self-check.
        let (engine, context, layout, fate) =
            build_or_load_plan(request, &nvinfer, &gpu, &runtime, &spec)?;
        let read_back: Vec<(usize, bool)> = layout
            .outputs
            .iter()
            .enumerate()
            .map(|(i, o)| {
                (
                    o.floats_per_item,
                    i == layout.landmarks || Some(i) == layout.score,
                )
            })
            .collect();
        // The GPU kernel converts the bundled conventions; any other input is written on the
        // host in the model's own dtype and layout.
        let kernel = if spec.has_bundled_conventions() {
            compile_kernel(&gpu)
        } else {
            super::cuda::KernelBuild {
                outcome: Err("the descriptor's input conventions are written on the host".into()),
                fell_back: Vec::new(),
            }
        };
        for failure in &kernel.fell_back {
            request.logger.log(LogLevel::Warning, failure);
        }
        let kernel = match kernel.outcome {
            Ok((function, form)) => {
                request.logger.log(
                    LogLevel::Info,
                    &format!("input conversion kernel loaded as {form}"),
                );
                Some(function)
            }
            Err(why) => {
                request.logger.log(
                    LogLevel::Warning,
                    &format!("converting crops to floats on the host (4x the upload): {why}"),
                );
                None
            }
        };
        let mut slots = Vec::with_capacity(MAX_IN_FLIGHT);
        for _ in 0..MAX_IN_FLIGHT {
            slots.push(Slot {
                buffers: BatchBuffers::new(
                    &gpu,
                    kernel.clone(),
                    request.max_batch,
                    &spec,
                    &read_back,
                )?,
                done: gpu.new_event()?,
                items: 0,
            });
        }
        let (input_name, output_names) = tensor_names(&layout)?;
        let mut backend = TrtBackend {
            context,
            _engine: engine,
            _runtime: runtime,
            _logger: logger,
            slots,
            gpu,
            ring: SlotRing::default(),
            spec,
            max_batch: request.max_batch,
            layout,
            input_name,
            output_names,
        };
        let checked = if request.self_check {
            self_check(&mut backend).map(Some)
        } else {
            Ok(None)
        };
        let log = |level, message: &str| request.logger.log(level, message);
        if let Some(worst) = plan::settle(fate, checked, log)? {
            request.logger.log(
                LogLevel::Info,
                &format!(
                    "TensorRT batch-invariance self-check passed (largest difference {worst} px)"
                ),
            );
        }
        request.logger.log(
            LogLevel::Info,
            &format!(
                "TensorRT {} on {} (sm {}.{}), input converted on the {}",
                nvinfer.version,
                backend.gpu.identity.name,
                backend.gpu.identity.compute_capability.0,
                backend.gpu.identity.compute_capability.1,
                if backend.slots[0].buffers.converts_on_gpu() {
                    "GPU"
                } else {
                    "host"
                }
            ),
        );
        Ok(backend)
    }
}

impl Backend for TrtBackend {
    fn name(&self) -> &str {
        "tensorrt"
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn infer(&mut self, crops: &[&[u8]], out: &mut BatchOutput) -> Result<()> {
        self.start(crops)?;
        self.finish(out)
    }

    fn overlapped(&mut self) -> Option<&mut dyn Overlapped> {
        Some(self)
    }
}

impl Overlapped for TrtBackend {
    /// Stages the crops into the next slot and queues upload, conversion, ONE enqueueV3 and the
    /// download on the stream; returns without waiting.
    fn start(&mut self, crops: &[&[u8]]) -> Result<()> {
        let n = crops.len();
        let index = self.ring.next(n, self.max_batch)?;
        let slot = &mut self.slots[index];
        slot.buffers.stage(&self.gpu, crops)?;
        // The slot's buffers for this run; the shape is the batch's own size.
        self.context
            .set_address(&self.input_name, slot.buffers.input_address(&self.gpu))?;
        for (i, name) in self.output_names.iter().enumerate() {
            self.context
                .set_address(name, slot.buffers.output_address(&self.gpu, i))?;
        }
        self.context
            .set_input_shape(&self.input_name, &plan::input_dims(&self.spec, n))?;
        // SAFETY: the backend's own stream, in the context its buffers were allocated in.
        unsafe { self.context.enqueue(self.gpu.raw_stream()) }?;
        slot.buffers.fetch(&self.gpu, n)?;
        self.gpu.record(&slot.done)?;
        slot.items = n;
        self.ring.started();
        Ok(())
    }

    /// Waits for the oldest started batch and copies its points and scores out.
    fn finish(&mut self, out: &mut BatchOutput) -> Result<()> {
        let index = self.ring.finish()?;
        let slot = &mut self.slots[index];
        self.gpu.wait(&slot.done)?;
        let n = slot.items;
        // The score rows first (n × columns floats, small): both outputs borrow the slot.
        let rows = self.layout.score.map(|index| {
            let columns = self.layout.outputs[index].floats_per_item;
            slot.buffers.output(index, n * columns).to_vec()
        });
        let raw = slot
            .buffers
            .output(self.layout.landmarks, n * self.spec.raw_point_values());
        out.points.clear();
        out.scores.clear();
        decode_outputs(
            raw,
            rows.as_deref(),
            n,
            &self.spec,
            &mut out.points,
            &mut out.scores,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BatchOutput;

    fn error(kind: ErrorKind, message: &str) -> Error {
        Error::new(kind, message)
    }

    /// Where each refusal leads: only a cached plan that does not fit is rebuilt; out of GPU
    /// memory for a context is never a reason for a build of minutes.
    #[test]
    fn refusals_lead_to_a_rebuild_only_for_a_stale_cached_plan() {
        let no_context = || {
            Refusal::NoContext(error(
                ErrorKind::BackendUnavailable,
                "TensorRT could not create an execution context (out of GPU memory?)",
            ))
        };
        let does_not_fit = || Refusal::DoesNotFit(error(ErrorKind::ModelError, "bad plan"));
        for origin in [PlanOrigin::Given, PlanOrigin::Cached, PlanOrigin::Built] {
            match on_refusal(no_context(), origin) {
                Next::Fail(e) => {
                    assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
                    assert!(e.message().contains("out of GPU memory"), "{}", e.message());
                }
                Next::Rebuild(e) => panic!("out of GPU memory triggers a rebuild: {e}"),
            }
        }
        match on_refusal(does_not_fit(), PlanOrigin::Cached) {
            Next::Rebuild(e) => assert!(e.message().contains("bad plan")),
            Next::Fail(e) => panic!("a stale cached plan is not rebuilt: {e}"),
        }
        let kinds = [PlanOrigin::Given, PlanOrigin::Built].map(|origin| {
            match on_refusal(does_not_fit(), origin) {
                Next::Fail(e) => e.kind(),
                Next::Rebuild(e) => panic!("rebuilt: {e}"),
            }
        });
        assert_eq!(
            kinds,
            [ErrorKind::ModelError, ErrorKind::BackendUnavailable]
        );
    }

    /// A backend whose first run fails as the GPU path can (enqueueV3, a CUDA copy), or whose
    /// model is at fault.
    struct FailsToRun {
        spec: ModelSpec,
        error: Error,
    }

    impl Backend for FailsToRun {
        fn name(&self) -> &str {
            "fails-to-run"
        }
        fn max_batch(&self) -> usize {
            4
        }
        fn spec(&self) -> &ModelSpec {
            &self.spec
        }
        fn infer(&mut self, _crops: &[&[u8]], _out: &mut BatchOutput) -> Result<()> {
            Err(self.error.clone())
        }
    }

    #[test]
    fn a_self_check_that_cannot_run_is_unavailable_so_auto_moves_on() {
        let check = |kind, message: &str| {
            let mut backend = FailsToRun {
                spec: ModelSpec::face_landmark_468(),
                error: error(kind, message),
            };
            self_check(&mut backend).unwrap_err()
        };
        // What the shim and cuda.rs return when the first real run fails.
        for (kind, message) in [
            (
                ErrorKind::InferenceFailed,
                "TensorRT enqueueV3: TensorRT enqueueV3 failed",
            ),
            (
                ErrorKind::InferenceFailed,
                "CUDA upload: CUDA_ERROR_LAUNCH_FAILED",
            ),
            (
                ErrorKind::InferenceFailed,
                "CUDA event wait: CUDA_ERROR_ILLEGAL_ADDRESS",
            ),
            (
                ErrorKind::Internal,
                "more batches started than the backend has slots",
            ),
        ] {
            let e = check(kind, message);
            assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{message}");
            assert!(e.message().starts_with("TensorRT self-check failed: "));
            assert!(e.message().ends_with(message), "{}", e.message());
        }
        let e = check(ErrorKind::ModelError, "tensor name contains NUL");
        assert_eq!(e.kind(), ErrorKind::ModelError);
        let e = check(
            ErrorKind::BackendUnavailable,
            "self-check failed: not invariant",
        );
        assert_eq!(e.message(), "self-check failed: not invariant");
    }
}
