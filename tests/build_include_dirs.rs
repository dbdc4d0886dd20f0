//! build.rs's rule for the shim's include folders (review item 6): never pass the compiler's own
//! folders as -isystem. Checked against the real C++ compiler: the hazard exists, and the flags
//! the rule gives do not trigger it.

#[path = "../shim/include_dirs.rs"]
mod include_dirs;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Compiles a TU that includes <cstdlib> with `flags`; whether it compiled.
fn compiles_with(flags: &[String]) -> bool {
    let mut child = Command::new("c++")
        .args(["-x", "c++", "-std=c++17", "-fsyntax-only", "-"])
        .args(flags)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("c++ runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"#include <cstdlib>\nint main() { return EXIT_SUCCESS; }\n")
        .unwrap();
    child.wait().unwrap().success()
}

fn flag(dir: &Path) -> Vec<String> {
    vec!["-isystem".into(), dir.display().to_string()]
}

#[test]
fn the_compilers_own_folders_are_never_passed() {
    let defaults = include_dirs::default_include_dirs(Path::new("c++"));
    let usr_include = std::fs::canonicalize("/usr/include").unwrap();
    assert!(defaults.contains(&usr_include), "{defaults:?}");
    // The hazard, as GCC shows it (another compiler may cope: then only the rule is checked).
    let version = Command::new("c++").arg("--version").output().unwrap();
    if String::from_utf8_lossy(&version.stdout).contains("Free Software Foundation") {
        assert!(
            !compiles_with(&flag(&usr_include)),
            "GCC compiled <cstdlib> with -isystem /usr/include: the hazard is gone?"
        );
    } else {
        println!("this c++ is not GCC; checking the rule only");
    }
    // The rule: no flag for a default folder (also through another spelling of the path) ...
    assert_eq!(
        include_dirs::system_include_flag(Path::new("/usr/include"), &defaults),
        None
    );
    assert_eq!(
        include_dirs::system_include_flag(Path::new("/usr/include/../include/"), &defaults),
        None
    );
    // ... and a flag for any other, with which the TU still compiles.
    let other = std::env::temp_dir().join(format!("lmbatch-inc-{}", std::process::id()));
    std::fs::create_dir_all(&other).unwrap();
    let given = include_dirs::system_include_flag(&other, &defaults).expect("a flag for it");
    assert_eq!(given, format!("-isystem{}", other.display()));
    assert!(compiles_with(&[given]));
    std::fs::remove_dir_all(&other).unwrap();
}
