//! Generates `include/lmbatch.h` from `src/ffi.rs` with cbindgen (committed; CI fails when it
//! drifts) and sets the shared library's soname.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    // Without a soname, a program linked against target/release/liblmbatch.so records that path.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblmbatch.so");

    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
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
