//! Build script: napi-rs setup only (the loader does not depend on Python).

fn main() {
    napi_build::setup();
}
