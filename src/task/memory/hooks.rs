//! The allocator wrappers: over CPython's raw allocator and its object arena allocator, each
//! delegating to the one it replaced (which CPython allows after initialization).
//!
//! Thread rules: installed once, by the thread that initialized CPython, before any other thread
//! uses Python (CPython copies the allocator structs without a lock that allocations would
//! take). The wrappers then run on any thread, attached or not: they read the calling thread's
//! current thread state and nothing else of Python, and never panic.

use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use pyo3::ffi;

use super::{blocks, charge_new, Block, Charge};

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// True once the wrappers are in place.
pub(super) fn installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

type Malloc = extern "C" fn(*mut c_void, usize) -> *mut c_void;
type Calloc = extern "C" fn(*mut c_void, usize, usize) -> *mut c_void;
type Realloc = extern "C" fn(*mut c_void, *mut c_void, usize) -> *mut c_void;
type Free = extern "C" fn(*mut c_void, *mut c_void);
type ArenaFree = extern "C" fn(*mut c_void, *mut c_void, usize);

/// The raw allocator that was in place; the wrappers' `ctx` points to it (leaked: it lives as
/// long as the process).
struct Raw {
    ctx: *mut c_void,
    malloc: Malloc,
    calloc: Calloc,
    realloc: Realloc,
    free: Free,
}

/// The arena allocator that was in place, likewise.
struct Arena {
    ctx: *mut c_void,
    alloc: Malloc,
    free: ArenaFree,
}

/// Wraps the raw and arena allocators, once; later calls do nothing.
///
/// # Safety
/// CPython is initialized, and no thread but the caller's has used it yet.
pub unsafe fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: upheld by the caller.
        let done = unsafe { install_raw() && install_arena() };
        INSTALLED.store(done, Ordering::Release);
    });
}

/// # Safety
/// As `install`.
unsafe fn install_raw() -> bool {
    let mut previous = ffi::PyMemAllocatorEx {
        ctx: null_mut(),
        malloc: None,
        calloc: None,
        realloc: None,
        free: None,
    };
    // SAFETY: fills the struct with the current raw allocator; no other thread allocates.
    unsafe { ffi::PyMem_GetAllocator(ffi::PyMemAllocatorDomain::PYMEM_DOMAIN_RAW, &mut previous) };
    let (Some(malloc), Some(calloc), Some(realloc), Some(free)) = (
        previous.malloc,
        previous.calloc,
        previous.realloc,
        previous.free,
    ) else {
        return false;
    };
    let previous = Box::leak(Box::new(Raw {
        ctx: previous.ctx,
        malloc,
        calloc,
        realloc,
        free,
    }));
    let mut wrapper = ffi::PyMemAllocatorEx {
        ctx: (previous as *mut Raw).cast(),
        malloc: Some(raw_malloc),
        calloc: Some(raw_calloc),
        realloc: Some(raw_realloc),
        free: Some(raw_free),
    };
    // SAFETY: the wrapper delegates to the allocator it replaces, so blocks allocated before
    // stay valid; CPython copies the struct; no other thread allocates meanwhile.
    unsafe { ffi::PyMem_SetAllocator(ffi::PyMemAllocatorDomain::PYMEM_DOMAIN_RAW, &mut wrapper) };
    true
}

/// # Safety
/// As `install`.
unsafe fn install_arena() -> bool {
    let mut previous = ffi::PyObjectArenaAllocator {
        ctx: null_mut(),
        alloc: None,
        free: None,
    };
    // SAFETY: fills the struct with the current arena allocator; no other thread allocates.
    unsafe { ffi::PyObject_GetArenaAllocator(&mut previous) };
    let (Some(alloc), Some(free)) = (previous.alloc, previous.free) else {
        return false;
    };
    let previous = Box::leak(Box::new(Arena {
        ctx: previous.ctx,
        alloc,
        free,
    }));
    let mut wrapper = ffi::PyObjectArenaAllocator {
        ctx: (previous as *mut Arena).cast(),
        alloc: Some(arena_alloc),
        free: Some(arena_free),
    };
    // SAFETY: as for the raw allocator.
    unsafe { ffi::PyObject_SetArenaAllocator(&mut wrapper) };
    true
}

/// The `PyInterpreterState` address of the calling thread's current thread state; 0 if none.
fn current_interp() -> usize {
    // SAFETY: callable on any thread without the GIL: it reads the current thread state.
    let tstate = unsafe { ffi::compat::PyThreadState_GetUnchecked() };
    if tstate.is_null() {
        return 0;
    }
    // Before 3.12 the current thread state is a process-wide one, the GIL holder's, which
    // another thread may be deleting: only the caller's own state is read.
    #[cfg(not(Py_3_12))]
    {
        // SAFETY: reads this thread's thread-specific storage.
        if tstate != unsafe { ffi::PyGILState_GetThisThreadState() } {
            return 0;
        }
    }
    // SAFETY: the calling thread's own thread state, alive while it runs on it.
    unsafe { ffi::PyThreadState_GetInterpreter(tstate) as usize }
}

