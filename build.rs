//! Build script: napi-rs setup and pyo3's configuration for the Python minor version built for.
//!
//! The binary does not link libpython (`.cargo/config.toml` sets `PYO3_BUILD_EXTENSION_MODULE`):
//! at run time the TS loader finds a Python of that minor version, loads its libpython with
//! global symbol scope, and only then loads this binary (ts/native.ts).

fn main() {
    napi_build::setup();

    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    // Set for every crate by .cargo/config.toml; checked in lib.rs.
    println!("cargo::rustc-check-cfg=cfg(pyo3_disable_reference_pool)");
    pyo3_build_config::use_pyo3_cfgs();
}
