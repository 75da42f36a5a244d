//! The handle registry: which Python objects JS proxies keep alive, per Node environment.
//!
//! Thread rules: one registry per JS thread (the main thread and each worker_thread is its own
//! Node environment), kept in a thread-local and only touched from that thread. A proxy holds a
//! `HandleId`; the registry holds the strong reference. Nothing here touches Python: removed
//! references are handed back to the caller, which releases them in their own interpreter, and
//! references dropped by JS garbage collection wait in `pending` until the next call.
//!
//! Every handle holds an `ObjectRef`, which knows its interpreter: an object never reaches
//! another interpreter (`ERR_PY_CONTEXT_MISMATCH`), and a closed context's handles answer
//! `ERR_PY_CONTEXT_CLOSED`. The owner (the `Python` instance that made the proxy, if any) is a
//! separate, optional tag, used by `clear()`. Values in flight to another thread hold a share
//! of the reference (`lend`), so releasing the handle never frees an object still in use.

pub mod names;

use std::cell::RefCell;
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::context::{InterpId, ObjectRef};
use crate::error::{Error, Result};

/// Slot index in the low 32 bits, slot generation above: stays below 2^53, exact in a JS number.
pub type HandleId = u64;

/// Which `Python` instance created a handle (`clear()` releases by owner). JS passes 0 for
/// "no owner" (proxies made for JS callbacks' arguments); see `owner_arg`.
pub type OwnerId = NonZeroU32;

/// Generations use the 21 bits above the slot index (2^53 / 2^32); a slot whose generation is
/// used up is retired rather than reused, so a kept id can never name a later object.
const GENERATION_LIMIT: u32 = 1 << 21;

#[derive(Default)]
struct Slot {
    generation: u32,
    owner: Option<OwnerId>,
    interp: InterpId,
    object: Option<Arc<ObjectRef>>,
    /// Its context closed: the slot stays taken (answering `ERR_PY_CONTEXT_CLOSED`) until the
    /// proxy is collected or released.
    closed: bool,
}

/// A reference to give back (see `api::release`): shared with any value in flight that uses
/// it, so it is freed only when the last holder is done.
pub type Release = Arc<ObjectRef>;

#[derive(Default)]
pub struct Registry {
    slots: Vec<Slot>,
    /// Free slots, reused oldest first.
    free: std::collections::VecDeque<u32>,
    live: usize,
    pending: Vec<Release>,
    /// The interpreter of each owner (index: owner id; index 0 unused).
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

/// The owner JS passed: 0 means none.
pub fn owner_arg(owner: u32) -> Option<OwnerId> {
    NonZeroU32::new(owner)
}

impl Registry {
    /// A new owner id for a `Python` instance on interpreter `interp`.
    pub fn new_owner(&mut self, interp: InterpId) -> OwnerId {
        if self.owners.is_empty() {
            self.owners.push(InterpId::MAX); // index 0: no owner
        }
        self.owners.push(interp);
        OwnerId::new((self.owners.len() - 1) as u32).expect("index 0 is taken")
    }

    /// The interpreter whose objects `owner` holds.
    pub fn owner_interp(&self, owner: OwnerId) -> Result<InterpId> {
        match self.owners.get(owner.get() as usize) {
            Some(&interp) => Ok(interp),
            None => Err(Error::invalid_arg(format!("unknown owner {owner}"))),
        }
    }

    /// Registers `object` for `owner` (if any), whose interpreter must be the object's.
    pub fn insert(&mut self, owner: Option<OwnerId>, object: ObjectRef) -> Result<HandleId> {
        let interp = object.interp();
        if let Some(owner) = owner {
            if self.owner_interp(owner)? != interp {
                return Err(Error::ContextMismatch);
            }
        }
        let index = self.free.pop_front().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            (self.slots.len() - 1) as u32
        });
        let slot = &mut self.slots[index as usize];
        slot.generation += 1;
        slot.owner = owner;
        slot.interp = interp;
        slot.object = Some(Arc::new(object));
        slot.closed = false;
        self.live += 1;
        Ok(((slot.generation as u64) << 32) | index as u64)
    }

    /// The slot of `id` if it is taken (live or closed).
    fn slot(&self, id: HandleId) -> Option<&Slot> {
        let slot = self.slots.get((id & 0xffff_ffff) as usize)?;
        (slot.generation as u64 == id >> 32 && (slot.object.is_some() || slot.closed))
            .then_some(slot)
    }

    /// The object behind `id` (which knows its interpreter), shared: it stays alive as long
    /// as the returned reference does, whatever happens to the handle.
    pub fn lend(&self, id: HandleId) -> Result<Arc<ObjectRef>> {
        match self.slot(id) {
            Some(slot) if slot.closed => Err(Error::ContextClosed),
            Some(Slot {
                object: Some(object),
                ..
            }) => Ok(object.clone()),
            _ => Err(Error::Released),
        }
    }

    /// Like `lend`, for an object that must belong to interpreter `interp`.
    pub fn lend_in(&self, id: HandleId, interp: InterpId) -> Result<Arc<ObjectRef>> {
        let object = self.lend(id)?;
        match object.interp() == interp {
            true => Ok(object),
            false => Err(Error::ContextMismatch),
        }
    }

    /// Removes `id`; the caller releases the reference. `None` if already released (or its
    /// context closed, which released it).
    pub fn remove(&mut self, id: HandleId) -> Option<Release> {
        self.slot(id)?;
        let index = (id & 0xffff_ffff) as u32;
        let slot = &mut self.slots[index as usize];
        let object = slot.object.take();
        slot.closed = false;
        if slot.generation < GENERATION_LIMIT - 1 {
            self.free.push_back(index);
        }
        if object.is_some() {
            self.live -= 1;
        }
        object
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
            .filter(|(_, s)| s.object.is_some() && (owner.is_none() || owner == s.owner))
            .map(|(i, s)| ((s.generation as u64) << 32) | i as u64)
            .collect();
        let mut removed = self.take_pending();
        removed.extend(ids.into_iter().filter_map(|id| self.remove(id)));
        removed
    }

    /// Context `interp` is closing: takes every reference into it (pending ones included) and
    /// marks its handles closed.
    pub fn close_interp(&mut self, interp: InterpId) -> Vec<Release> {
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
        let (theirs, others): (Vec<Release>, Vec<Release>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|o| o.interp() == interp);
        self.pending = others;
        taken.extend(theirs);
        taken
    }

    /// Live handles, of one owner or in all.
    pub fn count(&self, owner: Option<OwnerId>) -> usize {
        match owner {
            None => self.live,
            Some(o) => self
                .slots
                .iter()
                .filter(|s| s.object.is_some() && s.owner == Some(o))
                .count(),
        }
    }
}
