//! NVRTC, opened at run time, for the one kernel the backend compiles (see `cuda.rs`).
//!
//! Not cudarc's loader: that one looks only for the sonames of CUDA 9 to 12, and a machine with
//! only CUDA 13 has nothing but `libnvrtc.so.13`. Not cudarc's compile either: it gives PTX only,
//! and PTX from an NVRTC newer than the driver fails to load (`CUDA_ERROR_UNSUPPORTED_PTX_VERSION`),
//! while a CUBIN for the device's own architecture loads.

use std::ffi::{c_char, c_int, c_void, CStr, CString, OsString};
use std::sync::OnceLock;

type Program = *mut c_void;
type Status = c_int;
type CreateFn = unsafe extern "C" fn(
    *mut Program,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
) -> Status;
type CompileFn = unsafe extern "C" fn(Program, c_int, *const *const c_char) -> Status;
type SizeFn = unsafe extern "C" fn(Program, *mut usize) -> Status;
type CopyFn = unsafe extern "C" fn(Program, *mut c_char) -> Status;
type DestroyFn = unsafe extern "C" fn(*mut Program) -> Status;
type ErrorStringFn = unsafe extern "C" fn(Status) -> *const c_char;

/// The sonames to try, newest CUDA first, then the unversioned development name.
pub fn candidates() -> Vec<OsString> {
    ["13", "12", "11"]
        .iter()
        .map(|major| OsString::from(format!("libnvrtc.so.{major}")))
        .chain([OsString::from("libnvrtc.so")])
        .collect()
}

/// What the compiler is asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Machine code for this compute capability (`-arch=sm_XY`): no JIT by the driver.
    Cubin { major: i32, minor: i32 },
    /// PTX with NVRTC's default virtual architecture, compiled by the driver at load.
    Ptx,
}

impl Target {
    /// The compiler options for this target.
    pub fn options(&self) -> Vec<String> {
        match self {
            Target::Cubin { major, minor } => vec![format!("-arch=sm_{major}{minor}")],
            Target::Ptx => Vec::new(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Cubin { major, minor } => write!(f, "CUBIN for sm_{major}{minor}"),
            Target::Ptx => f.write_str("PTX"),
        }
    }
}

pub struct Nvrtc {
    create: CreateFn,
    compile: CompileFn,
    destroy: DestroyFn,
    error_string: ErrorStringFn,
    log_size: SizeFn,
    log: CopyFn,
    cubin_size: SizeFn,
    cubin: CopyFn,
    ptx_size: SizeFn,
    ptx: CopyFn,
    pub path: String,
}

/// libloading's Display says only "dlopen failed"; dlerror's text is its source.
fn describe(e: &libloading::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string())
}

impl Nvrtc {
    /// NVRTC from the first of `candidates()` that loads; loaded once per process and never
    /// unloaded (as cudarc does: a compiled module may keep references into it).
    pub fn get() -> Result<&'static Nvrtc, String> {
        static NVRTC: OnceLock<Result<Nvrtc, String>> = OnceLock::new();
        NVRTC
            .get_or_init(|| Self::open_first_of(&candidates()))
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn open_first_of(names: &[OsString]) -> Result<Nvrtc, String> {
        let mut failures = Vec::new();
        for name in names {
            // SAFETY: NVRTC's initialisers are the vendor's own; it is meant to be dlopened.
            match unsafe { libloading::Library::new(name) } {
                Ok(lib) => {
                    let path = name.to_string_lossy().into_owned();
                    let nvrtc = Self::resolve(&lib, path)?;
                    // Never unloaded: see `get`.
                    std::mem::forget(lib);
                    return Ok(nvrtc);
                }
                Err(e) => failures.push(describe(&e)),
            }
        }
        Err(format!(
            "NVRTC was not found (tried {}): {}",
            names
                .iter()
                .map(|n| n.to_string_lossy())
                .collect::<Vec<_>>()
                .join(", "),
            failures.join("; ")
        ))
    }

    fn resolve(lib: &libloading::Library, path: String) -> Result<Nvrtc, String> {
        fn get<T: Copy>(lib: &libloading::Library, path: &str, name: &str) -> Result<T, String> {
            // SAFETY: T is the C signature nvrtc.h declares for `name` (CUDA 11.1 and later).
            unsafe { lib.get::<T>(name.as_bytes()) }
                .map(|s| *s)
                .map_err(|e| format!("{path} lacks {name}: {}", describe(&e)))
        }
        Ok(Nvrtc {
            create: get(lib, &path, "nvrtcCreateProgram")?,
            compile: get(lib, &path, "nvrtcCompileProgram")?,
            destroy: get(lib, &path, "nvrtcDestroyProgram")?,
            error_string: get(lib, &path, "nvrtcGetErrorString")?,
            log_size: get(lib, &path, "nvrtcGetProgramLogSize")?,
            log: get(lib, &path, "nvrtcGetProgramLog")?,
            cubin_size: get(lib, &path, "nvrtcGetCUBINSize")?,
            cubin: get(lib, &path, "nvrtcGetCUBIN")?,
            ptx_size: get(lib, &path, "nvrtcGetPTXSize")?,
            ptx: get(lib, &path, "nvrtcGetPTX")?,
            path,
        })
    }

