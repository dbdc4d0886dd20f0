//! What build.rs watches while TensorRT's headers are missing, so that installing them later
//! rebuilds the shim without a clean build. Used by build.rs and by tests/tensorrt.rs.

use std::path::{Path, PathBuf};

/// For each searched folder, the folder itself when it exists, else its nearest existing
/// ancestor (once each). Cargo reruns a build script on every build when a watched path does not
/// exist, and scans a watched folder recursively, so a new `include/NvInfer.h` deep under an
/// ancestor shows as a change of that ancestor.
pub fn watched(searched: &[PathBuf]) -> Vec<PathBuf> {
    let mut watched: Vec<PathBuf> = Vec::new();
    for dir in searched {
        let Some(existing) = dir.ancestors().find(|a| is_dir(a)) else {
            continue;
        };
        // The root would make any change anywhere a reason to rebuild.
        if existing.parent().is_none() {
            continue;
        }
        if !watched.iter().any(|w| w == existing) {
            watched.push(existing.to_path_buf());
        }
    }
    // A folder inside another watched one is scanned with it already.
    let all = watched.clone();
    watched.retain(|w| !all.iter().any(|other| other != w && w.starts_with(other)));
    watched
}

fn is_dir(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.is_dir()
}
