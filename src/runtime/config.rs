//! What the user asked for with `Python.configure()` (or the environment said), validated into
//! the paths handed to CPython's `PyConfig`.

use std::path::{Path, PathBuf};

/// Options from `Python.configure()`.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub venv: Option<String>,
    pub python_home: Option<String>,
    pub executable: Option<String>,
    /// Let `os._exit()` end the process from the main interpreter.
    pub allow_os_exit: bool,
    /// How long the exit hooks may take at process exit (default 5 s).
    pub exit_timeout: Option<std::time::Duration>,
}

/// Validated start-up settings.
#[derive(Debug)]
pub struct Settings {
    /// Becomes `sys.executable`: what multiprocessing children run.
    pub executable: String,
    pub home: Option<String>,
    pub allow_os_exit: bool,
}

/// The interpreter pyembed was built against (its `sys.executable` at build time).
pub const BUILD_EXECUTABLE: &str = env!("PYEMBED_PYTHON_EXECUTABLE");

/// Resolves options against the environment. `linked` is the `major.minor` of the linked
/// libpython; a venv for another version is refused, since its packages would not load.
pub fn resolve(options: &Options, linked: &str) -> Result<Settings, String> {
    let venv = options
        .venv
        .clone()
        .or_else(|| std::env::var("VIRTUAL_ENV").ok().filter(|v| !v.is_empty()));
    let executable = match (&options.executable, venv) {
        (Some(exe), _) => {
            if !Path::new(exe).is_file() {
                return Err(format!("executable {exe} does not exist"));
            }
            exe.clone()
        }
        (None, Some(venv)) => venv_python(Path::new(&venv), linked)?,
        (None, None) => BUILD_EXECUTABLE.to_string(),
    };
    if let Some(home) = &options.python_home {
        if !Path::new(home).is_dir() {
            return Err(format!("pythonHome {home} is not a directory"));
        }
    }
    Ok(Settings {
        executable,
        home: options.python_home.clone(),
        allow_os_exit: options.allow_os_exit,
    })
}

/// The venv's python, after checking that the venv was made by the same Python minor version.
fn venv_python(venv: &Path, linked: &str) -> Result<String, String> {
    let cfg = venv.join("pyvenv.cfg");
    let text = std::fs::read_to_string(&cfg).map_err(|e| {
        format!(
            "{} is not a virtualenv ({}: {e})",
            venv.display(),
            cfg.display()
        )
    })?;
    let version = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| matches!(key.trim(), "version" | "version_info"))
        .map(|(_, value)| value.trim().to_string())
        .ok_or_else(|| format!("{} has no version line", cfg.display()))?;
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    if minor != linked {
        return Err(format!(
            "virtualenv {} was made by Python {version}, but pyembed is built for Python {linked}: \
             recreate it with python{linked} -m venv, or rebuild pyembed with PYTHON=python{minor}",
            venv.display()
        ));
    }
    let python: PathBuf = ["python", "python3"]
        .iter()
        .map(|name| venv.join("bin").join(name))
        .find(|p| p.exists())
        .ok_or_else(|| format!("virtualenv {} has no bin/python", venv.display()))?;
    Ok(python.to_string_lossy().into_owned())
}
