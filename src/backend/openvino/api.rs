//! OpenVINO's C API (`libopenvino_c.so`), opened at run time with dlopen: the functions lmbatch
//! calls, found once per process, and owning wrappers that free what OpenVINO allocated. Nothing
//! here knows about batches; `super` runs them.
//!
//! The layouts and signatures below are those of OpenVINO's public C headers
//! (`openvino/c/ov_*.h`), stable since the 2.0 C API of 2022.

use std::ffi::{c_char, c_void, CStr, CString, OsStr};
use std::path::Path;
use std::sync::OnceLock;

use libloading::Library;

/// The environment variable naming the library: the `libopenvino_c.so*` file or its folder.
pub const LIB_ENV: &str = "OPENVINO_LIB_PATH";

/// The library's name on the loader's search path (an installed OpenVINO has this link; the PyPI
/// wheel has only versioned names, which [`find_in_folder`] finds).
const LIB_NAME: &str = "libopenvino_c.so";

/// `ov_status_e`: 0 is OK, every failure is negative.
type Status = i32;

/// `ov_element_type_e` values lmbatch uses.
pub const ELEMENT_F16: u32 = 3;
pub const ELEMENT_F32: u32 = 4;
pub const ELEMENT_U8: u32 = 16;

#[repr(C)]
pub struct OvCore {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct OvModel {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct OvCompiledModel {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct OvInferRequest {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct OvTensor {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct OvConstPort {
    _opaque: [u8; 0],
}

/// `ov_version_t`.
#[repr(C)]
struct OvVersion {
    build_number: *const c_char,
    description: *const c_char,
}

/// `ov_dimension_t` (also `ov_rank_t`): inclusive bounds; min == max is a static dimension.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dimension {
    pub min: i64,
    pub max: i64,
}

/// `ov_partial_shape_t`, passed by value; OpenVINO only reads it.
#[repr(C)]
struct PartialShape {
    rank: Dimension,
    dims: *mut Dimension,
}

/// `ov_shape_t`, passed by value; OpenVINO only reads it.
#[repr(C)]
struct Shape {
    rank: i64,
    dims: *mut i64,
}

/// The functions lmbatch calls, resolved once. The library stays loaded for the life of the
/// process (the `OnceLock` below never drops it), so the pointers stay valid.
pub struct Api {
    _library: Library,
    /// Where it was loaded from, for messages.
    pub path: String,
    /// OpenVINO's build number, e.g. "2026.4.1-22982-…".
    pub version: String,
    get_error_info: unsafe extern "C" fn(Status) -> *const c_char,
    get_last_err_msg: unsafe extern "C" fn() -> *const c_char,
    free: unsafe extern "C" fn(*const c_char),
    core_create: unsafe extern "C" fn(*mut *mut OvCore) -> Status,
    core_free: unsafe extern "C" fn(*mut OvCore),
    core_get_property: unsafe extern "C" fn(
        *const OvCore,
        *const c_char,
        *const c_char,
        *mut *mut c_char,
    ) -> Status,
    core_read_model: unsafe extern "C" fn(
        *const OvCore,
        *const c_char,
        *const c_char,
        *mut *mut OvModel,
    ) -> Status,
    core_read_model_from_memory_buffer: unsafe extern "C" fn(
        *const OvCore,
        *const c_char,
        usize,
        *const OvTensor,
        *mut *mut OvModel,
    ) -> Status,
    /// Variadic: `property_args_size` counts keys and values, then that many `const char*`.
    core_compile_model: unsafe extern "C" fn(
        *const OvCore,
        *const OvModel,
        *const c_char,
        usize,
        *mut *mut OvCompiledModel,
        ...
    ) -> Status,
    model_free: unsafe extern "C" fn(*mut OvModel),
    model_inputs_size: unsafe extern "C" fn(*const OvModel, *mut usize) -> Status,
    model_const_input_by_name:
        unsafe extern "C" fn(*const OvModel, *const c_char, *mut *mut OvConstPort) -> Status,
    model_const_output_by_name:
        unsafe extern "C" fn(*const OvModel, *const c_char, *mut *mut OvConstPort) -> Status,
    output_const_port_free: unsafe extern "C" fn(*mut OvConstPort),
    model_reshape_input_by_name:
        unsafe extern "C" fn(*const OvModel, *const c_char, PartialShape) -> Status,
    compiled_model_free: unsafe extern "C" fn(*mut OvCompiledModel),
    compiled_model_get_property:
        unsafe extern "C" fn(*const OvCompiledModel, *const c_char, *mut *mut c_char) -> Status,
    compiled_model_create_infer_request:
        unsafe extern "C" fn(*const OvCompiledModel, *mut *mut OvInferRequest) -> Status,
    infer_request_free: unsafe extern "C" fn(*mut OvInferRequest),
    infer_request_set_tensor:
        unsafe extern "C" fn(*mut OvInferRequest, *const c_char, *const OvTensor) -> Status,
    infer_request_get_tensor:
        unsafe extern "C" fn(*const OvInferRequest, *const c_char, *mut *mut OvTensor) -> Status,
    infer_request_start_async: unsafe extern "C" fn(*mut OvInferRequest) -> Status,
    infer_request_wait: unsafe extern "C" fn(*mut OvInferRequest) -> Status,
    tensor_create_from_host_ptr:
        unsafe extern "C" fn(u32, Shape, *mut c_void, *mut *mut OvTensor) -> Status,
    tensor_free: unsafe extern "C" fn(*mut OvTensor),
    tensor_data: unsafe extern "C" fn(*const OvTensor, *mut *mut c_void) -> Status,
    tensor_get_size: unsafe extern "C" fn(*const OvTensor, *mut usize) -> Status,
    tensor_get_element_type: unsafe extern "C" fn(*const OvTensor, *mut u32) -> Status,
}

/// The library is opened once per process: a shared library cannot be swapped once loaded (its
/// plugins and TBB are process-wide). The outcome, or why it failed, serves every later handle.
static API: OnceLock<Result<Api, String>> = OnceLock::new();

/// The process's OpenVINO, loaded on first use from [`LIB_ENV`] or the loader's path.
pub fn api() -> Result<&'static Api, String> {
    API.get_or_init(|| {
        if under_address_sanitizer() {
            // Measured: OpenVINO's TBB dlopens libtbbbind with RTLD_DEEPBIND, which ASan's runtime
            // answers by ending the process; refusing keeps AUTO's fallback working.
            return Err(
                "OpenVINO is not opened under AddressSanitizer: its TBB loads libtbbbind \
                        with RTLD_DEEPBIND, which the sanitizer's runtime aborts on"
                    .to_string(),
            );
        }
        let env = std::env::var_os(LIB_ENV);
        let path = library_path(env.as_deref())?;
        Api::load(&path)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Whether this process runs with AddressSanitizer's runtime (its entry point is a global symbol).
fn under_address_sanitizer() -> bool {
    // SAFETY: looking a symbol up in the running program calls nothing; the address is not used.
    unsafe { libloading::os::unix::Library::this().get::<*const c_void>(b"__asan_init\0") }.is_ok()
}

/// What to dlopen: the file [`LIB_ENV`] names, the newest `libopenvino_c.so*` in the folder it
/// names, or [`LIB_NAME`] for the loader to find.
pub fn library_path(env: Option<&OsStr>) -> Result<String, String> {
    let Some(value) = env.filter(|v| !v.is_empty()) else {
        return Ok(LIB_NAME.to_string());
    };
    let path = Path::new(value);
    let file = if path.is_dir() {
        let names = std::fs::read_dir(path)
            .map_err(|e| format!("{LIB_ENV}={}: {e}", path.display()))?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok());
        let name = find_in_folder(names).ok_or_else(|| {
            format!(
                "{LIB_ENV}={} holds no {LIB_NAME}* (the openvino Python wheel has it in \
                 openvino/libs)",
                path.display()
            )
        })?;
        path.join(name)
    } else if path.is_file() {
        path.to_path_buf()
    } else {
        return Err(format!(
            "{LIB_ENV}={} is neither a file nor a folder",
            path.display()
        ));
    };
    file.to_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{LIB_ENV}={} is not UTF-8", file.display()))
}

/// Of a folder's file names, the C library: `libopenvino_c.so` itself, else the versioned name
/// with the highest version (`libopenvino_c.so.2641`; the wheel ships only that).
pub fn find_in_folder(names: impl IntoIterator<Item = String>) -> Option<String> {
    let mut best: Option<(Vec<u64>, String)> = None;
    for name in names {
        let Some(rest) = name.strip_prefix(LIB_NAME) else {
            continue;
        };
        if rest.is_empty() {
            return Some(name);
        }
        let Some(version) = rest.strip_prefix('.') else {
            continue;
        };
        let Ok(numbers) = version
            .split('.')
            .map(str::parse::<u64>)
            .collect::<Result<Vec<_>, _>>()
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| numbers > *b) {
            best = Some((numbers, name));
        }
    }
    best.map(|(_, name)| name)
}

impl Api {
    fn load(path: &str) -> Result<Api, String> {
        // SAFETY: loading runs the library's initialisers; OpenVINO's only set up its own state.
        let library = unsafe { Library::new(path) }.map_err(|e| {
            format!(
                "cannot load OpenVINO from {path:?}: {e} (set {LIB_ENV} to the {LIB_NAME}* file \
                 or its folder, e.g. openvino/libs of the openvino Python wheel)"
            )
        })?;
        let version = {
            type GetVersion = unsafe extern "C" fn(*mut OvVersion) -> Status;
            type FreeVersion = unsafe extern "C" fn(*mut OvVersion);
            // SAFETY: the types are those of ov_core.h.
            let (get, free) = unsafe {
                (
                    library.get::<GetVersion>(b"ov_get_openvino_version\0"),
                    library.get::<FreeVersion>(b"ov_version_free\0"),
                )
            };
            let (Ok(get), Ok(free)) = (get, free) else {
                return Err(format!(
                    "{path:?} is not OpenVINO's C library (it has no ov_get_openvino_version)"
                ));
            };
            let mut v = OvVersion {
                build_number: std::ptr::null(),
                description: std::ptr::null(),
            };
            // SAFETY: `v` is writable; OpenVINO fills both strings, freed right after.
            let status = unsafe { get(&mut v) };
            let text = if status == 0 && !v.build_number.is_null() {
                // SAFETY: a NUL-terminated string OpenVINO allocated.
                unsafe { CStr::from_ptr(v.build_number) }
                    .to_string_lossy()
                    .into_owned()
            } else {
                "unknown".to_string()
            };
            // SAFETY: what `get` filled (null fields are skipped by OpenVINO).
            unsafe { free(&mut v) };
            text
        };
        macro_rules! symbol {
            ($name:literal) => {{
                // SAFETY: each field's type is the function's signature in OpenVINO's C headers.
                match unsafe { library.get(concat!($name, "\0").as_bytes()) } {
                    Ok(f) => *f,
                    Err(_) => {
                        return Err(format!(
                            "the OpenVINO at {path:?} (version {version}) is too old for lmbatch: \
                             it lacks {} (lmbatch is tested with OpenVINO 2026.4)",
                            $name
                        ))
                    }
                }
            }};
        }
        Ok(Api {
            get_error_info: symbol!("ov_get_error_info"),
            get_last_err_msg: symbol!("ov_get_last_err_msg"),
            free: symbol!("ov_free"),
            core_create: symbol!("ov_core_create"),
            core_free: symbol!("ov_core_free"),
            core_get_property: symbol!("ov_core_get_property"),
            core_read_model: symbol!("ov_core_read_model"),
            core_read_model_from_memory_buffer: symbol!("ov_core_read_model_from_memory_buffer"),
            core_compile_model: symbol!("ov_core_compile_model"),
            model_free: symbol!("ov_model_free"),
            model_inputs_size: symbol!("ov_model_inputs_size"),
            model_const_input_by_name: symbol!("ov_model_const_input_by_name"),
            model_const_output_by_name: symbol!("ov_model_const_output_by_name"),
            output_const_port_free: symbol!("ov_output_const_port_free"),
            model_reshape_input_by_name: symbol!("ov_model_reshape_input_by_name"),
            compiled_model_free: symbol!("ov_compiled_model_free"),
            compiled_model_get_property: symbol!("ov_compiled_model_get_property"),
            compiled_model_create_infer_request: symbol!("ov_compiled_model_create_infer_request"),
            infer_request_free: symbol!("ov_infer_request_free"),
            infer_request_set_tensor: symbol!("ov_infer_request_set_tensor"),
            infer_request_get_tensor: symbol!("ov_infer_request_get_tensor"),
            infer_request_start_async: symbol!("ov_infer_request_start_async"),
            infer_request_wait: symbol!("ov_infer_request_wait"),
            tensor_create_from_host_ptr: symbol!("ov_tensor_create_from_host_ptr"),
            tensor_free: symbol!("ov_tensor_free"),
            tensor_data: symbol!("ov_tensor_data"),
            tensor_get_size: symbol!("ov_tensor_get_size"),
            tensor_get_element_type: symbol!("ov_tensor_get_element_type"),
            path: path.to_string(),
            version,
            _library: library,
        })
    }

