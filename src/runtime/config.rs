//! Start-up settings: the Python paths the TS loader chose (`selectPython`) and the options of
//! `Python.configure()`, validated into what CPython's `PyConfig` gets.

use std::path::Path;

/// Options from `Python.configure()` that do not choose the Python.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Let `os._exit()` end the process from the main interpreter.
    pub allow_os_exit: bool,
    /// How long the exit hooks may take at process exit (default 5 s).
    pub exit_timeout: Option<std::time::Duration>,
}

/// The Python that the TS loader found (ts/discover.ts) and whose libpython it loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Becomes `sys.executable` (what multiprocessing children run; a venv's `bin/python`
    /// activates the venv). None: CPython computes it.
    pub executable: Option<String>,
    /// `PyConfig.home`: the prefix holding the standard library, for a relocated Python.
    pub home: Option<String>,
    /// The shared libpython the loader loaded with global symbol scope (which C extension
    /// modules need: they resolve their Python symbols there).
    pub libpython: String,
}

/// Validated start-up settings.
#[derive(Debug)]
pub struct Settings {
    pub executable: Option<String>,
    pub home: Option<String>,
    pub allow_os_exit: bool,
}

/// Checks that the chosen paths still exist.
pub fn resolve(paths: &Paths, options: &Options) -> Result<Settings, String> {
    if let Some(exe) = &paths.executable {
        if !Path::new(exe).is_file() {
            return Err(format!("executable {exe} does not exist"));
        }
    }
    if let Some(home) = &paths.home {
        if !Path::new(home).is_dir() {
            return Err(format!("pythonHome {home} is not a directory"));
        }
    }
    Ok(Settings {
        executable: paths.executable.clone(),
        home: paths.home.clone(),
        allow_os_exit: options.allow_os_exit,
    })
}
