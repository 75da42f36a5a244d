//! Start-up, configuration, version, exit, and handle bookkeeping.

use std::ffi::CStr;
use std::sync::Arc;

use napi::Env;
use napi_derive::napi;

use super::entry;
use crate::context::ObjectRef;
use crate::error::Error;
use crate::handle::{self, HandleId};
use crate::js::{hooks, Js};
use crate::python::attach;
use crate::runtime;

/// Registers the TS layer's helpers for this environment. Called once per environment by the
/// TS layer when it loads. `livesWithProcess`: the environment ends only when the process does
/// (Node's main thread, Electron's main and utility processes), so its objects are left to
/// process exit; otherwise (worker_threads, Electron renderers, which a reload tears down and
/// recreates on the same thread) its teardown releases them, closes its contexts and clears
/// this thread's state for the next environment.
///
/// ```js
/// native.init({ makeProxy, makePythonError, handle, method, done, Map, Set, toArray,
///               fromFloat64, packNumbers, typedArray, settle, awaitPromise }, true)
/// ```
#[napi]
pub fn init(
    env: Env,
    #[napi(ts_arg_type = "Record<string, unknown>")] hooks_object: Js,
    lives_with_process: bool,
) -> napi::Result<()> {
    entry(&env, |js| {
        let get = |name: &CStr| js.reference(js.get_named(hooks_object.0, name)?);
        let installed = hooks::Hooks {
            make_proxy: get(c"makeProxy")?,
            make_python_error: get(c"makePythonError")?,
            handle_symbol: get(c"handle")?,
            method_symbol: get(c"method")?,
            done_symbol: get(c"done")?,
            map_ctor: get(c"Map")?,
            set_ctor: get(c"Set")?,
            to_array: get(c"toArray")?,
            from_float64: get(c"fromFloat64")?,
            pack_numbers: get(c"packNumbers")?,
            typed_array: get(c"typedArray")?,
            settle: get(c"settle")?,
            await_promise: get(c"awaitPromise")?,
        };
        let first = !hooks::is_installed();
        hooks::install(installed);
        if first && !lives_with_process {
            js.add_cleanup_hook(release_environment, 0)?;
        }
        Ok(())
    })
}

/// How long a worker_thread's teardown waits for the Python threads of each of its contexts.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A worker_thread's environment is ending: release its handles and its thread state.
unsafe extern "C" fn release_environment(_arg: *mut std::ffi::c_void) {
    // A panic must not unwind into Node; the teardown then does less, never more.
    let _ = std::panic::catch_unwind(teardown);
}

fn teardown() {
    // The references belong to the environment that is ending; a next one on this thread (an
    // Electron renderer's reload) installs its own and registers its own teardown.
    hooks::uninstall();
    if !runtime::is_running() {
        return;
    }
    // First, so that Python threads calling this thread's JS functions fail at once instead of
    // waiting, and the contexts below can end.
    crate::inbox::close();
    // Before the contexts close: a closed context's helper takes no more jobs.
    crate::callback::abandon_environment();
    super::cancel::forget_all();
    super::contexts::close_all(CLOSE_TIMEOUT);
    let mut removed = handle::with(|r| r.remove_owned(None));
    removed.extend(
        handle::names::take_all()
            .into_iter()
            .map(|o| Arc::new(ObjectRef::new(o, 0))),
    );
    super::release(removed, false);
    attach::forget_thread();
}

/// Options for `configure`; must be called before Python starts.
#[napi(object)]
pub struct ConfigureOptions {
    /// Let `os._exit()` in the main interpreter end the process (default false: it raises
    /// `RuntimeError`, as it does in contexts).
    pub allow_os_exit: Option<bool>,
    /// How long Python's exit hooks (threading's, then atexit, in the main interpreter and
    /// every open context) may take at process exit, in milliseconds (default 5000).
    pub exit_timeout_ms: Option<f64>,
}

/// Sets start-up options. Throws `ERR_PY_ALREADY_INITIALIZED` once Python has started. Which
/// Python runs is chosen by the TS loader (`selectPython`).
///
/// ```js
/// native.configure({ exitTimeoutMs: 1000 })
/// ```
#[napi]
pub fn configure(env: Env, options: ConfigureOptions) -> napi::Result<()> {
    entry(&env, |_| {
        let exit_timeout = options
            .exit_timeout_ms
            .map(|ms| super::millis(ms, "exitTimeoutMs"))
            .transpose()?;
        runtime::configure(runtime::Options {
            allow_os_exit: options.allow_os_exit.unwrap_or(false),
            exit_timeout,
        })
    })
}

/// The Python that the TS loader found, whose libpython it loaded before this binary.
#[napi(object)]
pub struct PythonPaths {
    /// `sys.executable` (a venv's `bin/python` activates the venv); omitted: CPython's guess.
    pub executable: Option<String>,
    /// `PyConfig.home`, for a relocated Python.
    pub home: Option<String>,
    /// The shared libpython loaded (with global symbol scope).
    pub libpython: String,
}

