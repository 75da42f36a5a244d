//! Interned attribute names, per environment: the TS layer asks once per name for a small id,
//! and method calls then pass the id instead of a string (no UTF-8 copy, no hashing).

use std::cell::RefCell;
use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::error::{Error, Result};
use crate::python::OwnedPtr;

#[derive(Default)]
struct Names {
    ids: HashMap<String, u32>,
    /// The main interpreter's interned str of each id.
    strings: Vec<OwnedPtr>,
    /// The text of each id (for contexts, which make their own str).
    texts: Vec<String>,
}

thread_local! {
    static NAMES: RefCell<Names> = RefCell::new(Names::default());
}

/// The id of `name`, interning it on first use.
pub fn intern(py: Python<'_>, name: &str) -> u32 {
    NAMES.with(|n| {
        let mut n = n.borrow_mut();
        if let Some(&id) = n.ids.get(name) {
            return id;
        }
        let id = n.strings.len() as u32;
        n.strings
            .push(OwnedPtr::new(PyString::intern(py, name).as_any()));
        n.ids.insert(name.to_owned(), id);
        n.texts.push(name.to_owned());
        id
    })
}

/// The interned string of `id`, as a new reference.
pub fn get<'py>(py: Python<'py>, id: u32) -> Result<Bound<'py, PyString>> {
    let ptr = NAMES.with(|n| n.borrow().strings.get(id as usize).map(OwnedPtr::as_ptr));
    let ptr = ptr.ok_or_else(|| Error::invalid_arg(format!("unknown attribute name id {id}")))?;
    // SAFETY: the table holds a strong reference to this str for the life of the environment.
    Ok(unsafe { Bound::from_borrowed_ptr(py, ptr).cast_into_unchecked() })
}

/// The text of `id`.
pub fn text(id: u32) -> Result<String> {
    NAMES
        .with(|n| n.borrow().texts.get(id as usize).cloned())
        .ok_or_else(|| Error::invalid_arg(format!("unknown attribute name id {id}")))
}

/// Empties the table (environment teardown); the caller releases the strings.
pub fn take_all() -> Vec<OwnedPtr> {
    NAMES
        .try_with(|n| std::mem::take(&mut *n.borrow_mut()).strings)
        .unwrap_or_default()
}