    /// A failed call as text: the status's name and OpenVINO's last error message (the C API
    /// keeps one per process; its first line is the useful part).
    fn failure(&self, status: Status) -> String {
        // SAFETY: ov_get_error_info returns a static string for any status.
        let name = unsafe { CStr::from_ptr((self.get_error_info)(status)) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: no arguments; the result is null or a copy to free with ov_free.
        let message = unsafe { (self.get_last_err_msg)() };
        if message.is_null() {
            return name;
        }
        // SAFETY: a NUL-terminated copy, freed right after.
        let text = unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .trim()
            .to_string();
        // SAFETY: allocated by OpenVINO for the caller.
        unsafe { (self.free)(message) };
        format!("{name}: {text}")
    }

    fn check(&self, status: Status) -> Result<(), String> {
        if status == 0 {
            Ok(())
        } else {
            Err(self.failure(status))
        }
    }

    /// Takes a string OpenVINO allocated for the caller.
    fn take_string(&self, raw: *mut c_char) -> String {
        if raw.is_null() {
            return String::new();
        }
        // SAFETY: a NUL-terminated string from OpenVINO, freed right after.
        let text = unsafe { CStr::from_ptr(raw) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: allocated by OpenVINO for the caller.
        unsafe { (self.free)(raw) };
        text
    }
}

fn c_string(text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| format!("{text:?} holds a NUL byte"))
}

/// An `ov_core_t`: the plugins it loaded are released with it.
pub struct Core {
    api: &'static Api,
    raw: *mut OvCore,
}

impl Core {
    pub fn new(api: &'static Api) -> Result<Core, String> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: `raw` is writable.
        api.check(unsafe { (api.core_create)(&mut raw) })?;
        Ok(Core { api, raw })
    }

