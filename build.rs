//! Build script: napi-rs setup plus the Python link concerns (which interpreter, rpath to libpython).

fn main() {
    napi_build::setup();

    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    // Set for every crate by .cargo/config.toml; checked in lib.rs.
    println!("cargo::rustc-check-cfg=cfg(pyo3_disable_reference_pool)");
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    if !config.shared() {
        panic!(
            "pyembed needs a Python built with a shared libpython (--enable-shared). \
             With pyenv: env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install --force <version>"
        );
    }
    let lib_dir = config
        .lib_dir()
        .expect("pyo3 did not report libpython's directory");
    // Without an rpath, require() fails to find libpython.so at load time.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,{lib_dir}");
    let executable = config.executable().unwrap_or("");
    println!("cargo:rustc-env=PYEMBED_PYTHON_EXECUTABLE={executable}");
}
