//! Finding and opening TensorRT's libraries at run time. Nothing of TensorRT is linked: a
//! `liblmbatch.so` must load on machines without it, and the same file must work with whichever
//! TensorRT of the right major version the machine has.
//!
//! The shim is compiled against one TensorRT version's headers. TensorRT's promise runs one way:
//! code built against older headers works with a newer library of the same major, not the reverse.
//! So a library of another major, or of the same major but an older minor, is refused before
//! anything is called through it.

use std::ffi::OsString;

use crate::error::{Error, ErrorKind, Result};

/// Names the libnvinfer to open instead of searching (a path or a soname), e.g. the lean runtime.
pub const NVINFER_ENV: &str = "LMBATCH_TENSORRT_LIB";
/// Names the libnvonnxparser to open instead of searching.
pub const PARSER_ENV: &str = "LMBATCH_TENSORRT_PARSER_LIB";

/// `void* createInferRuntime_INTERNAL(void* logger, int32_t version)` and its builder twin.
pub type CreateFn = unsafe extern "C" fn(*mut std::ffi::c_void, i32) -> *mut std::ffi::c_void;
/// `void* createNvOnnxParser_INTERNAL(void* network, void* logger, int version)`.
pub type ParserCreateFn = unsafe extern "C" fn(
    *mut std::ffi::c_void,
    *mut std::ffi::c_void,
    std::ffi::c_int,
) -> *mut std::ffi::c_void;
type VersionFn = unsafe extern "C" fn() -> i32;

/// A TensorRT version as `getInferLibVersion` and `NV_TENSORRT_VERSION` encode it since
/// TensorRT 10: major × 10000 + minor × 100 + patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrtVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl TrtVersion {
    pub fn from_encoded(value: i32) -> Self {
        let v = value.max(0) as u32;
        TrtVersion {
            major: v / 10_000,
            minor: (v / 100) % 100,
            patch: v % 100,
        }
    }
}

impl std::fmt::Display for TrtVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

fn unavailable(message: String) -> Error {
    Error::new(ErrorKind::BackendUnavailable, message)
}

/// Refuses a library of another major than the headers the shim was built with, or of the same
/// major and an older minor (the headers may use what that library does not have).
pub fn check_version(found: TrtVersion, built_for: TrtVersion) -> Result<()> {
    if found.major == built_for.major && found.minor >= built_for.minor {
        Ok(())
    } else {
        Err(unavailable(format!(
            "found TensorRT {found}, but this lmbatch was built against TensorRT {built_for} \
             headers and needs TensorRT {}.x with x >= {}",
            built_for.major, built_for.minor
        )))
    }
}

/// What to try to open, in order: the override if set, else the soname of the wanted major.
pub fn candidates(stem: &str, major: u32, override_path: Option<OsString>) -> Vec<OsString> {
    match override_path {
        Some(path) if !path.is_empty() => vec![path],
        _ => vec![OsString::from(format!("{stem}.so.{major}"))],
    }
}

/// libloading's Display says only "dlopen failed"; dlerror's text is its source.
fn describe(e: &libloading::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => source.to_string(),
        None => e.to_string(),
    }
}

fn open_first(names: &[OsString]) -> Result<(libloading::Library, String)> {
    let mut failures = Vec::new();
    for name in names {
        // SAFETY: opening a shared library runs its initialisers; TensorRT's are the vendor's own
        // and this is the documented way to use it without linking.
        match unsafe { libloading::Library::new(name) } {
            Ok(lib) => return Ok((lib, name.to_string_lossy().into_owned())),
            Err(e) => failures.push(describe(&e)),
        }
    }
    Err(unavailable(format!(
        "cannot load TensorRT (is it installed and on the loader path?): {}",
        failures.join("; ")
    )))
}