    /// A device's read-only property as OpenVINO prints it (lists are space-separated).
    pub fn property(&self, device: &str, key: &str) -> Result<String, String> {
        let (device, key) = (c_string(device)?, c_string(key)?);
        let mut value = std::ptr::null_mut();
        // SAFETY: live core, NUL-terminated strings, writable out pointer.
        let status = unsafe {
            (self.api.core_get_property)(self.raw, device.as_ptr(), key.as_ptr(), &mut value)
        };
        self.api.check(status)?;
        Ok(self.api.take_string(value))
    }

    /// Reads an ONNX (or IR) file; external data beside it is found by OpenVINO.
    pub fn read_model_file(&self, path: &Path) -> Result<Model, String> {
        let path = path
            .to_str()
            .ok_or_else(|| format!("{} is not UTF-8", path.display()))
            .and_then(c_string)?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: live core, NUL-terminated path, no separate weights file, writable out pointer.
        let status = unsafe {
            (self.api.core_read_model)(self.raw, path.as_ptr(), std::ptr::null(), &mut raw)
        };
        self.api.check(status)?;
        Ok(Model { api: self.api, raw })
    }

    /// Reads an ONNX model held in memory (the bundled one).
    pub fn read_model_bytes(&self, bytes: &[u8]) -> Result<Model, String> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: live core; OpenVINO copies `bytes.len()` bytes; no weights tensor.
        let status = unsafe {
            (self.api.core_read_model_from_memory_buffer)(
                self.raw,
                bytes.as_ptr().cast(),
                bytes.len(),
                std::ptr::null(),
                &mut raw,
            )
        };
        self.api.check(status)?;
        Ok(Model { api: self.api, raw })
    }

