//! The libpython this binary runs on, in global symbol scope.
//!
//! The TS loader already loaded it with `RTLD_GLOBAL` (C extension modules that Python later
//! `dlopen`s, such as `_ssl`, `_ctypes`, numpy, resolve their Python symbols there; with local
//! scope they fail with `undefined symbol: PyExc_ValueError`). Here it is found by address, which
//! also names the file, and re-opened with `RTLD_GLOBAL | RTLD_NOLOAD`, which loads nothing new:
//! a binary loaded some other way still gets global scope, or a clear error.

use std::ffi::{c_void, CStr};

/// Returns the path of the libpython that was promoted.
pub fn promote_to_global() -> Result<String, String> {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    let symbol = pyo3::ffi::Py_IsInitialized as *const c_void;
    // SAFETY: dladdr only reads the loader's tables; `info` is a valid out-pointer.
    let found = unsafe { libc::dladdr(symbol, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return Err("cannot locate libpython in this process (dladdr failed)".into());
    }
    // SAFETY: dladdr returned a NUL-terminated path owned by the loader.
    let path = unsafe { CStr::from_ptr(info.dli_fname) };
    // SAFETY: RTLD_NOLOAD only changes the flags of an object that is already loaded; the handle
    // is deliberately never closed, so libpython stays global for the life of the process.
    let handle = unsafe {
        libc::dlopen(
            path.as_ptr(),
            libc::RTLD_NOW | libc::RTLD_GLOBAL | libc::RTLD_NOLOAD,
        )
    };
    let path = path.to_string_lossy().into_owned();
    if handle.is_null() {
        return Err(format!("cannot promote {path} to global symbol scope"));
    }
    Ok(path)
}
