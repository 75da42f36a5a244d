//! The process-wide CPython runtime: configured once, started lazily on first use.
//!
//! Thread rules: CPython is initialized on a dedicated thread, `pyembed-main`, which then serves
//! the main interpreter's job queue for the life of the process (see `context`), holding the GIL
//! only while a job runs. That thread is Python's "main thread";
//! JS threads (the main one and each worker_thread) attach with their own thread states (see
//! `python::attach`). `Py_Finalize` is never called: at exit only the `atexit` handlers run, so
//! the process exits promptly even while Python threads are still running.

mod config;

use std::ffi::{CStr, CString};
use std::sync::{Mutex, OnceLock};

use pyo3::ffi;
use pyo3::types::PyAnyMethods;

use crate::context;
use crate::error::{Error, Result};
pub use config::{Options, Paths};

/// Facts about the running interpreter.
#[derive(Debug)]
pub struct Runtime {
    /// `sys.version`, e.g. `3.11.7 (main, ...) [GCC 12.2.0]`.
    pub version: String,
    /// `sys.executable` as it is after start.
    pub executable: String,
    /// Path of the libpython shared object.
    pub libpython: String,
    /// Jobs for the main interpreter's Python thread (`pyembed-main`).
    pub jobs: crossbeam_channel::Sender<context::Task>,
    /// How long the exit hooks may take at process exit.
    pub exit_timeout: std::time::Duration,
}

static PENDING: Mutex<Option<Options>> = Mutex::new(None);
/// The Python the TS loader chose; set before anything can start the runtime.
static PATHS: OnceLock<Paths> = OnceLock::new();
static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

/// Records options for the start; refused once the runtime has started.
pub fn configure(options: Options) -> Result<()> {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    if RUNTIME.get().is_some() {
        return Err(Error::AlreadyInitialized);
    }
    *pending = Some(options);
    Ok(())
}

/// Records the Python the loader chose. The same paths again are accepted (every JS environment
/// says them once); others are refused: this process's libpython is already chosen.
pub fn select(paths: Paths) -> Result<()> {
    let chosen = PATHS.get_or_init(|| paths.clone());
    if *chosen != paths {
        return Err(Error::AlreadyInitialized);
    }
    Ok(())
}

/// The runtime, started on first call. A failed start is remembered and reported every time.
pub fn get() -> Result<&'static Runtime> {
    let started = RUNTIME.get_or_init(|| {
        let options = PENDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        start(options)
    });
    started
        .as_ref()
        .map_err(|reason| Error::Init(reason.clone()))
}

/// True once the runtime started successfully.
pub fn is_running() -> bool {
    matches!(RUNTIME.get(), Some(Ok(_)))
}

/// Default of `Python.configure({ exitTimeoutMs })`.
const EXIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn start(options: Options) -> std::result::Result<Runtime, String> {
    let paths = PATHS
        .get()
        .ok_or("no Python was chosen: load pyembed through its package, not its .node file")?;
    let settings = config::resolve(paths, &options)?;
    // SAFETY: may be called at any time, before initialization too.
    if unsafe { ffi::Py_IsInitialized() } != 0 {
        return Err(
            "Python is already running in this process, started by another copy of \
                    pyembed or another embedder: use one copy of pyembed (npm dedupe)"
                .into(),
        );
    }
    let exit_timeout = options.exit_timeout.unwrap_or(EXIT_TIMEOUT);
    let libpython = paths.libpython.clone();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let (jobs, queue) = context::channel();
    std::thread::Builder::new()
        .name("pyembed-main".into())
        .spawn(move || {
            // SAFETY: runs once, on a thread with no Python thread state.
            let result = unsafe { initialize(&settings) };
            let ok = result.is_ok();
            let _ = tx.send(result);
            if ok {
                // CPython's main thread outlives every use of the interpreter: it serves the
                // main interpreter's jobs for the life of the process.
                // SAFETY: this thread initialized CPython and is still attached. Never returns:
                // nobody closes the main interpreter.
                let _ = unsafe { context::serve(&queue, false) };
            }
        })
        .map_err(|e| format!("cannot spawn the pyembed-main thread: {e}"))?;
    let (version, executable) = rx
        .recv()
        .map_err(|_| "the pyembed-main thread died during start-up".to_string())??;
    Ok(Runtime {
        version,
        executable,
        libpython,
        jobs,
        exit_timeout,
    })
}

