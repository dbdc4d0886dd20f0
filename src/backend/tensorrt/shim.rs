//! Safe wrappers over the C API of `shim/tensorrt/lmb_trt.h`. Each wrapper owns one TensorRT
//! object and frees it on drop; the objects are used from one thread at a time (the worker).

use std::ffi::{c_char, c_void, CStr, CString};

use super::library::{CreateFn, NvInfer, OnnxParserLib, ParserCreateFn, TrtVersion};
use super::plan::{IoTensor, Profile};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};

const MAX_DIMS: usize = 8;
const ERR_LEN: usize = 512;

#[repr(C)]
struct RawIo {
    name: *const c_char,
    is_input: i32,
    dtype: i32,
    nb_dims: i32,
    dims: [i64; MAX_DIMS],
    min: [i64; MAX_DIMS],
    opt: [i64; MAX_DIMS],
    max: [i64; MAX_DIMS],
}

#[repr(C)]
struct RawBuildRequest {
    onnx: *const c_void,
    onnx_len: usize,
    input_name: *const c_char,
    batch_min: i32,
    batch_opt: i32,
    batch_max: i32,
    fp16: i32,
    workspace_bytes: u64,
}

#[repr(C)]
struct RawLogger {
    _opaque: [u8; 0],
}

#[repr(C)]
struct RawPlan {
    _opaque: [u8; 0],
}

type LogFn = extern "C" fn(*mut c_void, i32, *const c_char);

