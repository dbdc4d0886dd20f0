//! Generates `include/lmbatch.h` from `src/ffi.rs` with cbindgen (committed; CI fails when it
//! drifts), sets the shared library's soname, and compiles the TensorRT shim when TensorRT's
//! headers are found.

use std::path::{Path, PathBuf};

// Shared with tests/build_include_dirs.rs, which checks the rule against the real compiler.
#[path = "shim/include_dirs.rs"]
mod include_dirs;
// Shared with tests/tensorrt.rs.
#[path = "shim/header_watch.rs"]
mod header_watch;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    // Without a soname, a program linked against target/release/liblmbatch.so records that path.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblmbatch.so");

    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-check-cfg=cfg(lmbatch_trt_shim)");
    if std::env::var_os("CARGO_FEATURE_TENSORRT").is_some() {
        build_tensorrt_shim(Path::new(&crate_dir));
    }
    let config = cbindgen::Config::from_file(Path::new(&crate_dir).join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let header = Path::new(&crate_dir).join("include/lmbatch.h");
    match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        // write_to_file leaves the file alone when the content is unchanged.
        Ok(bindings) => {
            bindings.write_to_file(&header);
        }
        Err(e) => panic!("cbindgen could not generate include/lmbatch.h: {e}"),
    }
}

/// The folders searched for TensorRT's headers, shared with scripts/tensorrt-find-headers.sh.
const HEADER_DIRS: &str = include_str!("shim/tensorrt/header-dirs.txt");

/// Whether `dir` holds the two headers the shim includes (the rule the script applies too).
fn has_tensorrt_headers(dir: &Path) -> bool {
    dir.join("NvInfer.h").is_file() && dir.join("NvOnnxParser.h").is_file()
}

/// The folders of shim/tensorrt/header-dirs.txt, in order.
fn header_dirs() -> Vec<PathBuf> {
    HEADER_DIRS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(PathBuf::from)
        .collect()
}

/// Where TensorRT's headers are: `TENSORRT_INCLUDE_DIR`, else the first folder of
/// shim/tensorrt/header-dirs.txt that holds them.
fn find_tensorrt_headers() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TENSORRT_INCLUDE_DIR") {
        let dir = PathBuf::from(dir);
        if has_tensorrt_headers(&dir) {
            return Some(dir);
        }
        panic!(
            "TENSORRT_INCLUDE_DIR={} does not hold NvInfer.h and NvOnnxParser.h",
            dir.display()
        );
    }
    header_dirs()
        .into_iter()
        .find(|dir| has_tensorrt_headers(dir))
}

/// `-isystem dir`, unless the compiler searches `dir` already (see `include_dirs`).
fn add_system_include(
    build: &mut cc::Build,
    dir: &Path,
    defaults: &[PathBuf],
    used: &mut Vec<String>,
) {
    if let Some(flag) = include_dirs::system_include_flag(dir, defaults) {
        build.flag("-isystem").flag(dir.as_os_str());
        used.push(flag);
    }
}

/// Reruns the build script when a header the shim was compiled against changes.
fn rerun_if_headers_change(dir: &Path, wanted: impl Fn(&str) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(&wanted) {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
}

/// Compiles shim/tensorrt (warnings are errors) and sets `cfg(lmbatch_trt_shim)`. TensorRT's own
/// headers are included as system headers: they use their own deprecated declarations.
fn build_tensorrt_shim(crate_dir: &Path) {
    for var in [
        "TENSORRT_INCLUDE_DIR",
        "CUDA_PATH",
        "LMBATCH_REQUIRE_TENSORRT_SHIM",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let shim = crate_dir.join("shim/tensorrt");
    println!("cargo:rerun-if-changed={}", shim.display());
    let Some(headers) = find_tensorrt_headers() else {
        if std::env::var("LMBATCH_REQUIRE_TENSORRT_SHIM").as_deref() == Ok("1") {
            panic!(
                "LMBATCH_REQUIRE_TENSORRT_SHIM=1 but no TensorRT headers were found; set \
                 TENSORRT_INCLUDE_DIR (scripts/tensorrt-headers.sh fetches them)"
            );
        }
        println!(
            "cargo:warning=TensorRT headers not found: the TensorRT backend is not built \
             (set TENSORRT_INCLUDE_DIR; scripts/tensorrt-headers.sh fetches them)"
        );
        // Installing TensorRT later must rebuild the shim without a clean build.
        for dir in header_watch::watched(&header_dirs()) {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
        return;
    };
    rerun_if_headers_change(&headers, |name| {
        name.starts_with("Nv") && name.ends_with(".h")
    });
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file(shim.join("lmb_trt.cpp"))
        .include(&shim)
        .flag("-std=c++17")
        .flag("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true);
    let defaults = include_dirs::default_include_dirs(build.get_compiler().path());
    // The include flags used, for the tests that compile stand-in TensorRT libraries.
    let mut used = Vec::new();
    add_system_include(&mut build, &headers, &defaults, &mut used);
    // The CUDA toolkit's cuda_runtime_api.h where there is one, else the stand-in with the two
    // handle types TensorRT's headers need.
    let cuda_include = std::env::var_os("CUDA_PATH")
        .map(|p| PathBuf::from(p).join("include"))
        .into_iter()
        .chain([PathBuf::from("/usr/local/cuda/include")])
        .find(|dir| dir.join("cuda_runtime_api.h").is_file())
        .unwrap_or_else(|| shim.join("compat"));
    rerun_if_headers_change(&cuda_include, |name| name == "cuda_runtime_api.h");
    add_system_include(&mut build, &cuda_include, &defaults, &mut used);
    build.compile("lmb_trt");
    println!("cargo:rustc-cfg=lmbatch_trt_shim");
    println!("cargo:rustc-env=LMBATCH_TRT_HEADERS={}", headers.display());
    println!(
        "cargo:rustc-env=LMBATCH_TRT_INCLUDE_FLAGS={}",
        used.join("\x1f")
    );
}