/// Allocates with `alloc`, charging the block to the calling thread's interpreter if it has a
/// limit: null (without calling `alloc`) if that would go over it. `give_up` frees a block that
/// could not be recorded.
fn allocate(
    size: usize,
    alloc: impl FnOnce() -> *mut c_void,
    give_up: impl FnOnce(*mut c_void),
) -> *mut c_void {
    match charge_new(size, current_interp) {
        Charge::Untracked => alloc(),
        Charge::Refused => null_mut(),
        Charge::Counted(block) => {
            let ptr = alloc();
            if ptr.is_null() {
                block.refund();
            } else if !blocks::record(ptr as usize, block) {
                block.refund();
                give_up(ptr);
                return null_mut();
            }
            ptr
        }
    }
}

/// Counts a freed block back, if it is tracked.
fn forget(ptr: *mut c_void) {
    if let Some(block) = blocks::take(ptr as usize) {
        block.refund();
    }
}

/// Puts a tracked block's entry back (a resize failed), or stops counting it.
fn restore(ptr: *mut c_void, block: Block) {
    if !blocks::record(ptr as usize, block) {
        block.refund();
    }
}

fn raw<'a>(ctx: *mut c_void) -> &'a Raw {
    // SAFETY: CPython passes back the `ctx` that `install_raw` gave it: a leaked `Raw`.
    unsafe { &*ctx.cast::<Raw>() }
}

fn arena<'a>(ctx: *mut c_void) -> &'a Arena {
    // SAFETY: CPython passes back the `ctx` that `install_arena` gave it: a leaked `Arena`.
    unsafe { &*ctx.cast::<Arena>() }
}

extern "C" fn raw_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    let raw = raw(ctx);
    allocate(
        size,
        || (raw.malloc)(raw.ctx, size),
        |p| (raw.free)(raw.ctx, p),
    )
}

extern "C" fn raw_calloc(ctx: *mut c_void, nelem: usize, elsize: usize) -> *mut c_void {
    let raw = raw(ctx);
    // An overflowing product is over any limit (and the allocator would refuse it too).
    let size = nelem.saturating_mul(elsize);
    allocate(
        size,
        || (raw.calloc)(raw.ctx, nelem, elsize),
        |p| (raw.free)(raw.ctx, p),
    )
}

/// A tracked block keeps its entry, re-keyed and resized, and is charged what it grows (refused
/// over the limit, the block left as it was); an untracked one stays untracked.
extern "C" fn raw_realloc(ctx: *mut c_void, ptr: *mut c_void, size: usize) -> *mut c_void {
    let raw = raw(ctx);
    if ptr.is_null() {
        return allocate(
            size,
            || (raw.realloc)(raw.ctx, ptr, size),
            |p| (raw.free)(raw.ctx, p),
        );
    }
    let Some(block) = blocks::take(ptr as usize).filter(Block::is_current) else {
        // Not counted (allocated before the limit began, or by an ended use of its slot): a
        // resize under a limit is charged in full, as a new block (a task could otherwise grow
        // an object made before it started without bound).
        return match charge_new(size, current_interp) {
            Charge::Untracked => (raw.realloc)(raw.ctx, ptr, size),
            Charge::Refused => null_mut(),
            Charge::Counted(block) => {
                let moved = (raw.realloc)(raw.ctx, ptr, size);
                if moved.is_null() {
                    block.refund();
                } else {
                    restore(moved, block);
                }
                moved
            }
        };
    };
    let grown = size.saturating_sub(block.size);
    if grown > 0 && !block.grow(grown) {
        restore(ptr, block);
        return null_mut();
    }
    let moved = (raw.realloc)(raw.ctx, ptr, size);
    if moved.is_null() {
        block.release(grown);
        restore(ptr, block);
        return moved;
    }
    block.release(block.size.saturating_sub(size));
    restore(moved, Block { size, ..block });
    moved
}

extern "C" fn raw_free(ctx: *mut c_void, ptr: *mut c_void) {
    let raw = raw(ctx);
    // Forgotten before the free: once freed, the address may be handed out and recorded again.
    forget(ptr);
    (raw.free)(raw.ctx, ptr);
}

extern "C" fn arena_alloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    let arena = arena(ctx);
    allocate(
        size,
        || (arena.alloc)(arena.ctx, size),
        |p| (arena.free)(arena.ctx, p, size),
    )
}

extern "C" fn arena_free(ctx: *mut c_void, ptr: *mut c_void, size: usize) {
    let arena = arena(ctx);
    forget(ptr);
    (arena.free)(arena.ctx, ptr, size);
}