extern "C" {
    fn lmb_trt_header_version() -> i32;
    fn lmb_trt_logger_new(sink: LogFn, user: *mut c_void) -> *mut RawLogger;
    fn lmb_trt_logger_free(logger: *mut RawLogger);
    fn lmb_trt_runtime_new(
        create: CreateFn,
        logger: *mut RawLogger,
        out: *mut *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
    fn lmb_trt_runtime_free(runtime: *mut c_void);
    fn lmb_trt_engine_deserialize(
        runtime: *mut c_void,
        plan: *const c_void,
        len: usize,
        out: *mut *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
    fn lmb_trt_engine_free(engine: *mut c_void);
    fn lmb_trt_engine_io_count(engine: *mut c_void) -> i32;
    fn lmb_trt_engine_io(
        engine: *mut c_void,
        index: i32,
        out: *mut RawIo,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
    fn lmb_trt_context_new(
        engine: *mut c_void,
        out: *mut *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
    fn lmb_trt_context_free(context: *mut c_void);
    fn lmb_trt_context_set_input_shape(
        context: *mut c_void,
        name: *const c_char,
        nb_dims: i32,
        dims: *const i64,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
    fn lmb_trt_context_set_address(
        context: *mut c_void,
        name: *const c_char,
        address: u64,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
    fn lmb_trt_context_enqueue(
        context: *mut c_void,
        stream: *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
    fn lmb_trt_plan_data(plan: *const RawPlan) -> *const c_void;
    fn lmb_trt_plan_size(plan: *const RawPlan) -> usize;
    fn lmb_trt_plan_free(plan: *mut RawPlan);
    fn lmb_trt_build_from_onnx(
        create_builder: CreateFn,
        create_parser: ParserCreateFn,
        logger: *mut RawLogger,
        request: *const RawBuildRequest,
        out: *mut *mut RawPlan,
        fp16_used: *mut i32,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
}

/// The TensorRT version of the headers the shim was compiled against.
pub fn header_version() -> TrtVersion {
    // SAFETY: returns a compile-time constant.
    TrtVersion::from_encoded(unsafe { lmb_trt_header_version() })
}

/// Calls a shim function that reports failure as non-zero with a message in an error buffer.
fn checked(
    kind: ErrorKind,
    what: &str,
    call: impl FnOnce(*mut c_char, usize) -> i32,
) -> Result<()> {
    let mut err = [0 as c_char; ERR_LEN];
    if call(err.as_mut_ptr(), ERR_LEN) == 0 {
        return Ok(());
    }
    // SAFETY: the shim always NUL-terminates within ERR_LEN (snprintf), and the buffer starts
    // zeroed for the calls that fail before writing.
    let message = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy();
    Err(Error::new(kind, format!("{what}: {message}")))
}

fn name(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(ErrorKind::ModelError, "tensor name contains NUL"))
}

/// Receives TensorRT's log lines. Must not unwind into C++.
extern "C" fn forward_log(user: *mut c_void, severity: i32, message: *const c_char) {
    let _ = std::panic::catch_unwind(|| {
        if user.is_null() || message.is_null() {
            return;
        }
        // SAFETY: `user` is the `Logger` boxed in `TrtLogger`, alive while the C++ logger is;
        // `message` is a NUL-terminated string TensorRT owns for the duration of the call.
        let (logger, text) = unsafe { (&*(user as *const Logger), CStr::from_ptr(message)) };
        let level = match severity {
            0 | 1 => LogLevel::Error,
            2 => LogLevel::Warning,
            3 => LogLevel::Info,
            _ => LogLevel::Debug,
        };
        logger.log(level, &format!("TensorRT: {}", text.to_string_lossy()));
    });
}

/// TensorRT's ILogger, forwarding to the pipeline's log callback.
pub struct TrtLogger {
    raw: *mut RawLogger,
    _sink: Box<Logger>,
}

impl TrtLogger {
    pub fn new(logger: Logger) -> Result<Self> {
        let sink = Box::new(logger);
        let user = &*sink as *const Logger as *mut c_void;
        // SAFETY: `user` points into the Box kept alive in the returned value.
        let raw = unsafe { lmb_trt_logger_new(forward_log, user) };
        if raw.is_null() {
            return Err(Error::new(
                ErrorKind::Internal,
                "cannot allocate the TensorRT logger",
            ));
        }
        Ok(TrtLogger { raw, _sink: sink })
    }
}

impl Drop for TrtLogger {
    fn drop(&mut self) {
        // SAFETY: made by lmb_trt_logger_new; every TensorRT object that used it is gone first
        // (it follows them in `TrtBackend`'s field order).
        unsafe { lmb_trt_logger_free(self.raw) }
    }
}

pub struct Runtime {
    raw: *mut c_void,
}

impl Runtime {
    /// Creates the runtime, refusing the invalid pointers and logged errors TensorRT gives when
    /// it cannot really run (see the shim).
    pub fn new(create: CreateFn, logger: &TrtLogger) -> Result<Self> {
        let mut raw = std::ptr::null_mut();
        checked(
            ErrorKind::BackendUnavailable,
            "TensorRT runtime",
            |err, len| {
                // SAFETY: `create` is createInferRuntime_INTERNAL from a version-checked library;
                // the logger outlives the runtime; `raw` is a valid out pointer.
                unsafe { lmb_trt_runtime_new(create, logger.raw, &mut raw, err, len) }
            },
        )?;
        Ok(Runtime { raw })
    }

    pub fn deserialize(&self, plan: &[u8]) -> Result<Engine> {
        let mut raw = std::ptr::null_mut();
        checked(ErrorKind::ModelError, "TensorRT plan", |err, len| {
            // SAFETY: the runtime is live; `plan` is readable for its length during the call.
            unsafe {
                lmb_trt_engine_deserialize(
                    self.raw,
                    plan.as_ptr().cast(),
                    plan.len(),
                    &mut raw,
                    err,
                    len,
                )
            }
        })?;
        Ok(Engine { raw })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // SAFETY: made by lmb_trt_runtime_new; its engines are dropped before it (field order of `TrtBackend`).
        unsafe { lmb_trt_runtime_free(self.raw) }
    }
}

pub struct Engine {
    raw: *mut c_void,
}

impl Engine {
    pub fn io(&self) -> Result<Vec<IoTensor>> {
        // SAFETY: the engine is live.
        let count = unsafe { lmb_trt_engine_io_count(self.raw) };
        let mut tensors = Vec::new();
        for index in 0..count {
            // SAFETY: all-zero is a valid RawIo (null name, zero numbers).
            let mut raw: RawIo = unsafe { std::mem::zeroed() };
            checked(ErrorKind::ModelError, "TensorRT engine I/O", |err, len| {
                // SAFETY: index is in range; `raw` is a valid out pointer.
                unsafe { lmb_trt_engine_io(self.raw, index, &mut raw, err, len) }
            })?;
            let rank = (raw.nb_dims.clamp(0, MAX_DIMS as i32)) as usize;
            // SAFETY: on success the shim set `name` to a NUL-terminated string the engine owns.
            let tensor_name = unsafe { CStr::from_ptr(raw.name) }
                .to_string_lossy()
                .into_owned();
            let profile = |dims: &[i64; MAX_DIMS]| {
                if raw.is_input != 0 {
                    dims[..rank].to_vec()
                } else {
                    Vec::new()
                }
            };
            tensors.push(IoTensor {
                name: tensor_name,
                is_input: raw.is_input != 0,
                dtype: raw.dtype,
                dims: raw.dims[..rank].to_vec(),
                min: profile(&raw.min),
                opt: profile(&raw.opt),
                max: profile(&raw.max),
            });
        }
        Ok(tensors)
    }

    pub fn context(&self) -> Result<Context> {
        let mut raw = std::ptr::null_mut();
        checked(
            ErrorKind::BackendUnavailable,
            "TensorRT context",
            |err, len| {
                // SAFETY: the engine is live and outlives the context (field order of `TrtBackend`).
                unsafe { lmb_trt_context_new(self.raw, &mut raw, err, len) }
            },
        )?;
        Ok(Context { raw })
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: made by lmb_trt_engine_deserialize; its context is dropped first (field order of `TrtBackend`).
        unsafe { lmb_trt_engine_free(self.raw) }
    }
}

pub struct Context {
    raw: *mut c_void,
}

impl Context {
    pub fn set_input_shape(&mut self, tensor: &CStr, dims: &[i64]) -> Result<()> {
        checked(
            ErrorKind::InferenceFailed,
            "TensorRT input shape",
            |err, len| {
                // SAFETY: the context is live; `dims` holds `dims.len()` (<= 8) values.
                unsafe {
                    lmb_trt_context_set_input_shape(
                        self.raw,
                        tensor.as_ptr(),
                        dims.len() as i32,
                        dims.as_ptr(),
                        err,
                        len,
                    )
                }
            },
        )
    }

    pub fn set_address(&mut self, tensor: &CStr, device_address: u64) -> Result<()> {
        checked(
            ErrorKind::BackendUnavailable,
            "TensorRT tensor address",
            |err, len| {
                // SAFETY: the context is live; the address is a device allocation that lives as long
                // as the context (both are fields of the backend, buffers dropped after).
                unsafe {
                    lmb_trt_context_set_address(self.raw, tensor.as_ptr(), device_address, err, len)
                }
            },
        )
    }

    /// Queues one run on `stream`; returns without waiting for it.
    ///
    /// # Safety
    /// `stream` is a live CUDA stream of the context the engine's buffers were allocated in.
    pub unsafe fn enqueue(&mut self, stream: *mut c_void) -> Result<()> {
        checked(
            ErrorKind::InferenceFailed,
            "TensorRT enqueueV3",
            |err, len| {
                // SAFETY: the context is live and every I/O address is set; `stream` is the
                // backend's own live CUDA stream.
                unsafe { lmb_trt_context_enqueue(self.raw, stream, err, len) }
            },
        )
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: made by lmb_trt_context_new; no work is in flight (the backend synchronises
        // its stream before dropping).
        unsafe { lmb_trt_context_free(self.raw) }
    }
}

/// What to build a plan from.
pub struct BuildRequest<'a> {
    pub onnx: &'a [u8],
    /// The input whose dimension 0 is the batch.
    pub input_name: &'a str,
    pub profile: Profile,
    /// Ask for FP16 kernels (TensorRT 10; 11 has no such flag).
    pub fp16: bool,
    pub workspace_bytes: u64,
}

/// Builds a serialized plan from ONNX bytes. Returns the plan and whether FP16 was enabled.
pub fn build_plan(
    nvinfer: &NvInfer,
    parser: &OnnxParserLib,
    logger: &TrtLogger,
    what: &BuildRequest<'_>,
) -> Result<(Vec<u8>, bool)> {
    let BuildRequest {
        onnx,
        input_name,
        profile,
        fp16,
        workspace_bytes,
    } = *what;
    let create_builder = nvinfer.create_builder.ok_or_else(|| {
        Error::new(
            ErrorKind::BackendUnavailable,
            format!(
                "{} cannot build plans (a lean runtime?); give a serialized plan or the full libnvinfer",
                nvinfer.path
            ),
        )
    })?;
    let input = name(input_name)?;
    let request = RawBuildRequest {
        onnx: onnx.as_ptr().cast(),
        onnx_len: onnx.len(),
        input_name: input.as_ptr(),
        batch_min: profile.min as i32,
        batch_opt: profile.opt as i32,
        batch_max: profile.max as i32,
        fp16: i32::from(fp16),
        workspace_bytes,
    };
    let mut plan: *mut RawPlan = std::ptr::null_mut();
    let mut fp16_used = 0;
    checked(
        ErrorKind::ModelError,
        "building the TensorRT plan",
        |err, len| {
            // SAFETY: the factories come from version-checked libraries; every pointer in `request`
            // is live for the call; the out pointers are valid.
            unsafe {
                lmb_trt_build_from_onnx(
                    create_builder,
                    parser.create_parser,
                    logger.raw,
                    &request,
                    &mut plan,
                    &mut fp16_used,
                    err,
                    len,
                )
            }
        },
    )?;
    // SAFETY: on success `plan` is a live lmb_trt_plan; its bytes are copied before it is freed.
    let bytes = unsafe {
        let data = lmb_trt_plan_data(plan).cast::<u8>();
        let size = lmb_trt_plan_size(plan);
        let copy = std::slice::from_raw_parts(data, size).to_vec();
        lmb_trt_plan_free(plan);
        copy
    };
    Ok((bytes, fp16_used != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// Builds a stand-in libnvinfer whose createInferRuntime returns `runtime` (a C expression).
    fn fake_nvinfer(tag: &str, version: i32, runtime: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lmbatch-fake-trt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fake_nvinfer.c");
        let out = dir.join(format!("libnvinfer_{tag}.so"));
        let status = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(&source)
            .arg(format!("-DFAKE_VERSION={version}"))
            .arg(format!("-DFAKE_RUNTIME={runtime}"))
            .status()
            .expect("a C compiler (cc) runs");
        assert!(status.success());
        out
    }

    fn runtime_error(path: &Path) -> Error {
        let nvinfer = NvInfer::open_first_of(&[path.into()], header_version()).unwrap();
        let logger = TrtLogger::new(Logger::default()).unwrap();
        Runtime::new(nvinfer.create_runtime, &logger)
            .map(|_| ())
            .expect_err("a runtime from this library must be refused")
    }

    #[test]
    fn garbage_and_null_runtimes_are_refused_without_calling_through_them() {
        let v = lmb_trt_version_int();
        let garbage = runtime_error(&fake_nvinfer("garbage", v, "((void *)0x228)"));
        assert_eq!(garbage.kind(), ErrorKind::BackendUnavailable);
        assert!(
            garbage.message().contains("invalid pointer"),
            "{}",
            garbage.message()
        );
        let null = runtime_error(&fake_nvinfer("null", v, "((void *)0)"));
        assert!(
            null.message().contains("returned NULL"),
            "{}",
            null.message()
        );
    }

    #[test]
    fn a_library_of_another_major_is_refused_before_any_call() {
        let path = fake_nvinfer("major", 100_803, "((void *)0x228)");
        let e = NvInfer::open_first_of(&[path.into()], header_version())
            .map(|_| ())
            .unwrap_err();
        assert!(
            e.message().contains("found TensorRT 10.8.3"),
            "{}",
            e.message()
        );
    }

    /// The real lean runtime from the PyPI wheel, created on a machine without a GPU: TensorRT
    /// reports an error and hands back a pointer that is not an object. Set
    /// LMBATCH_TRT_LEAN_LIB to its libnvinfer_lean.so.<major> (scripts/test.sh does).
    #[test]
    fn the_real_lean_runtime_without_a_gpu_fails_cleanly() {
        let Some(path) = std::env::var_os("LMBATCH_TRT_LEAN_LIB") else {
            println!("LMBATCH_TRT_LEAN_LIB is not set: the real lean runtime is not tested");
            return;
        };
        let nvinfer = NvInfer::open_first_of(&[path], header_version()).unwrap();
        let messages = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let sink = messages.clone();
        let logger =
            TrtLogger::new(Logger::new(move |_, m| sink.lock().push(m.to_string()))).unwrap();
        let e = Runtime::new(nvinfer.create_runtime, &logger)
            .map(|_| ())
            .expect_err("no GPU here: the runtime must be refused");
        println!(
            "refused: {}; TensorRT said: {:?}",
            e.message(),
            messages.lock()
        );
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
        assert!(
            e.message().contains("invalid pointer") || e.message().contains("logged an error"),
            "{}",
            e.message()
        );
        assert!(
            !messages.lock().is_empty(),
            "TensorRT's log reaches the callback"
        );
    }

    fn lmb_trt_version_int() -> i32 {
        // SAFETY: returns a constant.
        unsafe { lmb_trt_header_version() }
    }
}
