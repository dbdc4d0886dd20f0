//! Which include folders build.rs may pass to the C++ compiler for the TensorRT shim. Used by
//! build.rs and by tests/build_include_dirs.rs.

use std::path::{Path, PathBuf};

/// The folders the C++ compiler searches for `<...>` by itself (`-E -v` lists them), canonical.
pub fn default_include_dirs(compiler: &Path) -> Vec<PathBuf> {
    let output = std::process::Command::new(compiler)
        .args(["-x", "c++", "-E", "-v", "-"])
        .stdin(std::process::Stdio::null())
        .output();
    let Ok(output) = output else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .skip_while(|line| !line.starts_with("#include <...> search starts here:"))
        .skip(1)
        .take_while(|line| !line.starts_with("End of search list."))
        .filter_map(|line| std::fs::canonicalize(line.trim()).ok())
        .collect()
}

/// The flag that adds `dir` as a system include folder, or `None` when the compiler searches it
/// already: passing such a folder again as `-isystem` moves it ahead of libstdc++'s own folders
/// and breaks its `#include_next` (GCC 12: `<cstdlib>` fails). RPM installs put NvInfer.h in
/// /usr/include, so this case is real.
pub fn system_include_flag(dir: &Path, defaults: &[PathBuf]) -> Option<String> {
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if defaults.contains(&canonical) {
        None
    } else {
        Some(format!("-isystem{}", dir.display()))
    }
}