/// Initializes CPython from a `PyConfig` and reads `sys.version` and `sys.executable`; the
/// thread stays attached.
///
/// # Safety
/// Call once per process, on a thread with no Python thread state.
unsafe fn initialize(settings: &config::Settings) -> std::result::Result<(String, String), String> {
    let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::uninit();
    let config = config.as_mut_ptr();
    // SAFETY: InitPythonConfig fully initializes the struct before any field is read.
    unsafe { ffi::PyConfig_InitPythonConfig(config) };
    // SAFETY: `config` was initialized above; every string set is copied by CPython.
    let status = unsafe {
        (*config).install_signal_handlers = 0; // Node owns SIGINT and friends.
        (*config).buffered_stdio = 0; // print() and console.log() interleave in order.
        (*config).configure_c_stdio = 0; // leave the process's C stdio alone.
        (*config).parse_argv = 0;
        let executable = &raw mut (*config).executable;
        let home = &raw mut (*config).home;
        set_optional(config, executable, settings.executable.as_deref())
            .and_then(|()| set_optional(config, home, settings.home.as_deref()))
            .and_then(|()| check(ffi::Py_InitializeFromConfig(config)))
    };
    // SAFETY: frees the strings owned by `config`; it is not used afterwards.
    unsafe { ffi::PyConfig_Clear(config) };
    status?;
    // SAFETY: initialized; no other thread has used Python yet (the JS thread waits for this
    // start, and no Python code has run).
    unsafe { crate::task::memory::install() };
    // SAFETY: initialization succeeded and this thread holds the GIL.
    let version = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }
        .to_string_lossy()
        .into_owned();
    // Attached since initialization, with this thread's GIL-state thread state.
    pyo3::Python::attach(|py| {
        // pyo3 creates its PanicException type once per process, in whichever interpreter
        // first fetches an error: make that the main one, not a context that may end.
        let _ = pyo3::types::PyTypeMethods::as_type_ptr(
            &<pyo3::panic::PanicException as pyo3::PyTypeInfo>::type_object(py),
        );
        crate::python::code::setup_main(py, settings.allow_os_exit)
            .map_err(|e| format!("cannot create the pyembed module: {e}"))?;
        py.import("sys")
            .and_then(|sys| sys.getattr("executable"))
            .and_then(|exe| exe.extract::<String>())
            .map_err(|e| format!("cannot read sys.executable: {e}"))
    })
    .map(|executable| (version, executable))
}

/// # Safety
/// `config` is initialized and `field` points into it.
unsafe fn set_string(
    config: *mut ffi::PyConfig,
    field: *mut *mut libc::wchar_t,
    value: &str,
) -> std::result::Result<(), String> {
    let value = CString::new(value).map_err(|_| format!("path contains NUL: {value:?}"))?;
    // SAFETY: upheld by the caller; `value` is NUL-terminated and copied by CPython.
    check(unsafe { ffi::PyConfig_SetBytesString(config, field, value.as_ptr()) })
}

/// `set_string` when there is a value.
///
/// # Safety
/// As `set_string`.
unsafe fn set_optional(
    config: *mut ffi::PyConfig,
    field: *mut *mut libc::wchar_t,
    value: Option<&str>,
) -> std::result::Result<(), String> {
    match value {
        // SAFETY: upheld by the caller.
        Some(value) => unsafe { set_string(config, field, value) },
        None => Ok(()),
    }
}

pub(crate) fn check(status: ffi::PyStatus) -> std::result::Result<(), String> {
    // SAFETY: PyStatus_Exception only inspects the struct.
    if unsafe { ffi::PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    let text = |p: *const libc::c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: CPython's status strings are static and NUL-terminated.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    Err(format!("{} ({})", text(status.err_msg), text(status.func)))
}
