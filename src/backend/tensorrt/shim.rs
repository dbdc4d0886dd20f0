//! Safe wrappers over the C API of `shim/tensorrt/lmb_trt.h`. Each wrapper owns one TensorRT
//! object and frees it on drop; the objects are used from one thread at a time (the worker).

use std::ffi::{c_char, c_void, CStr, CString, OsString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::thread::ThreadId;

use parking_lot::{Mutex, RwLock};

use super::library::{CreateFn, NvInfer, OnnxParserLib, ParserCreateFn, TrtVersion};
use super::plan::{IoTensor, Profile};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};

const MAX_DIMS: usize = 8;
const ERR_LEN: usize = 512;
/// `LMB_TRT_BAD_MODEL`: the shim says the model, not TensorRT or the GPU, is at fault.
const BAD_MODEL: i32 = 2;

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
    input_dims: [i64; 3],
}

#[repr(C)]
struct RawPlan {
    _opaque: [u8; 0],
}

type LogFn = extern "C" fn(*mut c_void, i32, *const c_char);

extern "C" {
    fn lmb_trt_header_version() -> i32;
    fn lmb_trt_logger_set_sink(sink: Option<LogFn>, user: *mut c_void);
    fn lmb_trt_logger_thread_errors() -> i32;
    fn lmb_trt_runtime_new(
        create: CreateFn,
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
    fn lmb_trt_context_tensor_shape(
        context: *mut c_void,
        name: *const c_char,
        nb_dims: *mut i32,
        dims: *mut i64,
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

/// The error kind of a failed shim call: the model's fault when the shim says so, else `kind`
/// (the caller's default: usually BACKEND_UNAVAILABLE, so AUTO moves on to another backend).
fn kind_of(status: i32, kind: ErrorKind) -> ErrorKind {
    if status == BAD_MODEL {
        ErrorKind::ModelError
    } else {
        kind
    }
}

/// Calls a shim function that reports failure as non-zero with a message in an error buffer.
fn checked(
    kind: ErrorKind,
    what: &str,
    call: impl FnOnce(*mut c_char, usize) -> i32,
) -> Result<()> {
    let mut err = [0 as c_char; ERR_LEN];
    let status = call(err.as_mut_ptr(), ERR_LEN);
    if status == 0 {
        return Ok(());
    }
    // SAFETY: the shim always NUL-terminates within ERR_LEN (snprintf), and the buffer starts
    // zeroed for the calls that fail before writing.
    let message = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy();
    Err(Error::new(
        kind_of(status, kind),
        format!("{what}: {message}"),
    ))
}

fn name(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(ErrorKind::ModelError, "tensor name contains NUL"))
}

/// The pipelines' log sinks for TensorRT's ONE process-wide logger (see lmb_trt.h). A message
/// goes to the sink of the pipeline whose thread logged it (TensorRT logs on the calling thread
/// during create, build and enqueue). A message from a thread no pipeline attached (one of
/// TensorRT's own) belongs to no pipeline that can be known: every sink gets it, marked so.
///
/// The user's callback runs with no lock of this module (nor the shim's) held: a callback may
/// create or destroy a pipeline. Each sink has a gate instead: a delivery holds it shared, and
/// dropping the `TrtLogger` closes it exclusively, so once the drop returns the user's callback
/// and user pointer are never used again. (A callback that destroys its OWN pipeline would wait
/// for itself; lm_destroy from a pipeline's own callback already deadlocks on the worker join.)
struct Sink {
    id: u64,
    thread: ThreadId,
    logger: Logger,
    /// Open (true) until the `TrtLogger` drops.
    gate: RwLock<bool>,
}

static SINKS: Mutex<Vec<Arc<Sink>>> = Mutex::new(Vec::new());
static NEXT_SINK: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

#[cfg(test)]
thread_local! {
    /// Messages formatted on this thread (tests check that nobody-reads-it means no work).
    static FORMATTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The sinks a message logged on the calling thread goes to (see `Sink`).
fn sinks_for_this_thread() -> (Vec<Arc<Sink>>, bool) {
    let sinks = SINKS.lock();
    let here = std::thread::current().id();
    match sinks.iter().rev().find(|s| s.thread == here) {
        Some(own) => (vec![own.clone()], true),
        None => (sinks.clone(), false),
    }
}

/// Receives TensorRT's log lines (kVERBOSE is already dropped in C++). Must not unwind into C++.
extern "C" fn forward_log(_user: *mut c_void, severity: i32, message: *const c_char) {
    let _ = std::panic::catch_unwind(|| {
        if message.is_null() {
            return;
        }
        // Copied out: SINKS is released before any user code runs.
        let (targets, own_thread) = sinks_for_this_thread();
        let level = match severity {
            0 | 1 => LogLevel::Error,
            2 => LogLevel::Warning,
            3 => LogLevel::Info,
            _ => LogLevel::Debug,
        };
        let mut text: Option<String> = None;
        for sink in targets {
            // Recursive: a callback that makes TensorRT log on this thread re-enters here.
            let open = sink.gate.read_recursive();
            if !*open || !sink.logger.is_set() {
                continue;
            }
            let text = text.get_or_insert_with(|| {
                #[cfg(test)]
                FORMATTED.with(|n| n.set(n.get() + 1));
                // SAFETY: `message` is a NUL-terminated string TensorRT owns during the call.
                let raw = unsafe { CStr::from_ptr(message) }.to_string_lossy();
                if own_thread {
                    format!("TensorRT: {raw}")
                } else {
                    format!("TensorRT (on one of its own threads): {raw}")
                }
            });
            sink.logger.log(level, text);
        }
    });
}

/// A pipeline's place among the receivers of TensorRT's log, from creation until drop. Attach it
/// on the thread that then calls into TensorRT (the worker) before creating any TensorRT object.
pub struct TrtLogger {
    sink: Arc<Sink>,
}

impl TrtLogger {
    pub fn attach(logger: Logger) -> Self {
        INSTALL.call_once(|| {
            // SAFETY: `forward_log` is a plain function of this library; the user pointer is unused.
            unsafe { lmb_trt_logger_set_sink(Some(forward_log), std::ptr::null_mut()) }
        });
        let sink = Arc::new(Sink {
            id: NEXT_SINK.fetch_add(1, Ordering::Relaxed),
            thread: std::thread::current().id(),
            logger,
            gate: RwLock::new(true),
        });
        SINKS.lock().push(sink.clone());
        TrtLogger { sink }
    }

    /// Errors TensorRT logged on the calling thread so far (only grows; compare before/after).
    pub fn errors_on_this_thread() -> i32 {
        // SAFETY: reads a thread-local counter.
        unsafe { lmb_trt_logger_thread_errors() }
    }
}

impl Drop for TrtLogger {
    fn drop(&mut self) {
        SINKS.lock().retain(|s| s.id != self.sink.id);
        // Waits for deliveries in progress (they hold the gate shared); none starts after.
        *self.sink.gate.write() = false;
    }
}

pub struct Runtime {
    raw: *mut c_void,
}

impl Runtime {
    /// Creates the runtime, refusing the invalid pointers and logged errors TensorRT gives when
    /// it cannot really run (see the shim).
    pub fn new(create: CreateFn) -> Result<Self> {
        let mut raw = std::ptr::null_mut();
        checked(
            ErrorKind::BackendUnavailable,
            "TensorRT runtime",
            |err, len| {
                // SAFETY: `create` is createInferRuntime_INTERNAL from a version-checked library;
                // the shim's logger lives for the whole process; `raw` is a valid out pointer.
                unsafe { lmb_trt_runtime_new(create, &mut raw, err, len) }
            },
        )?;
        Ok(Runtime { raw })
    }

    /// Deserializes a plan. A failure is BACKEND_UNAVAILABLE (TensorRT or the GPU could not):
    /// the caller makes it MODEL_ERROR where the plan was given by the user.
    pub fn deserialize(&self, plan: &[u8]) -> Result<Engine> {
        let mut raw = std::ptr::null_mut();
        checked(
            ErrorKind::BackendUnavailable,
            "TensorRT plan",
            |err, len| {
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
            },
        )?;
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

    /// The shape TensorRT gives `tensor` for the input shape set last.
    pub fn tensor_shape(&self, tensor: &CStr) -> Result<Vec<i64>> {
        let mut rank = 0i32;
        let mut dims = [0i64; MAX_DIMS];
        checked(
            ErrorKind::BackendUnavailable,
            "TensorRT tensor shape",
            |err, len| {
                // SAFETY: the context is live; `dims` holds MAX_DIMS values, as the shim writes.
                unsafe {
                    lmb_trt_context_tensor_shape(
                        self.raw,
                        tensor.as_ptr(),
                        &mut rank,
                        dims.as_mut_ptr(),
                        err,
                        len,
                    )
                }
            },
        )?;
        Ok(dims[..rank.clamp(0, MAX_DIMS as i32) as usize].to_vec())
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
    /// The input's dimensions after the batch, from the descriptor (`plan::input_dims`): a
    /// dynamic one of the ONNX input takes this value, a fixed one must equal it.
    pub input_dims: [i64; 3],
    /// Ask for FP16 kernels (TensorRT 10; 11 has no such flag).
    pub fp16: bool,
    pub workspace_bytes: u64,
}

/// Builds a serialized plan from ONNX bytes. Returns the plan and whether FP16 was enabled.
///
/// The builder is looked for first: the lean runtime has none, and then libnvonnxparser is
/// never opened. `parser_names`: where to look for libnvonnxparser ([`OnnxParserLib::candidates`]).
/// A failure is BACKEND_UNAVAILABLE with TensorRT's reason (out of GPU memory, a GPU this
/// TensorRT does not support, an operator its ONNX parser does not support, a missing builder
/// resource library), except MODEL_ERROR for an ONNX the parser calls broken (it does not
/// deserialize, or its graph or a node is invalid) or whose input does not fit.
pub fn build_plan(
    nvinfer: &NvInfer,
    parser_names: &[OsString],
    what: &BuildRequest<'_>,
) -> Result<(Vec<u8>, bool)> {
    let BuildRequest {
        onnx,
        input_name,
        profile,
        input_dims,
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
    let mut parser = OnnxParserLib::open_first_of(parser_names)?;
    // As for libnvinfer: once called into, never unloaded.
    parser.keep_loaded();
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
        input_dims,
    };
    let mut plan: *mut RawPlan = std::ptr::null_mut();
    let mut fp16_used = 0;
    checked(
        ErrorKind::BackendUnavailable,
        "building the TensorRT plan",
        |err, len| {
            // SAFETY: the factories come from version-checked libraries; every pointer in `request`
            // is live for the call; the out pointers are valid.
            unsafe {
                lmb_trt_build_from_onnx(
                    create_builder,
                    parser.create_parser,
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
    use std::sync::Arc;

    /// Builds a stand-in libnvinfer (tests/data/fake_nvinfer.cpp) with these macros, into a file
    /// of its own (tests run in parallel).
    fn fake_nvinfer(tag: &str, version: i32, runtime: &str, extra: &[&str]) -> PathBuf {
        static BUILT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!("lmbatch-fake-trt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fake_nvinfer.cpp");
        let n = BUILT.fetch_add(1, Ordering::Relaxed);
        let out = dir.join(format!("libnvinfer_{tag}_{n}.so"));
        let status = std::process::Command::new("c++")
            .args(["-std=c++17", "-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(&source)
            // The include flags the shim was compiled with (build.rs).
            .args(
                env!("LMBATCH_TRT_INCLUDE_FLAGS")
                    .split('\x1f')
                    .filter(|f| !f.is_empty()),
            )
            .arg(format!("-DFAKE_VERSION={version}"))
            .arg(format!("-DFAKE_RUNTIME={runtime}"))
            .args(extra.iter().map(|m| format!("-D{m}")))
            .status()
            .expect("a C++ compiler (c++) runs");
        assert!(status.success(), "compiling the fake libnvinfer {tag}");
        out
    }

    fn open(path: &Path) -> NvInfer {
        NvInfer::open_first_of(&[path.into()], header_version()).unwrap()
    }

    fn runtime_error(path: &Path) -> Error {
        let _sink = TrtLogger::attach(Logger::default());
        Runtime::new(open(path).create_runtime)
            .map(|_| ())
            .expect_err("a runtime from this library must be refused")
    }

    /// Tests that count delivered lines share this; the one that logs from a thread without a
    /// sink (every sink gets that line) runs alone.
    static LOG_TESTS: RwLock<()> = RwLock::new(());

    /// What a recording sink received.
    type Lines = Arc<Mutex<Vec<(LogLevel, String)>>>;

    /// A log sink that keeps what it receives.
    fn recording() -> (Logger, Lines) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let logger = Logger::new(move |level, m| sink.lock().push((level, m.to_string())));
        (logger, lines)
    }

    fn header_int() -> i32 {
        // SAFETY: returns a constant.
        unsafe { lmb_trt_header_version() }
    }

    #[test]
    fn garbage_and_null_runtimes_are_refused_without_calling_through_them() {
        let v = header_int();
        let garbage = runtime_error(&fake_nvinfer("garbage", v, "((void *)0x228)", &[]));
        assert_eq!(garbage.kind(), ErrorKind::BackendUnavailable);
        assert!(
            garbage.message().contains("invalid pointer"),
            "{}",
            garbage.message()
        );
        let null = runtime_error(&fake_nvinfer("null", v, "nullptr", &[]));
        assert!(
            null.message().contains("returned NULL"),
            "{}",
            null.message()
        );
        // Nothing was logged during the call: no "TensorRT said" from another thread's errors.
        assert!(
            !null.message().contains("TensorRT said"),
            "{}",
            null.message()
        );
    }

    #[test]
    fn libraries_of_another_major_or_an_older_minor_are_refused_before_any_call() {
        let path = fake_nvinfer("major", 100_803, "((void *)0x228)", &[]);
        let e = NvInfer::open_first_of(&[path.clone().into()], header_version())
            .map(|_| ())
            .unwrap_err();
        assert!(
            e.message().contains("found TensorRT 10.8.3"),
            "{}",
            e.message()
        );
        // The file is named: an older install found by soname must be recognisable.
        assert!(
            e.message().starts_with(&format!("{}: ", path.display())),
            "{}",
            e.message()
        );
        let built = header_version();
        if built.minor == 0 {
            println!("headers {built}: no older minor of this major to refuse");
            return;
        }
        let older = (built.major * 10_000 + (built.minor - 1) * 100) as i32;
        let path = fake_nvinfer("minor", older, "((void *)0x228)", &[]);
        let e = NvInfer::open_first_of(&[path.clone().into()], built)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
        assert!(
            e.message().contains(&path.display().to_string()),
            "{}",
            e.message()
        );
        let found = TrtVersion::from_encoded(older);
        assert!(
            e.message().contains(&format!("found TensorRT {found}")),
            "{}",
            e.message()
        );
        assert!(
            e.message().contains(&format!("TensorRT {built} headers")),
            "{}",
            e.message()
        );
    }

    #[test]
    fn a_logged_error_is_the_reason_and_verbose_lines_are_dropped() {
        let _serial = LOG_TESTS.read();
        let path = fake_nvinfer("log", header_int(), "nullptr", &["FAKE_LOG"]);
        let (logger, lines) = recording();
        let _sink = TrtLogger::attach(logger);
        let errors_before = TrtLogger::errors_on_this_thread();
        let e = Runtime::new(open(&path).create_runtime)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
        assert!(
            e.message()
                .contains("TensorRT said: fake: CUDA initialization failure"),
            "{}",
            e.message()
        );
        assert_eq!(TrtLogger::errors_on_this_thread(), errors_before + 1);
        let got = lines.lock().clone();
        assert_eq!(
            got,
            vec![
                (LogLevel::Info, "TensorRT: fake info line".to_string()),
                (
                    LogLevel::Error,
                    "TensorRT: fake: CUDA initialization failure with error: 35".to_string()
                ),
            ],
            "kVERBOSE must be dropped; the rest delivered in order"
        );
    }

    #[test]
    fn create_destroy_create_delivers_to_the_live_sink_only() {
        let _serial = LOG_TESTS.read();
        let path = fake_nvinfer("log", header_int(), "nullptr", &["FAKE_LOG"]);
        let nvinfer = open(&path);
        let (first_logger, first) = recording();
        let first_sink = TrtLogger::attach(first_logger);
        assert!(Runtime::new(nvinfer.create_runtime).is_err());
        drop(first_sink);
        let delivered_before_drop = first.lock().len();
        assert_eq!(delivered_before_drop, 2);

        let (second_logger, second) = recording();
        let _second_sink = TrtLogger::attach(second_logger);
        let e = Runtime::new(nvinfer.create_runtime)
            .map(|_| ())
            .unwrap_err();
        // The error count works again for the second pipeline: the error is named once more.
        assert!(e.message().contains("TensorRT said"), "{}", e.message());
        assert_eq!(second.lock().len(), 2);
        assert_eq!(
            first.lock().len(),
            delivered_before_drop,
            "a dropped pipeline's sink was called"
        );
    }

    #[test]
    fn two_pipelines_on_two_threads_keep_their_messages_and_error_counts_apart() {
        let _serial = LOG_TESTS.read();
        let logging = fake_nvinfer("log", header_int(), "nullptr", &["FAKE_LOG"]);
        let quiet = fake_nvinfer("null", header_int(), "nullptr", &[]);
        let start = Arc::new(std::sync::Barrier::new(2));
        let run = |path: PathBuf, rounds: usize| {
            let start = start.clone();
            std::thread::spawn(move || {
                let (logger, lines) = recording();
                let _sink = TrtLogger::attach(logger);
                let nvinfer = open(&path);
                start.wait();
                let before = TrtLogger::errors_on_this_thread();
                let mut said = 0;
                for _ in 0..rounds {
                    let e = Runtime::new(nvinfer.create_runtime)
                        .map(|_| ())
                        .unwrap_err();
                    said += usize::from(e.message().contains("TensorRT said"));
                }
                let errors = TrtLogger::errors_on_this_thread() - before;
                let delivered = lines.lock().len();
                (errors, said, delivered)
            })
        };
        let noisy = run(logging, 50);
        let silent = run(quiet, 50);
        assert_eq!(noisy.join().unwrap(), (50, 50, 100));
        // The quiet pipeline saw none of the other's errors, counted or delivered.
        assert_eq!(silent.join().unwrap(), (0, 0, 0));
    }

    #[test]
    fn a_log_callback_may_create_and_destroy_a_pipeline() {
        let _serial = LOG_TESTS.read();
        let path = fake_nvinfer("log", header_int(), "nullptr", &["FAKE_LOG"]);
        let (done, finished) = std::sync::mpsc::channel();
        // On a thread of its own: with a lock held around the callback it never returns.
        std::thread::spawn(move || {
            let nvinfer = open(&path);
            let create = nvinfer.create_runtime;
            let (inner_logger, inner) = recording();
            let calls = Arc::new(AtomicU64::new(0));
            let seen = calls.clone();
            // What creating and destroying a pipeline does to TensorRT's logger, from inside
            // the callback: a new sink, TensorRT logging again on this thread, the sink dropped.
            let outer = Logger::new(move |_, _| {
                if seen.fetch_add(1, Ordering::Relaxed) == 0 {
                    let sink = TrtLogger::attach(inner_logger.clone());
                    assert!(Runtime::new(create).is_err());
                    drop(sink);
                }
            });
            let _sink = TrtLogger::attach(outer);
            assert!(Runtime::new(create).is_err());
            let inner_lines = inner.lock().len();
            let _ = done.send((calls.load(Ordering::Relaxed), inner_lines));
        });
        let (outer_lines, inner_lines) = finished
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a callback that creates a pipeline deadlocked");
        assert_eq!((outer_lines, inner_lines), (2, 2));
    }

    #[test]
    fn a_line_from_a_thread_without_a_sink_reaches_every_sink_marked() {
        let _serial = LOG_TESTS.write();
        let path = fake_nvinfer("log", header_int(), "nullptr", &["FAKE_LOG"]);
        let nvinfer = open(&path);
        let (first_logger, first) = recording();
        let (second_logger, second) = recording();
        let _first = TrtLogger::attach(first_logger);
        let _second = std::thread::spawn(move || TrtLogger::attach(second_logger))
            .join()
            .unwrap();
        // A thread no pipeline attached stands for one of TensorRT's own.
        let create = nvinfer.create_runtime;
        std::thread::spawn(move || assert!(Runtime::new(create).is_err()))
            .join()
            .unwrap();
        let expected = vec![
            (
                LogLevel::Info,
                "TensorRT (on one of its own threads): fake info line".to_string(),
            ),
            (
                LogLevel::Error,
                "TensorRT (on one of its own threads): fake: CUDA initialization failure with \
                 error: 35"
                    .to_string(),
            ),
        ];
        assert_eq!(*first.lock(), expected, "the older pipeline");
        assert_eq!(*second.lock(), expected, "the newer pipeline");
    }

    #[test]
    fn nothing_is_formatted_for_a_pipeline_without_a_log_callback() {
        let path = fake_nvinfer("log", header_int(), "nullptr", &["FAKE_LOG"]);
        let _sink = TrtLogger::attach(Logger::default());
        let before = FORMATTED.with(|n| n.get());
        assert!(Runtime::new(open(&path).create_runtime).is_err());
        assert_eq!(FORMATTED.with(|n| n.get()), before);
        // With a callback, the same two lines are formatted (the counter does count).
        let (logger, _lines) = recording();
        let _listening = TrtLogger::attach(logger);
        assert!(Runtime::new(open(&path).create_runtime).is_err());
        assert_eq!(FORMATTED.with(|n| n.get()), before + 2);
    }

    fn request(onnx: &[u8]) -> BuildRequest<'_> {
        BuildRequest {
            onnx,
            input_name: "input",
            profile: Profile::for_batch(8, None),
            input_dims: [3, 192, 192],
            fp16: false,
            workspace_bytes: 1 << 20,
        }
    }

    #[test]
    fn a_builder_failure_is_unavailable_with_tensorrts_reason() {
        let path = fake_nvinfer("builder", header_int(), "nullptr", &["FAKE_BUILDER"]);
        let nvinfer = open(&path);
        assert!(nvinfer.create_builder.is_some());
        let _sink = TrtLogger::attach(Logger::default());
        // The fake also stands in for libnvonnxparser.
        let e = build_plan(&nvinfer, &[path.into()], &request(b"onnx"))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{}", e.message());
        assert!(
            e.message().contains("createInferBuilder failed"),
            "{}",
            e.message()
        );
        assert!(
            e.message()
                .contains("TensorRT said: fake builder: out of GPU memory"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn without_a_builder_the_parser_is_never_opened() {
        let path = fake_nvinfer("null", header_int(), "nullptr", &[]);
        let nvinfer = open(&path);
        assert!(nvinfer.create_builder.is_none());
        let e = build_plan(
            &nvinfer,
            &["/nonexistent/libnvonnxparser.so".into()],
            &request(b"x"),
        )
        .map(|_| ())
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
        assert!(
            e.message().contains("cannot build plans"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("libnvonnxparser"), "{}", e.message());
    }

    extern "C" {
        fn lmb_trt_parse_onnx_without_network(
            create_parser: ParserCreateFn,
            onnx: *const c_void,
            onnx_len: usize,
            err: *mut c_char,
            err_len: usize,
        ) -> i32;
    }

    /// The parse step of the build, with a stand-in parser that fails with the error code given
    /// as the model's first byte.
    #[test]
    fn only_parser_errors_that_blame_the_model_are_model_errors() {
        if header_version().major != 11 {
            println!("SKIPPED: the stand-in parser implements TensorRT 11's IParser");
            return;
        }
        let path = fake_nvinfer("parser", header_int(), "nullptr", &["FAKE_PARSER"]);
        let parser = OnnxParserLib::open_first_of(&[path.into()]).unwrap();
        let parse = |code: u8| {
            let model = [code];
            checked(
                ErrorKind::BackendUnavailable,
                "building the TensorRT plan",
                |err, len| {
                    // SAFETY: the stand-in parser ignores its (absent) network; `model` is live.
                    unsafe {
                        lmb_trt_parse_onnx_without_network(
                            parser.create_parser,
                            model.as_ptr().cast(),
                            model.len(),
                            err,
                            len,
                        )
                    }
                },
            )
            .map(|_| ())
            .unwrap_err()
        };
        // nvonnxparser::ErrorCode: 3 kMODEL_DESERIALIZE_FAILED, 5 kINVALID_GRAPH, 6 kINVALID_NODE.
        for code in 0..=14u8 {
            let e = parse(code);
            let expected = if matches!(code, 3 | 5 | 6) {
                ErrorKind::ModelError
            } else {
                ErrorKind::BackendUnavailable
            };
            assert_eq!(e.kind(), expected, "code {code}: {}", e.message());
        }
        let e = parse(3);
        assert!(
            e.message().contains(
                "ONNX parser rejected the model (kMODEL_DESERIALIZE_FAILED): fake parser error"
            ),
            "{}",
            e.message()
        );
        let e = parse(8);
        assert!(
            e.message()
                .contains("ONNX parser cannot take the model (kUNSUPPORTED_NODE)"),
            "{}",
            e.message()
        );
        assert!(parse(0).message().contains("no error code"));
    }

    #[test]
    fn only_the_model_status_is_a_model_error() {
        assert_eq!(
            kind_of(BAD_MODEL, ErrorKind::BackendUnavailable),
            ErrorKind::ModelError
        );
        assert_eq!(
            kind_of(1, ErrorKind::BackendUnavailable),
            ErrorKind::BackendUnavailable
        );
        assert_eq!(
            kind_of(1, ErrorKind::InferenceFailed),
            ErrorKind::InferenceFailed
        );
    }

    /// The real lean runtime from the PyPI wheel, created on a machine without a GPU: TensorRT
    /// reports an error and hands back a pointer that is not an object. Set
    /// LMBATCH_TRT_LEAN_LIB to its libnvinfer_lean.so.<major> (scripts/test.sh does).
    #[test]
    fn the_real_lean_runtime_without_a_gpu_fails_cleanly() {
        let _serial = LOG_TESTS.read();
        let Some(path) = std::env::var_os("LMBATCH_TRT_LEAN_LIB") else {
            println!("LMBATCH_TRT_LEAN_LIB is not set: the real lean runtime is not tested");
            return;
        };
        if super::super::cuda::driver_present() {
            println!("SKIPPED: a CUDA driver is present, so the runtime may well be created here");
            return;
        }
        let nvinfer = NvInfer::open_first_of(&[path], header_version()).unwrap();
        let (logger, messages) = recording();
        let _sink = TrtLogger::attach(logger);
        let e = Runtime::new(nvinfer.create_runtime)
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
}
