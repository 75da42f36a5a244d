//! The side table of tracked blocks: address → `Block`, in shards chosen by address.
//!
//! Thread rules: any thread. A shard's lock is held for one map operation and nothing else; the
//! maps allocate with Rust's global allocator (the C library's malloc), never CPython's, so no
//! wrapper runs under a lock. A poisoned lock is used as is (nothing here panics while holding
//! one).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::Block;

const SHARDS: usize = 64;
/// Fibonacci hashing's multiplier (2^64 / φ).
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

type Map = HashMap<usize, Block, BuildHasherDefault<AddressHasher>>;

static SHARD: [Mutex<Map>; SHARDS] =
    [const { Mutex::new(HashMap::with_hasher(BuildHasherDefault::new())) }; SHARDS];
/// Entries in all shards: 0 is `take`'s fast path.
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn shard(address: usize) -> MutexGuard<'static, Map> {
    let index =
        ((address as u64 >> 4).wrapping_mul(MIX) >> (64 - SHARDS.trailing_zeros())) as usize;
    SHARD[index % SHARDS]
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Records the block at `address`; false if there is no memory for the entry (the caller then
/// gives the block up).
pub(super) fn record(address: usize, block: Block) -> bool {
    let mut map = shard(address);
    if map.try_reserve(1).is_err() {
        return false;
    }
    match map.insert(address, block) {
        // A block freed behind the wrappers' back (CPython swaps in its default allocator for
        // a few internal chores): it is gone, so is its charge.
        Some(stale) => stale.refund(),
        None => {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
    }
    true
}

/// Removes and returns the entry of the block at `address`, if it is tracked.
pub(super) fn take(address: usize) -> Option<Block> {
    // Whoever frees a block learnt its address after `record` returned: it sees the count.
    if COUNT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let block = shard(address).remove(&address)?;
    COUNT.fetch_sub(1, Ordering::Relaxed);
    Some(block)
}

/// Drops every entry of `slot`: its use ended.
pub(super) fn forget_slot(slot: u32) {
    for shard in &SHARD {
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let before = map.len();
        map.retain(|_, block| block.slot != slot);
        let removed = before - map.len();
        if map.is_empty() {
            // Between tasks the table holds nothing, memory included.
            *map = Map::default();
        }
        drop(map);
        COUNT.fetch_sub(removed, Ordering::Relaxed);
    }
}

/// Hashes an address (the maps' only key) by multiplication: cheap, and spreads the low bits
/// that alignment leaves at zero.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(MIX);
        }
    }

    fn write_usize(&mut self, n: usize) {
        let mixed = (n as u64).wrapping_mul(MIX);
        self.0 = mixed ^ (mixed >> 29);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
