//! pyembed's loader, the one native piece that does not depend on a Python version.
//!
//! The binaries built for each Python minor version do not link libpython: its symbols must be
//! in the process's global scope before one of them loads, and Node loads addons with local
//! scope. `chooseAndOpen` records the process's choice and loads its libpython with
//! `RTLD_GLOBAL` (for the binary and for the C extensions Python loads later: `_ssl`, numpy). The
//! choice is one per process, while every JS environment (worker_threads) loads its own copy of
//! the JS layer: later ones find it with `chosen`. A second copy of the package has a loader of
//! its own (another file): it sees the first copy's libpython loaded and refuses another.
//!
//! Thread rules: callable from any JS thread; the state is one mutex.

use std::ffi::{CStr, CString};
use std::sync::Mutex;

use napi::{Error, Result};
use napi_derive::napi;

/// The choice recorded first in this process (JSON written by the JS layer).
static CHOSEN: Mutex<Option<String>> = Mutex::new(None);

/// Records `choice` and loads its libpython with global symbol scope (for good: never unloaded),
/// unless a choice was recorded before; returns the choice in force. One step under one lock, so
/// two environments choosing at once load one libpython. A libpython other than `libpython`
/// already in the process (another copy of pyembed, or of any embedder, chose it) is refused:
/// two would clash symbol by symbol.
///
/// ```js
/// const inForce = loader.chooseAndOpen(JSON.stringify(choice), choice.libpython)
/// ```
#[napi]
pub fn choose_and_open(choice: String, libpython: String) -> Result<String> {
    let mut chosen = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(in_force) = chosen.as_ref() {
        return Ok(in_force.clone());
    }
    let wanted = std::fs::canonicalize(&libpython)
        .map_err(|e| Error::from_reason(format!("{libpython}: {e}")))?;
    if let Some(other) = loaded_libpythons()
        .into_iter()
        .find(|other| std::fs::canonicalize(other).ok().as_ref() != Some(&wanted))
    {
        return Err(Error::from_reason(format!(
            "ALREADY_LOADED: {other} is already loaded in this process (another copy of pyembed, \
             or another embedder, chose it), so {libpython} cannot be"
        )));
    }
    open_global(&libpython)?;
    Ok(chosen.insert(choice).clone())
}

/// The choice in force, if any environment of this process made one.
#[napi]
pub fn chosen() -> Option<String> {
    CHOSEN.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Loads the shared library at `path` with global symbol scope, for good.
fn open_global(path: &str) -> Result<()> {
    let c_path = CString::new(path)
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

/// Paths of the libpython shared objects loaded in this process.
fn loaded_libpythons() -> Vec<String> {
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid `info` for the duration of the call; `data` is the
        // `Vec` below, borrowed for the whole `dl_iterate_phdr` call.
        let (name, found) = unsafe { ((*info).dlpi_name, &mut *(data as *mut Vec<String>)) };
        if !name.is_null() {
            // SAFETY: a NUL-terminated path owned by the loader.
            let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
            let file = name.rsplit('/').next().unwrap_or("");
            if file.starts_with("libpython3.") {
                found.push(name.into_owned());
            }
        }
        0
    }
    let mut found: Vec<String> = Vec::new();
    // SAFETY: `visit` only reads `info` and writes to `found`, which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(visit),
            &mut found as *mut Vec<String> as *mut libc::c_void,
        )
    };
    found
}
