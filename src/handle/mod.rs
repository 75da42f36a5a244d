//! The handle registry: which Python objects JS proxies keep alive, per Node environment.
//!
//! Thread rules: one registry per JS thread (the main thread and each worker_thread is its own
//! Node environment), kept in a thread-local and only touched from that thread. A proxy holds a
//! `HandleId`; the registry holds the strong reference. Nothing here touches Python: removed
//! references are handed back to the caller, which releases them in their own interpreter, and
//! references dropped by JS garbage collection wait in `pending` until the next call.
//!
//! Every handle records its interpreter (that of its owner), so that an object never reaches
//! another interpreter (`ERR_PY_CONTEXT_MISMATCH`), and a closed context's handles answer
//! `ERR_PY_CONTEXT_CLOSED`.

pub mod names;

use std::cell::RefCell;

use crate::context::InterpId;
use crate::error::{Error, Result};
use crate::python::OwnedPtr;

/// Slot index in the low 32 bits, slot generation above: stays below 2^53, exact in a JS number.
pub type HandleId = u64;

/// Which `Python` instance created a handle (`clear()` releases by owner).
pub type OwnerId = u32;

const GENERATION_LIMIT: u32 = 1 << 20;

#[derive(Default)]
struct Slot {
    generation: u32,
    owner: OwnerId,
    interp: InterpId,
    object: Option<OwnedPtr>,
    /// Its context closed: the slot stays taken (answering `ERR_PY_CONTEXT_CLOSED`) until the
    /// proxy is collected or released.
    closed: bool,
}

/// A reference to give back, and the interpreter it belongs to.
pub type Release = (InterpId, OwnedPtr);

#[derive(Default)]
pub struct Registry {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    pending: Vec<Release>,
    /// The interpreter of each owner (index: owner id; owner 0 is the main interpreter's).
    owners: Vec<InterpId>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Runs `f` on this thread's registry. Never call Python or JS inside `f`.
pub fn with<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    REGISTRY.with(|r| f(&mut r.borrow_mut()))
}

/// Like `with`, but does nothing while the thread is being torn down.
pub fn try_with(f: impl FnOnce(&mut Registry)) {
    let _ = REGISTRY.try_with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            f(&mut r)
        }
    });
}

impl Registry {
    /// A new owner id for a `Python` instance on interpreter `interp`.
    pub fn new_owner(&mut self, interp: InterpId) -> OwnerId {
        if self.owners.is_empty() {
            self.owners.push(0);
        }
        self.owners.push(interp);
        (self.owners.len() - 1) as OwnerId
    }

    /// The interpreter whose objects `owner` holds.
    pub fn owner_interp(&self, owner: OwnerId) -> Result<InterpId> {
        match self.owners.get(owner as usize) {
            Some(&interp) => Ok(interp),
            None if owner == 0 => Ok(0),
            None => Err(Error::invalid_arg(format!("unknown owner {owner}"))),
        }
    }

    /// Registers `object`, of interpreter `interp`, for `owner`.
    pub fn insert(&mut self, owner: OwnerId, interp: InterpId, object: OwnedPtr) -> HandleId {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            (self.slots.len() - 1) as u32
        });
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation % (GENERATION_LIMIT - 1) + 1;
        slot.owner = owner;
        slot.interp = interp;
        slot.object = Some(object);
        slot.closed = false;
        self.live += 1;
        ((slot.generation as u64) << 32) | index as u64
    }

    /// The slot of `id` if it is taken (live or closed).
    fn slot(&self, id: HandleId) -> Option<&Slot> {
        let slot = self.slots.get((id & 0xffff_ffff) as usize)?;
        (slot.generation as u64 == id >> 32 && (slot.object.is_some() || slot.closed))
            .then_some(slot)
    }

    fn live_slot(&self, id: HandleId) -> Result<&Slot> {
        match self.slot(id) {
            Some(slot) if slot.closed => Err(Error::ContextClosed),
            Some(slot) => Ok(slot),
            None => Err(Error::Released),
        }
    }

    /// The object behind `id` and its interpreter, borrowed: incref it before anything can
    /// release the handle.
    pub fn get(&self, id: HandleId) -> Result<(*mut pyo3::ffi::PyObject, InterpId)> {
        let slot = self.live_slot(id)?;
        let object = slot.object.as_ref().ok_or(Error::Released)?;
        Ok((object.as_ptr(), slot.interp))
    }

    /// The object behind `id`, which must belong to interpreter `interp`.
    pub fn get_in(&self, id: HandleId, interp: InterpId) -> Result<*mut pyo3::ffi::PyObject> {
        match self.get(id)? {
            (object, i) if i == interp => Ok(object),
            _ => Err(Error::ContextMismatch),
        }
    }

    /// Removes `id`; the caller releases the reference. `None` if already released (or its
    /// context closed, which released it).
    pub fn remove(&mut self, id: HandleId) -> Option<Release> {
        let slot = self.slot(id)?;
        let interp = slot.interp;
        let index = (id & 0xffff_ffff) as u32;
        let slot = &mut self.slots[index as usize];
        let object = slot.object.take();
        slot.closed = false;
        self.free.push(index);
        if object.is_some() {
            self.live -= 1;
        }
        object.map(|o| (interp, o))
    }

    /// JS garbage collection dropped the proxy: release at the next call.
    pub fn defer_release(&mut self, id: HandleId) {
        if let Some(release) = self.remove(id) {
            self.pending.push(release);
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn take_pending(&mut self) -> Vec<Release> {
        std::mem::take(&mut self.pending)
    }

    /// Removes every handle of `owner` (or of everyone), pending ones included.
    pub fn remove_owned(&mut self, owner: Option<OwnerId>) -> Vec<Release> {
        let ids: Vec<HandleId> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.object.is_some() && owner.is_none_or(|o| o == s.owner))
            .map(|(i, s)| ((s.generation as u64) << 32) | i as u64)
            .collect();
        let mut removed = self.take_pending();
        removed.extend(ids.into_iter().filter_map(|id| self.remove(id)));
        removed
    }

    /// Context `interp` is closing: takes every reference into it (pending ones included) and
    /// marks its handles closed.
    pub fn close_interp(&mut self, interp: InterpId) -> Vec<OwnedPtr> {
        let mut taken = Vec::new();
        for slot in &mut self.slots {
            if slot.interp == interp {
                if let Some(object) = slot.object.take() {
                    slot.closed = true;
                    self.live -= 1;
                    taken.push(object);
                }
            }
        }
        let (theirs, others) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(i, _)| *i == interp);
        self.pending = others;
        taken.extend(theirs.into_iter().map(|(_, o): Release| o));
        taken
    }

    /// Live handles, of one owner or in all.
    pub fn count(&self, owner: Option<OwnerId>) -> usize {
        match owner {
            None => self.live,
            Some(o) => self
                .slots
                .iter()
                .filter(|s| s.object.is_some() && s.owner == o)
                .count(),
        }
    }
}
