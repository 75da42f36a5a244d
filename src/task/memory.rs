//! Per-interpreter memory accounting and limits.
//!
//! `install` (once, at runtime start) wraps CPython's raw allocator (`PYMEM_DOMAIN_RAW`) and its
//! object arena allocator: pymalloc carves small objects out of arenas and hands larger blocks
//! (over 512 bytes) to the raw domain, so the two see every byte Python objects take. `begin`
//! gives an interpreter a slot with a limit: from then on the blocks that threads attached to it
//! allocate are counted against that slot, their frees count back (net use since `begin`), and an
//! allocation that would take it over its limit fails, which Python raises as `MemoryError`.
//! `end` frees the slot. Without an active slot the wrappers load one atomic and pass through.
//!
//! What a refusal cannot promise: CPython raises `MemoryError` for a failed allocation in most
//! places, not all. A task fuzzed at its limit here aborted the process on 3.11 (`Py_FatalError`
//! normalizing exceptions, or "cannot recover from stack overflow") and crashed it on 3.13
//! (unmarshalling during an import); plain CPython 3.10, 3.12 and 3.13 crash the same way under
//! their own failure injection (`_testcapi.set_nomemory`). A thread whose first allocations fail
//! leaves `threading.Thread.start()` waiting forever. A limit stops the common runaway
//! allocation; it is not an isolation boundary.
//!
//! A block is attributed through a side table (address → slot, generation, size, see `blocks`),
//! never through a header or by reading memory around a pointer, which a plugin could forge.
//!
//! Thread rules: the wrappers (`hooks`) run on any thread, attached or not, inside CPython's
//! allocator: they call no Python API beyond reading the current thread state, take no lock but
//! a side-table shard's (never held while an allocator runs), and never panic. `begin`, `usage`
//! and `end` may be called from any thread; they serialize among themselves.

mod blocks;
mod hooks;

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};
pub use hooks::install;

/// Blocks of at least this many bytes (user data: `bytearray`s, big lists and strings; and
/// pymalloc's arenas) are refused at the limit: CPython raises `MemoryError` where they were
/// asked for. Smaller ones are CPython's own bookkeeping too (exception objects, interned
/// strings, dict resizes), and some of its code aborts the process when one of those fails
/// (`_PyErr_NormalizeException`, the recursion check, `marshal` during an import): they may go
/// `HEADROOM` over the limit, and the supervisor stops a task found over its limit (`used >
/// limit`) with an interrupt, at a bytecode boundary, well before that.
const LARGE: usize = 4096;
const HEADROOM: i64 = 32 << 20;

/// How many interpreters may have a limit at once.
const SLOTS: usize = 256;
/// The largest limit kept as given (JS passes at most 2^53).
const MAX_LIMIT: usize = 1 << 62;

/// What an interpreter used since its limit began, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Bytes held now by blocks allocated since `begin`.
    pub used: u64,
    /// The most `used` has been.
    pub peak: u64,
    /// Allocations refused for the limit.
    pub refused: u64,
    pub limit: u64,
}

