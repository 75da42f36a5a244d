//! Supervised tasks: what the native side does for them.
//!
//! A task is a Python script run in an interpreter of its own under supervision; this module
//! holds the parts that must be native: per-interpreter memory accounting and limits
//! (`memory`). Nothing here touches Node-API.

pub mod memory;
