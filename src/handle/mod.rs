//! The handle registry: which Python objects JS proxies keep alive, per Node environment.
//!
//! Thread rules: one registry per JS thread (the main thread and each worker_thread is its own
//! Node environment), kept in a thread-local and only touched from that thread. A proxy holds a
//! `HandleId`; the registry holds the strong reference. Nothing here touches Python: removed
//! references are handed back to the caller, which releases them while attached, and references
//! dropped by JS garbage collection wait in `pending` until the next attach.

pub mod names;

use std::cell::RefCell;

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
    object: Option<OwnedPtr>,
}

#[derive(Default)]
pub struct Registry {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    pending: Vec<OwnedPtr>,
    next_owner: OwnerId,
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
    pub fn new_owner(&mut self) -> OwnerId {
        self.next_owner += 1;
        self.next_owner
    }

    pub fn insert(&mut self, owner: OwnerId, object: OwnedPtr) -> HandleId {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            (self.slots.len() - 1) as u32
        });
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation % (GENERATION_LIMIT - 1) + 1;
        slot.owner = owner;
        slot.object = Some(object);
        self.live += 1;
        ((slot.generation as u64) << 32) | index as u64
    }

    fn slot(&self, id: HandleId) -> Option<&Slot> {
        let slot = self.slots.get((id & 0xffff_ffff) as usize)?;
        (slot.generation as u64 == id >> 32 && slot.object.is_some()).then_some(slot)
    }

    /// The object behind `id`, borrowed: incref it before anything can release the handle.
    pub fn get(&self, id: HandleId) -> Result<*mut pyo3::ffi::PyObject> {
        self.slot(id)
            .and_then(|s| s.object.as_ref())
            .map(OwnedPtr::as_ptr)
            .ok_or(Error::Released)
    }

    /// Removes `id`; the caller releases the reference. `None` if already released.
    pub fn remove(&mut self, id: HandleId) -> Option<OwnedPtr> {
        self.slot(id)?;
        let index = (id & 0xffff_ffff) as u32;
        let object = self.slots[index as usize].object.take();
        self.free.push(index);
        self.live -= 1;
        object
    }

    /// JS garbage collection dropped the proxy: release at the next attach.
    pub fn defer_release(&mut self, id: HandleId) {
        if let Some(object) = self.remove(id) {
            self.pending.push(object);
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn take_pending(&mut self) -> Vec<OwnedPtr> {
        std::mem::take(&mut self.pending)
    }

    /// Removes every handle of `owner` (or of everyone), pending ones included.
    pub fn remove_owned(&mut self, owner: Option<OwnerId>) -> Vec<OwnedPtr> {
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