/// One interpreter's account. All atomics: the wrappers read and update them without a lock.
struct Slot {
    /// The `PyInterpreterState` address; 0 while free.
    interp: AtomicUsize,
    /// Bumped at each `end`: table entries of an earlier use of the slot no longer count.
    generation: AtomicU32,
    limit: AtomicI64,
    used: AtomicI64,
    peak: AtomicI64,
    refused: AtomicU64,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            interp: AtomicUsize::new(0),
            generation: AtomicU32::new(0),
            limit: AtomicI64::new(0),
            used: AtomicI64::new(0),
            peak: AtomicI64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Adds `size` bytes unless that would take `used` over the limit (then counts a refusal).
    /// Small blocks may go `HEADROOM` over it: see `LARGE`.
    fn charge(&self, size: usize) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        let cap = match size >= LARGE {
            true => limit,
            false => limit.saturating_add(HEADROOM),
        };
        let added = i64::try_from(size).ok().and_then(|size| {
            self.used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                    used.checked_add(size).filter(|&total| total <= cap)
                })
                .ok()
                .map(|before| before + size)
        });
        match added {
            Some(total) => {
                self.peak.fetch_max(total, Ordering::Relaxed);
                true
            }
            None => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn usage(&self) -> Usage {
        let read = |v: &AtomicI64| v.load(Ordering::Relaxed).max(0) as u64;
        Usage {
            used: read(&self.used),
            peak: read(&self.peak),
            refused: self.refused.load(Ordering::Relaxed),
            limit: read(&self.limit),
        }
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
/// Slots in use: 0 is the wrappers' fast path.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// Slots at this index and above have never been used: the wrappers scan below it.
static HIGH: AtomicUsize = AtomicUsize::new(0);
/// Serializes `begin` and `end`.
static BOOKKEEPING: Mutex<()> = Mutex::new(());

/// Where a tracked block's bytes are counted (the side table's value).
#[derive(Clone, Copy, Debug)]
struct Block {
    slot: u32,
    generation: u32,
    size: usize,
}

impl Block {
    /// True while the use of the slot that counted this block goes on.
    fn is_current(&self) -> bool {
        let slot = &TABLE[self.slot as usize];
        slot.generation.load(Ordering::SeqCst) == self.generation
            && slot.interp.load(Ordering::SeqCst) != 0
    }

    /// Counts `extra` more bytes for this block (it grows); false if over the limit.
    fn grow(&self, extra: usize) -> bool {
        !self.is_current() || TABLE[self.slot as usize].charge(extra)
    }

    /// Counts `bytes` of this block back (freed, shrunk, or never allocated after all).
    fn release(&self, bytes: usize) {
        if self.is_current() {
            let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
            TABLE[self.slot as usize]
                .used
                .fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    fn refund(&self) {
        self.release(self.size);
    }
}

/// What a new block of the calling thread's interpreter is charged.
enum Charge {
    /// Its interpreter has no limit: not tracked.
    Untracked,
    /// Over its interpreter's limit: do not allocate.
    Refused,
    /// Counted: record the block once allocated, or refund it.
    Counted(Block),
}

/// Charges a new block of `size` bytes to the slot of the interpreter `interp()` names (0: none).
/// `interp` runs only while some slot is active.
fn charge_new(size: usize, interp: impl FnOnce() -> usize) -> Charge {
    if ACTIVE.load(Ordering::Relaxed) == 0 {
        return Charge::Untracked;
    }
    let interp = interp();
    if interp == 0 {
        return Charge::Untracked;
    }
    let high = HIGH.load(Ordering::Acquire).min(SLOTS);
    for (index, slot) in TABLE[..high].iter().enumerate() {
        // The generation first: if `end` (then a `begin`) ran in between, the block is recorded
        // under the old generation and never counts against the new use of the slot.
        let generation = slot.generation.load(Ordering::SeqCst);
        if slot.interp.load(Ordering::SeqCst) != interp {
            continue;
        }
        if !slot.charge(size) {
            return Charge::Refused;
        }
        return Charge::Counted(Block {
            slot: index as u32,
            generation,
            size,
        });
    }
    Charge::Untracked
}

fn slot_of(interp: usize) -> Option<usize> {
    let high = HIGH.load(Ordering::Acquire).min(SLOTS);
    (0..high).find(|&i| TABLE[i].interp.load(Ordering::SeqCst) == interp)
}

/// Starts counting the allocations of interpreter `interp` (a `PyInterpreterState` address)
/// against `limit` bytes, from zero. Refused if it already has a limit, or if `SLOTS`
/// interpreters do.
pub fn begin(interp: usize, limit: usize) -> Result<()> {
    if interp == 0 || limit == 0 {
        return Err(Error::invalid_arg(
            "a memory limit needs an interpreter and a size",
        ));
    }
    if !hooks::installed() {
        return Err(Error::Internal("the memory hooks are not installed".into()));
    }
    let _book = BOOKKEEPING.lock().unwrap_or_else(PoisonError::into_inner);
    if slot_of(interp).is_some() {
        return Err(Error::invalid_arg(
            "this interpreter already has a memory limit: end it first",
        ));
    }
    let index = TABLE
        .iter()
        .position(|slot| slot.interp.load(Ordering::SeqCst) == 0)
        .ok_or_else(|| {
            Error::invalid_arg(format!(
                "at most {SLOTS} interpreters can have a memory limit at once"
            ))
        })?;
    let slot = &TABLE[index];
    let limit = limit.min(MAX_LIMIT) as i64;
    slot.limit.store(limit, Ordering::Relaxed);
    slot.used.store(0, Ordering::Relaxed);
    slot.peak.store(0, Ordering::Relaxed);
    slot.refused.store(0, Ordering::Relaxed);
    // Last: a wrapper that sees the interpreter sees the fields above.
    slot.interp.store(interp, Ordering::SeqCst);
    HIGH.fetch_max(index + 1, Ordering::AcqRel);
    ACTIVE.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// What interpreter `interp` used since `begin`; `None` without a limit.
pub fn usage(interp: usize) -> Option<Usage> {
    slot_of(interp).map(|i| TABLE[i].usage())
}

/// Stops counting interpreter `interp`'s allocations and lifts its limit; returns its final
/// usage, or `None` if it had no limit. Its blocks leave the side table, so that frees cost
/// nothing again once no interpreter has a limit.
pub fn end(interp: usize) -> Option<Usage> {
    let _book = BOOKKEEPING.lock().unwrap_or_else(PoisonError::into_inner);
    let index = slot_of(interp)?;
    let slot = &TABLE[index];
    let usage = slot.usage();
    slot.interp.store(0, Ordering::SeqCst);
    slot.generation.fetch_add(1, Ordering::SeqCst);
    ACTIVE.fetch_sub(1, Ordering::AcqRel);
    blocks::forget_slot(index as u32);
    if usage.peak >= TRIM_AFTER {
        // What the interpreter freed stays with malloc (per-thread arenas, and big blocks
        // served from the heap once malloc raised its mmap threshold): give it back to the
        // system, or a host running many memory-hungry tasks keeps their peak forever.
        // SAFETY: glibc's malloc_trim takes its own locks; any thread may call it.
        unsafe { libc::malloc_trim(0) };
    }
    Some(usage)
}

/// A task that took this much gives its memory back to the system when its limit ends.
const TRIM_AFTER: u64 = 8 << 20;
