//! pyembed's loader, the one native piece that does not depend on a Python version.
//!
//! The binaries built for each Python minor version do not link libpython: its symbols must be
//! in the process's global scope before one of them loads, and Node loads addons with local
//! scope. `openGlobal` loads the chosen libpython with `RTLD_GLOBAL` (for the binary and for the
//! C extensions Python loads later: `_ssl`, numpy). The choice is one per process, while every
//! JS environment (worker_threads) loads its own copy of the JS layer: `choose` records the
//! first and hands it to the others.
//!
//! Thread rules: callable from any JS thread; the state is one mutex.

use std::ffi::{CStr, CString};
use std::sync::Mutex;

use napi::{Error, Result};
use napi_derive::napi;

/// The choice recorded first in this process (JSON written by the JS layer).
static CHOSEN: Mutex<Option<String>> = Mutex::new(None);

/// Loads the shared library at `path` with global symbol scope, for good (never unloaded).
///
/// ```js
/// loader.openGlobal('/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0')
/// ```
#[napi]
pub fn open_global(path: String) -> Result<()> {
    let c_path = CString::new(path.as_str())
        .map_err(|_| Error::from_reason(format!("path contains NUL: {path:?}")))?;
    // SAFETY: `c_path` is NUL-terminated. The handle is deliberately never closed: libpython
    // stays loaded for the life of the process. Loading runs the library's constructors, which
    // libpython keeps to a minimum (it initializes nothing before Py_Initialize*).
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns a thread-local NUL-terminated string or null.
        let reason = unsafe { libc::dlerror() };
        let reason = if reason.is_null() {
            "unknown error".to_string()
        } else {
            // SAFETY: non-null, NUL-terminated, valid until the next dl* call on this thread.
            unsafe { CStr::from_ptr(reason) }
                .to_string_lossy()
                .into_owned()
        };
        return Err(Error::from_reason(format!("cannot load {path}: {reason}")));
    }
    Ok(())
}

/// Records `choice` unless a choice was recorded before; returns the one in force.
///
/// ```js
/// const inForce = loader.choose(JSON.stringify(choice))
/// ```
#[napi]
pub fn choose(choice: String) -> String {
    let mut chosen = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
    chosen.get_or_insert(choice).clone()
}

/// The choice in force, if any environment of this process made one.
#[napi]
pub fn chosen() -> Option<String> {
    CHOSEN.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
