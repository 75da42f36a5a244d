//! `ObjectRef`: one strong reference to a Python object together with the interpreter that owns
//! it. It may be moved to and dropped on any thread: a drop gives the reference back on that
//! interpreter's own thread (at once when this thread is running one of its jobs, else as a
//! job on its queue), and leaks it if the interpreter is gone. This is how a value crossing
//! threads owns what it refers to, whatever JS does with the proxy meanwhile.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::{ffi, Bound, PyAny, Python};

use super::InterpId;
use crate::python::attach::current_interp;
use crate::python::OwnedPtr;

/// Set once the process is exiting (after the exit hooks): from then on references are leaked
/// rather than released, so no Python code (`__del__`) runs while Node and libc tear down
/// (thread-local registries are dropped by `exit()` itself).
static EXITING: AtomicBool = AtomicBool::new(false);

/// The process is exiting: release nothing from now on.
pub fn process_exiting() {
    EXITING.store(true, Ordering::Release);
}

thread_local! {
    /// The interpreter whose job this thread is running right now (attached), if any.
    static RUNNING: Cell<Option<InterpId>> = const { Cell::new(None) };
}

/// Runs `f` (attached to `interp`) marked as one of its jobs, so that references of `interp`
/// dropped meanwhile are released at once.
pub(super) fn running<R>(interp: InterpId, f: impl FnOnce() -> R) -> R {
    let previous = RUNNING.with(|r| r.replace(Some(interp)));
    struct Restore(Option<InterpId>);
    impl Drop for Restore {
        fn drop(&mut self) {
            RUNNING.with(|r| r.set(self.0));
        }
    }
    let _restore = Restore(previous);
    f()
}

#[derive(Debug)]
pub struct ObjectRef {
    object: Option<OwnedPtr>,
    interp: InterpId,
}

// SAFETY: shared references only read the pointer and the id; the object itself is touched
// only through `bind`, which requires attachment to its interpreter.
unsafe impl Sync for ObjectRef {}

impl ObjectRef {
    /// Takes over `object`, a reference into interpreter `interp`.
    pub fn new(object: OwnedPtr, interp: InterpId) -> Self {
        Self {
            object: Some(object),
            interp,
        }
    }

    /// A new strong reference to `obj`, of the interpreter this thread is attached to.
    pub fn of(obj: &Bound<'_, PyAny>) -> Self {
        Self::new(OwnedPtr::new(obj), current_interp(obj.py()))
    }

    pub fn interp(&self) -> InterpId {
        self.interp
    }

    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.object
            .as_ref()
            .map_or(std::ptr::null_mut(), OwnedPtr::as_ptr)
    }

    /// A new `Bound` to the object. Call attached to its interpreter.
    pub fn bind<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        debug_assert_eq!(current_interp(py), self.interp);
        // SAFETY: attached to the object's interpreter; `object` is only taken by
        // `into_parts`/`drop`, which consume `self`, so it is alive here (we hold a reference).
        unsafe { Bound::from_borrowed_ptr(py, self.as_ptr()) }
    }

    /// The interpreter and the reference, for a caller that releases it itself.
    pub fn into_parts(mut self) -> (InterpId, OwnedPtr) {
        let object = self.object.take().expect("taken only here and in drop");
        (self.interp, object)
    }
}

impl Drop for ObjectRef {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            release(self.interp, vec![object]);
        }
    }
}

/// Gives references back to interpreter `interp`: now if this thread runs one of its jobs,
/// else as a job (for a context, on its sync-call thread); leaked if it has ended (nothing may
/// touch them then).
pub fn release(interp: InterpId, objects: Vec<OwnedPtr>) {
    if objects.is_empty() || EXITING.load(Ordering::Acquire) {
        return;
    }
    if RUNNING.with(Cell::get) == Some(interp) {
        // SAFETY: this thread is running a job of `interp`, attached (see `running`).
        let py = unsafe { Python::assume_attached() };
        objects.into_iter().for_each(|o| o.release(py));
        return;
    }
    let job: super::Job = Box::new(move |py| objects.into_iter().for_each(|o| o.release(py)));
    let _ = match interp {
        0 => super::send(0, job),
        // On the thread that runs the context's sync calls: a sync call made after a release
        // (`gc`, `clear`) sees the object gone.
        _ => super::get(interp).and_then(|context| context.send_sync(job)),
    };
}