fn symbol<T: Copy>(lib: &libloading::Library, path: &str, name: &str) -> Result<T> {
    // SAFETY: T is the exact C signature TensorRT's headers declare for `name`.
    unsafe { lib.get::<T>(name.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| {
            unavailable(format!(
                "{path} is not a usable TensorRT library: {}",
                describe(&e)
            ))
        })
}

/// libnvinfer, opened, version-checked, with its factory functions resolved.
pub struct NvInfer {
    pub path: String,
    pub version: TrtVersion,
    pub create_runtime: CreateFn,
    /// Absent in the lean runtime, which can run plans but not build them.
    pub create_builder: Option<CreateFn>,
    // Last field: dropped after nothing else can call into it. See `keep_loaded`.
    lib: Option<libloading::Library>,
}

impl NvInfer {
    /// Opens libnvinfer for the version `built_for`; refuses another major or an older minor.
    pub fn open(built_for: TrtVersion) -> Result<Self> {
        let names = candidates("libnvinfer", built_for.major, std::env::var_os(NVINFER_ENV));
        Self::open_first_of(&names, built_for)
    }

    /// Opens the first of `names` that loads, then checks its version and symbols.
    pub fn open_first_of(names: &[OsString], built_for: TrtVersion) -> Result<Self> {
        let (lib, path) = open_first(names)?;
        let get_version: VersionFn = symbol(&lib, &path, "getInferLibVersion")?;
        // SAFETY: getInferLibVersion takes nothing and only returns a constant.
        let version = TrtVersion::from_encoded(unsafe { get_version() });
        // Named by path: where an older library of the major is installed, the reader must see
        // which file was found (the soname alone hides which install the loader picked).
        check_version(version, built_for)
            .map_err(|e| unavailable(format!("{path}: {}", e.message())))?;
        let create_runtime = symbol(&lib, &path, "createInferRuntime_INTERNAL")?;
        let create_builder = symbol(&lib, &path, "createInferBuilder_INTERNAL").ok();
        Ok(NvInfer {
            path,
            version,
            create_runtime,
            create_builder,
            lib: Some(lib),
        })
    }

    /// Once TensorRT objects have been created, the library stays loaded for the life of the
    /// process: TensorRT starts internal threads and registers exit handlers that must not
    /// outlive its code. (A library refused before any object was made is closed again.)
    pub fn keep_loaded(&mut self) {
        keep_forever(&mut self.lib);
    }
}

/// Leaks the handle so the library is never closed (see [`NvInfer::keep_loaded`]).
fn keep_forever(lib: &mut Option<libloading::Library>) {
    if let Some(lib) = lib.take() {
        std::mem::forget(lib);
    }
}

/// libnvonnxparser, needed only to build a plan from ONNX.
pub struct OnnxParserLib {
    pub create_parser: ParserCreateFn,
    lib: Option<libloading::Library>,
}

impl OnnxParserLib {
    /// Where to look for libnvonnxparser of `major`: the override if set, else its soname.
    pub fn candidates(major: u32) -> Vec<OsString> {
        candidates("libnvonnxparser", major, std::env::var_os(PARSER_ENV))
    }

    pub fn open_first_of(names: &[OsString]) -> Result<Self> {
        let (lib, path) = open_first(names).map_err(|e| {
            unavailable(format!(
                "building a TensorRT plan from ONNX needs libnvonnxparser: {}",
                e.message()
            ))
        })?;
        let create_parser = symbol(&lib, &path, "createNvOnnxParser_INTERNAL")?;
        Ok(OnnxParserLib {
            create_parser,
            lib: Some(lib),
        })
    }

    /// See [`NvInfer::keep_loaded`].
    pub fn keep_loaded(&mut self) {
        keep_forever(&mut self.lib);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_decode_and_only_newer_minors_of_the_major_pass() {
        let v = TrtVersion::from_encoded(110_400);
        assert_eq!((v.major, v.minor, v.patch), (11, 4, 0));
        assert_eq!(TrtVersion::from_encoded(100_803).to_string(), "10.8.3");
        for newer_or_same in [110_400, 110_401, 110_500, 111_000] {
            let found = TrtVersion::from_encoded(newer_or_same);
            assert!(check_version(found, v).is_ok(), "{found}");
        }
        // Headers 11.4 with a library 11.3: refused, both versions named.
        let e = check_version(TrtVersion::from_encoded(110_399), v).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
        assert!(
            e.message().contains("found TensorRT 11.3.99"),
            "{}",
            e.message()
        );
        assert!(
            e.message().contains("TensorRT 11.4.0 headers"),
            "{}",
            e.message()
        );
        assert!(e.message().contains("x >= 4"), "{}", e.message());
        assert!(check_version(TrtVersion::from_encoded(120_000), v).is_err());
        let e = check_version(TrtVersion::from_encoded(100_803), v).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
        assert!(
            e.message().contains("found TensorRT 10.8.3"),
            "{}",
            e.message()
        );
        assert!(
            e.message().contains("needs TensorRT 11.x"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn candidates_follow_the_override_else_the_major() {
        assert_eq!(candidates("libnvinfer", 11, None), vec!["libnvinfer.so.11"]);
        assert_eq!(
            candidates("libnvinfer", 10, Some("".into())),
            vec!["libnvinfer.so.10"]
        );
        assert_eq!(
            candidates("libnvinfer", 11, Some("/x/libnvinfer_lean.so.10".into())),
            vec!["/x/libnvinfer_lean.so.10"]
        );
    }

    #[test]
    fn a_missing_library_is_unavailable_with_the_loader_message() {
        let e = open_first(&["/nonexistent/libnvinfer.so.11".into()])
            .map(|_| ())
            .expect_err("cannot open a missing file");
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
        assert!(
            e.message().contains("/nonexistent/libnvinfer.so.11"),
            "{}",
            e.message()
        );
    }
}