    fn check(&self, what: &str, status: Status) -> Result<(), String> {
        if status == 0 {
            return Ok(());
        }
        // SAFETY: nvrtcGetErrorString returns a static string for any status.
        let text = unsafe { (self.error_string)(status) };
        let text = if text.is_null() {
            format!("status {status}")
        } else {
            // SAFETY: non-null, NUL-terminated, static.
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        };
        Err(format!("{what}: {text}"))
    }

    /// Compiles `source` for `target`; the image for `cuModuleLoadData` (a CUBIN, or PTX text
    /// with its NUL), or the reason with NVRTC's log.
    pub fn compile(&self, source: &str, target: &Target) -> Result<Vec<u8>, String> {
        let source = CString::new(source).map_err(|_| "kernel source contains NUL".to_string())?;
        let options: Vec<CString> = target
            .options()
            .into_iter()
            .map(|o| CString::new(o).map_err(|_| "option contains NUL".to_string()))
            .collect::<Result<_, _>>()?;
        let option_ptrs: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();
        let mut program: Program = std::ptr::null_mut();
        // SAFETY: valid out pointer and NUL-terminated source; no headers.
        let created = unsafe {
            (self.create)(
                &mut program,
                source.as_ptr(),
                c"lmbatch_convert.cu".as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        self.check("nvrtcCreateProgram", created)?;
        let result = self.compile_program(program, &option_ptrs, target);
        // SAFETY: `program` was created above and is destroyed once.
        unsafe { (self.destroy)(&mut program) };
        result
    }

    fn compile_program(
        &self,
        program: Program,
        options: &[*const c_char],
        target: &Target,
    ) -> Result<Vec<u8>, String> {
        // SAFETY: `program` is live; `options` holds valid C strings for the call.
        let status = unsafe { (self.compile)(program, options.len() as c_int, options.as_ptr()) };
        if let Err(e) = self.check("nvrtcCompileProgram", status) {
            return Err(format!("{e}; log: {}", self.log_text(program)));
        }
        match target {
            Target::Cubin { .. } => self.read(program, self.cubin_size, self.cubin),
            // The size counts the NUL: the bytes are the C string cuModuleLoadData reads.
            Target::Ptx => self.read(program, self.ptx_size, self.ptx),
        }
    }

    /// One of NVRTC's size-then-copy outputs, exactly as NVRTC gives it.
    fn read(&self, program: Program, size: SizeFn, copy: CopyFn) -> Result<Vec<u8>, String> {
        let mut len = 0usize;
        // SAFETY: `program` is live; `len` is a valid out pointer.
        self.check("nvrtc size", unsafe { size(program, &mut len) })?;
        let mut buffer = vec![0u8; len.max(1)];
        // SAFETY: `buffer` holds at least `len` bytes, as NVRTC writes.
        self.check("nvrtc copy", unsafe {
            copy(program, buffer.as_mut_ptr().cast())
        })?;
        buffer.truncate(len);
        Ok(buffer)
    }

    /// NVRTC's compile log, as text.
    fn log_text(&self, program: Program) -> String {
        match self.read(program, self.log_size, self.log) {
            Ok(bytes) => String::from_utf8_lossy(&bytes)
                .trim_end_matches('\0')
                .trim()
                .to_string(),
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_13_is_looked_for_first() {
        let names = candidates();
        assert_eq!(names[0], "libnvrtc.so.13");
        assert!(names.contains(&OsString::from("libnvrtc.so.12")));
        assert_eq!(names.last().unwrap(), "libnvrtc.so");
    }

    #[test]
    fn targets_ask_for_the_device_arch_then_plain_ptx() {
        let cubin = Target::Cubin { major: 9, minor: 0 };
        assert_eq!(cubin.options(), vec!["-arch=sm_90".to_string()]);
        assert_eq!(cubin.to_string(), "CUBIN for sm_90");
        assert!(Target::Ptx.options().is_empty());
    }

    #[test]
    fn a_missing_nvrtc_names_every_soname_tried() {
        let e = Nvrtc::open_first_of(&["/nonexistent/libnvrtc.so.13".into()])
            .map(|_| ())
            .unwrap_err();
        assert!(e.contains("/nonexistent/libnvrtc.so.13"), "{e}");
        assert!(e.contains("NVRTC was not found"), "{e}");
    }
}