/// Records the Python chosen for this process; every JS environment says it once, when it loads
/// this binary. Different paths once chosen throw `ERR_PY_ALREADY_INITIALIZED`.
///
/// ```js
/// native.selectPython({ executable: '/usr/bin/python3.11',
///                       libpython: '/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0' })
/// ```
#[napi]
pub fn select_python(env: Env, paths: PythonPaths) -> napi::Result<()> {
    entry(&env, |_| {
        runtime::select(runtime::Paths {
            executable: paths.executable,
            home: paths.home,
            libpython: paths.libpython,
        })
    })
}

#[napi(object)]
pub struct VersionInfo {
    /// `sys.version` of the embedded interpreter.
    pub python: String,
    /// This package's version.
    pub pyembed: String,
    /// `sys.executable`.
    pub executable: String,
    /// Path of the loaded libpython.
    pub libpython: String,
    /// What `{ context: 'isolated' }` creates here: `'own-gil'` (Python 3.12+) or
    /// `'shared-gil'`.
    #[napi(ts_type = "'own-gil' | 'shared-gil'")]
    pub subinterpreters: String,
}

/// Versions and paths; starts Python if it is not running yet.
///
/// ```js
/// Python.version.python // '3.11.7 (main, ...) [GCC 12.2.0]'
/// ```
#[napi]
pub fn version(env: Env) -> napi::Result<VersionInfo> {
    entry(&env, |_| {
        let rt = runtime::get()?;
        Ok(VersionInfo {
            python: rt.version.clone(),
            pyembed: env!("CARGO_PKG_VERSION").to_string(),
            executable: rt.executable.clone(),
            libpython: rt.libpython.clone(),
            subinterpreters: super::contexts::available().to_string(),
        })
    })
}

/// Runs Python's exit hooks — threading's (executors stop there), then `atexit` — in the main
/// interpreter and every open context, and flushes their stdout/stderr, waiting at most
/// `exitTimeoutMs` (threads still running are not joined). The TS layer calls it from
/// `process.on('exit')` on the main thread; it does nothing if Python never started.
#[napi]
pub fn shutdown(env: Env) -> napi::Result<()> {
    entry(&env, |js| {
        if !runtime::is_running() {
            return Ok(());
        }
        let deadline = std::time::Instant::now() + runtime::get()?.exit_timeout;
        let (finished, count) = crate::context::run_exit_hooks();
        // Serving the JS callbacks the hooks call meanwhile (a context's captured output).
        for _ in 0..count {
            if crate::inbox::wait_until(js, &finished, Some(deadline))?.is_none() {
                break;
            }
        }
        crate::context::process_exiting();
        Ok(())
    })
}

/// A new owner id for a `Python` instance on interpreter `interp` (0: the main one, else a
/// context's): every handle created through the instance is tagged with its id.
#[napi]
pub fn new_owner(env: Env, interp: u32) -> napi::Result<u32> {
    entry(&env, |_| {
        if interp != 0 {
            crate::context::get(interp)?;
        }
        Ok(handle::with(|r| r.new_owner(interp)).get())
    })
}

/// Releases one handle now (an object that a call in flight still uses, once that call is
/// done with it); false if already released.
#[napi]
pub fn release(env: Env, id: f64) -> napi::Result<bool> {
    entry(&env, |_| {
        let Some(object) = handle::with(|r| r.remove(id as HandleId)) else {
            return Ok(false);
        };
        super::release(vec![object], false);
        Ok(true)
    })
}

/// Releases every handle of `owner`; returns how many.
#[napi]
pub fn clear(env: Env, owner: u32) -> napi::Result<u32> {
    entry(&env, |_| {
        let owner = super::owner_of(owner).ok_or_else(|| Error::invalid_arg("no owner"))?;
        let removed = handle::with(|r| r.remove_owned(Some(owner)));
        let count = removed.len() as u32;
        super::release(removed, false);
        Ok(count)
    })
}

#[napi(object)]
pub struct Stats {
    /// Live handles of this JS environment (every instance).
    pub handles: u32,
    /// Live handles created through this instance.
    pub owned: u32,
}

/// Handle counts; see `Stats`.
#[napi]
pub fn stats(env: Env, owner: u32) -> napi::Result<Stats> {
    entry(&env, |_| {
        let owner = super::owner_of(owner);
        Ok(handle::with(|r| Stats {
            handles: r.count(None) as u32,
            owned: owner.map_or(0, |o| r.count(Some(o)) as u32),
        }))
    })
}

/// Declares this addon's Node-API version as "experimental" to Node, which makes Node run
/// "basic" finalizers (ones that never call into JS) synchronously during garbage collection
/// instead of in a later `setImmediate`. Without this, a synchronous loop that creates
/// proxies never gets to release the Python objects behind the collected ones until it
/// yields, so a 1M-iteration loop held 1M Python objects. Our only finalizer (a proxy's
/// External) just queues a handle id.
#[no_mangle]
pub extern "C" fn node_api_module_get_api_version_v1() -> i32 {
    i32::MAX // NAPI_VERSION_EXPERIMENTAL
}
