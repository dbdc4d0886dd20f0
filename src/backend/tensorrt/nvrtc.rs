//! NVRTC, opened at run time, for the one kernel the backend compiles (see `cuda.rs`).
//!
//! Not cudarc's loader: that one looks only for the sonames of CUDA 9 to 12, and a machine with
//! only CUDA 13 has nothing but `libnvrtc.so.13`. Not cudarc's compile either: it gives PTX only,
//! and PTX from an NVRTC newer than the driver fails to load (`CUDA_ERROR_UNSUPPORTED_PTX_VERSION`),
//! while a CUBIN for the device's own architecture usually loads. Which NVRTC is asked first
//! follows the driver's CUDA version ([`candidates`]); the others are tried in turn.

use std::ffi::{c_char, c_int, c_void, CStr, CString, OsString};

use parking_lot::Mutex;

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

/// The CUDA majors whose NVRTC is looked for.
const MAJORS: [u32; 3] = [13, 12, 11];

/// The NVRTC sonames to try, best first, for a driver of CUDA `driver_major` (`None`: unknown).
/// First the NVRTCs no newer than the driver, newest first: the driver loads their PTX and
/// CUBINs. Then the unversioned development name. Last the newer ones, nearest first: their PTX
/// is refused (`CUDA_ERROR_UNSUPPORTED_PTX_VERSION`) and NVRTC 13 has no target below sm_75, but a
/// CUBIN from them may still load. With the driver unknown: newest first.
pub fn candidates(driver_major: Option<u32>) -> Vec<OsString> {
    let soname = |major: &u32| OsString::from(format!("libnvrtc.so.{major}"));
    let limit = driver_major.unwrap_or(u32::MAX);
    let mut newer: Vec<u32> = MAJORS.iter().copied().filter(|m| *m > limit).collect();
    newer.sort_unstable();
    MAJORS
        .iter()
        .filter(|m| **m <= limit)
        .map(soname)
        .chain([OsString::from("libnvrtc.so")])
        .chain(newer.iter().map(soname))
        .collect()
}

/// The CUDA major of a `cuDriverGetVersion` value (1000 × major + 10 × minor).
pub fn driver_major(version: i32) -> Option<u32> {
    u32::try_from(version)
        .ok()
        .filter(|v| *v > 0)
        .map(|v| v / 1000)
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
    /// Every NVRTC of `names` that loads, in that order, and a line for each that did not. Each
    /// is loaded once per process and never unloaded (as cudarc does: a compiled module may keep
    /// references into it). A name that resolves to a library already listed is skipped.
    pub fn all_of(names: &[OsString]) -> (Vec<&'static Nvrtc>, Vec<String>) {
        static LOADED: Mutex<Vec<(OsString, &'static Nvrtc)>> = Mutex::new(Vec::new());
        let mut found: Vec<&'static Nvrtc> = Vec::new();
        let mut failures = Vec::new();
        for name in names {
            let mut loaded = LOADED.lock();
            let nvrtc = match loaded.iter().find(|(n, _)| n == name) {
                Some((_, nvrtc)) => *nvrtc,
                None => match Self::open(name) {
                    Ok(nvrtc) => {
                        let nvrtc: &'static Nvrtc = Box::leak(Box::new(nvrtc));
                        loaded.push((name.clone(), nvrtc));
                        nvrtc
                    }
                    Err(why) => {
                        failures.push(why);
                        continue;
                    }
                },
            };
            // The unversioned name is usually a link to one of the others.
            if !found
                .iter()
                .any(|f| f.create as usize == nvrtc.create as usize)
            {
                found.push(nvrtc);
            }
        }
        (found, failures)
    }

    /// Why none of `names` loaded, for the log.
    pub fn none_found(names: &[OsString], failures: &[String]) -> String {
        format!(
            "NVRTC was not found (tried {}): {}",
            names
                .iter()
                .map(|n| n.to_string_lossy())
                .collect::<Vec<_>>()
                .join(", "),
            failures.join("; ")
        )
    }

    fn open(name: &OsString) -> Result<Nvrtc, String> {
        // SAFETY: NVRTC's initialisers are the vendor's own; it is meant to be dlopened.
        let lib = unsafe { libloading::Library::new(name) }.map_err(|e| describe(&e))?;
        let nvrtc = Self::resolve(&lib, name.to_string_lossy().into_owned())?;
        // Never unloaded: see `all_of`.
        std::mem::forget(lib);
        Ok(nvrtc)
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
    fn nvrtcs_no_newer_than_the_driver_come_first() {
        let names = |driver| -> Vec<String> {
            candidates(driver)
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect()
        };
        let so = |m: &str| format!("libnvrtc.so{m}");
        // A CUDA 12 driver: NVRTC 13 makes PTX it refuses, so 12 first and 13 last.
        assert_eq!(
            names(driver_major(12_040)),
            [so(".12"), so(".11"), so(""), so(".13")]
        );
        assert_eq!(
            names(driver_major(13_000)),
            [so(".13"), so(".12"), so(".11"), so("")]
        );
        assert_eq!(
            names(driver_major(11_080)),
            [so(".11"), so(""), so(".12"), so(".13")]
        );
        // Unknown driver (the call failed): newest first, as before.
        assert_eq!(names(None), [so(".13"), so(".12"), so(".11"), so("")]);
        assert_eq!(driver_major(0), None);
        assert_eq!(driver_major(-1), None);
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
        let names: Vec<OsString> = vec!["/nonexistent/libnvrtc.so.13".into()];
        let (found, failures) = Nvrtc::all_of(&names);
        assert!(found.is_empty());
        let e = Nvrtc::none_found(&names, &failures);
        assert!(e.contains("/nonexistent/libnvrtc.so.13"), "{e}");
        assert!(e.contains("NVRTC was not found"), "{e}");
    }
}