    /// Compiles `model` for `device` with string properties (key, value).
    pub fn compile(
        &self,
        model: &Model,
        device: &str,
        properties: &Properties,
    ) -> Result<CompiledModel, String> {
        let device = c_string(device)?;
        let p = properties
            .pairs
            .iter()
            .map(|(k, v)| Ok((c_string(k)?, c_string(v)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let arg =
            |i: usize| -> (*const c_char, *const c_char) { (p[i].0.as_ptr(), p[i].1.as_ptr()) };
        let ((k0, v0), (k1, v1), (k2, v2), (k3, v3), (k4, v4)) =
            (arg(0), arg(1), arg(2), arg(3), arg(4));
        let mut raw = std::ptr::null_mut();
        // SAFETY: live core and model; 10 variadic arguments, all NUL-terminated strings that live
        // until the call returns, as property_args_size says.
        let status = unsafe {
            (self.api.core_compile_model)(
                self.raw,
                model.raw,
                device.as_ptr(),
                2 * Properties::COUNT,
                &mut raw,
                k0,
                v0,
                k1,
                v1,
                k2,
                v2,
                k3,
                v3,
                k4,
                v4,
            )
        };
        self.api.check(status)?;
        Ok(CompiledModel { api: self.api, raw })
    }
}

/// The compile properties lmbatch sets: always the same keys, so the variadic call has one
/// fixed form (an empty CACHE_DIR is OpenVINO's own "no cache").
pub struct Properties {
    pairs: [(&'static str, String); Properties::COUNT],
}

impl Properties {
    const COUNT: usize = 5;

    pub fn new(
        hint: &str,
        streams: usize,
        precision: &str,
        threads: usize,
        cache_dir: &str,
    ) -> Properties {
        Properties {
            pairs: [
                ("PERFORMANCE_HINT", hint.to_string()),
                ("NUM_STREAMS", streams.to_string()),
                ("INFERENCE_PRECISION_HINT", precision.to_string()),
                ("INFERENCE_NUM_THREADS", threads.to_string()),
                ("CACHE_DIR", cache_dir.to_string()),
            ],
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // SAFETY: created by ov_core_create, freed once.
        unsafe { (self.api.core_free)(self.raw) };
    }
}

/// An `ov_model_t`: the graph before compilation.
pub struct Model {
    api: &'static Api,
    raw: *mut OvModel,
}

impl Model {
    pub fn inputs(&self) -> Result<usize, String> {
        let mut n = 0;
        // SAFETY: live model, writable count.
        self.api
            .check(unsafe { (self.api.model_inputs_size)(self.raw, &mut n) })?;
        Ok(n)
    }

    /// Whether the model has an input (`output` false) or output tensor of that name.
    pub fn has_tensor(&self, name: &str, output: bool) -> Result<bool, String> {
        let name = c_string(name)?;
        let find = if output {
            self.api.model_const_output_by_name
        } else {
            self.api.model_const_input_by_name
        };
        let mut port = std::ptr::null_mut();
        // SAFETY: live model, NUL-terminated name, writable out pointer.
        let status = unsafe { find(self.raw, name.as_ptr(), &mut port) };
        if status != 0 || port.is_null() {
            return Ok(false);
        }
        // SAFETY: the port the call above created.
        unsafe { (self.api.output_const_port_free)(port) };
        Ok(true)
    }

    /// Gives input `name` these dimensions.
    pub fn reshape_input(&self, name: &str, dims: &[Dimension]) -> Result<(), String> {
        let name = c_string(name)?;
        let mut dims = dims.to_vec();
        let rank = dims.len() as i64;
        let shape = PartialShape {
            rank: Dimension {
                min: rank,
                max: rank,
            },
            dims: dims.as_mut_ptr(),
        };
        // SAFETY: live model; `shape` points at `dims`, alive for the call, which only reads it.
        let status =
            unsafe { (self.api.model_reshape_input_by_name)(self.raw, name.as_ptr(), shape) };
        self.api.check(status)
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: created by a read call, freed once.
        unsafe { (self.api.model_free)(self.raw) };
    }
}

/// An `ov_compiled_model_t`: the network compiled for a device, with its streams' threads.
pub struct CompiledModel {
    api: &'static Api,
    raw: *mut OvCompiledModel,
}

impl CompiledModel {
    pub fn property(&self, key: &str) -> Result<String, String> {
        let key = c_string(key)?;
        let mut value = std::ptr::null_mut();
        // SAFETY: live compiled model, NUL-terminated key, writable out pointer.
        let status =
            unsafe { (self.api.compiled_model_get_property)(self.raw, key.as_ptr(), &mut value) };
        self.api.check(status)?;
        Ok(self.api.take_string(value))
    }

    pub fn infer_request(&self) -> Result<InferRequest, String> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: live compiled model, writable out pointer.
        let status = unsafe { (self.api.compiled_model_create_infer_request)(self.raw, &mut raw) };
        self.api.check(status)?;
        Ok(InferRequest {
            api: self.api,
            raw,
            running: false,
        })
    }
}

impl Drop for CompiledModel {
    fn drop(&mut self) {
        // SAFETY: created by compile, freed once (after its requests: see the backend's fields).
        unsafe { (self.api.compiled_model_free)(self.raw) };
    }
}

/// An `ov_infer_request_t`: one inference at a time, run asynchronously on a stream.
pub struct InferRequest {
    api: &'static Api,
    raw: *mut OvInferRequest,
    /// Started and not yet waited for.
    running: bool,
}

impl InferRequest {
    /// Sets input `name` to `n` items of `item_shape` held in `data` (not copied: `data` must
    /// stay untouched until [`wait`](Self::wait) returns).
    ///
    /// # Safety
    /// `data` must point at `n × item_shape`'s product elements of `element` type, alive and
    /// unmoved until the inference started next has been waited for.
    pub unsafe fn set_input(
        &mut self,
        name: &str,
        element: u32,
        shape: &[usize],
        data: *mut c_void,
    ) -> Result<(), String> {
        let name = c_string(name)?;
        let mut dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let shape = Shape {
            rank: dims.len() as i64,
            dims: dims.as_mut_ptr(),
        };
        let mut tensor = std::ptr::null_mut();
        // SAFETY: `shape` points at `dims` for the call; `data` is as the caller promised.
        self.api.check(unsafe {
            (self.api.tensor_create_from_host_ptr)(element, shape, data, &mut tensor)
        })?;
        // SAFETY: live request and tensor; the request keeps its own reference to the tensor.
        let status =
            unsafe { (self.api.infer_request_set_tensor)(self.raw, name.as_ptr(), tensor) };
        // SAFETY: our handle on the tensor, created above.
        unsafe { (self.api.tensor_free)(tensor) };
        self.api.check(status)
    }

    pub fn start(&mut self) -> Result<(), String> {
        // SAFETY: live request with its input set.
        self.api
            .check(unsafe { (self.api.infer_request_start_async)(self.raw) })?;
        self.running = true;
        Ok(())
    }

    pub fn wait(&mut self) -> Result<(), String> {
        self.running = false;
        // SAFETY: live request.
        self.api
            .check(unsafe { (self.api.infer_request_wait)(self.raw) })
    }

    /// Output `name` of the last finished inference as f32 values, passed to `read` (the
    /// request's own memory, valid until its next inference).
    pub fn with_output<T>(&self, name: &str, read: impl FnOnce(&[f32]) -> T) -> Result<T, String> {
        let name = c_string(name)?;
        let mut tensor = std::ptr::null_mut();
        // SAFETY: live request, NUL-terminated name, writable out pointer.
        self.api.check(unsafe {
            (self.api.infer_request_get_tensor)(self.raw, name.as_ptr(), &mut tensor)
        })?;
        let guard = TensorHandle {
            api: self.api,
            raw: tensor,
        };
        let (mut element, mut size, mut data) = (0u32, 0usize, std::ptr::null_mut());
        // SAFETY: live tensor, writable out values.
        self.api
            .check(unsafe { (self.api.tensor_get_element_type)(guard.raw, &mut element) })?;
        if element != ELEMENT_F32 {
            return Err(format!(
                "output {name:?} has element type {element} (ov_element_type_e), f32 expected"
            ));
        }
        // SAFETY: as above.
        self.api
            .check(unsafe { (self.api.tensor_get_size)(guard.raw, &mut size) })?;
        // SAFETY: as above.
        self.api
            .check(unsafe { (self.api.tensor_data)(guard.raw, &mut data) })?;
        if data.is_null() && size > 0 {
            return Err(format!("output {name:?} has no data"));
        }
        let values = if size == 0 {
            &[][..]
        } else {
            // SAFETY: an f32 tensor of `size` elements, alive while `guard` is.
            unsafe { std::slice::from_raw_parts(data.cast::<f32>(), size) }
        };
        Ok(read(values))
    }
}

impl Drop for InferRequest {
    fn drop(&mut self) {
        if self.running {
            // The inference still reads its input; it must end before the buffers go.
            // SAFETY: live request.
            unsafe { (self.api.infer_request_wait)(self.raw) };
        }
        // SAFETY: created by create_infer_request, freed once.
        unsafe { (self.api.infer_request_free)(self.raw) };
    }
}

struct TensorHandle {
    api: &'static Api,
    raw: *mut OvTensor,
}

impl Drop for TensorHandle {
    fn drop(&mut self) {
        // SAFETY: a handle OpenVINO gave us, freed once.
        unsafe { (self.api.tensor_free)(self.raw) };
    }
}

// SAFETY: OpenVINO's core, compiled model and infer requests may be used from any thread (the
// C++ objects behind them are thread-safe, a request as long as one thread uses it at a time,
// which the worker guarantees: the backend is used on its thread only).
unsafe impl Send for Core {}
// SAFETY: as above.
unsafe impl Send for Model {}
// SAFETY: as above.
unsafe impl Send for CompiledModel {}
// SAFETY: as above.
unsafe impl Send for InferRequest {}
// SAFETY: the API table holds only function pointers and strings after loading.
unsafe impl Sync for Api {}
// SAFETY: as above.
unsafe impl Send for Api {}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_unversioned_name_wins_else_the_highest_version() {
        assert_eq!(
            find_in_folder(names(&["libopenvino.so.2641", "libopenvino_c.so.2641"])),
            Some("libopenvino_c.so.2641".into())
        );
        assert_eq!(
            find_in_folder(names(&[
                "libopenvino_c.so.2541",
                "libopenvino_c.so.2641",
                "libopenvino_c.so.999"
            ])),
            Some("libopenvino_c.so.2641".into())
        );
        assert_eq!(
            find_in_folder(names(&["libopenvino_c.so.2641", "libopenvino_c.so"])),
            Some("libopenvino_c.so".into())
        );
        assert_eq!(
            find_in_folder(names(&[
                "libopenvino_c.so.2026.4.1",
                "libopenvino_c.so.2026.10.0"
            ])),
            Some("libopenvino_c.so.2026.10.0".into())
        );
        assert_eq!(
            find_in_folder(names(&["libopenvino_c.so.bak", "libopenvino_core.so", "x"])),
            None
        );
    }

    #[test]
    fn the_path_comes_from_the_variable_or_the_loader() {
        assert_eq!(library_path(None).unwrap(), LIB_NAME);
        assert_eq!(library_path(Some(OsStr::new(""))).unwrap(), LIB_NAME);
        let dir = std::env::temp_dir().join(format!("lmbatch-ov-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = library_path(Some(dir.as_os_str())).unwrap_err();
        assert!(missing.contains("holds no libopenvino_c.so"), "{missing}");
        std::fs::write(dir.join("libopenvino_c.so.2641"), b"").unwrap();
        assert_eq!(
            library_path(Some(dir.as_os_str())).unwrap(),
            dir.join("libopenvino_c.so.2641").to_str().unwrap()
        );
        let file = dir.join("libopenvino_c.so.2641");
        assert_eq!(
            library_path(Some(file.as_os_str())).unwrap(),
            file.to_str().unwrap()
        );
        let nothing = library_path(Some(dir.join("nope").as_os_str())).unwrap_err();
        assert!(nothing.contains("neither a file nor a folder"), "{nothing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_library_that_is_not_openvino_says_so() {
        // The C library itself: present wherever the tests run, and no OpenVINO.
        let why = Api::load("libc.so.6").err().unwrap();
        assert!(why.contains("is not OpenVINO's C library"), "{why}");
        let why = Api::load("/nonexistent/libopenvino_c.so.1").err().unwrap();
        assert!(
            why.contains("cannot load OpenVINO") && why.contains(LIB_ENV),
            "{why}"
        );
    }

    /// A library with OpenVINO's version call and nothing else stands for an old OpenVINO.
    #[test]
    fn an_openvino_without_a_needed_function_is_too_old() {
        let dir = std::env::temp_dir().join(format!("lmbatch-ov-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("old.c");
        std::fs::write(
            &source,
            "typedef struct { const char *b, *d; } v_t;\n\
             int ov_get_openvino_version(v_t *v) { v->b = \"2021.4.0-fake\"; v->d = 0; return 0; }\n\
             void ov_version_free(v_t *v) { (void)v; }\n",
        )
        .unwrap();
        let library = dir.join("libopenvino_c.so.2141");
        let compiled = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&library)
            .arg(&source)
            .status()
            .expect("a C compiler (scripts/system-packages.txt)");
        assert!(compiled.success());
        let why = Api::load(library.to_str().unwrap()).err().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            why.contains("too old") && why.contains("2021.4.0-fake") && why.contains("lacks ov_"),
            "{why}"
        );
    }
}
