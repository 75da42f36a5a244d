//! Supervised tasks: what the native side does for them. The supervisor itself (queue,
//! concurrency, timeouts, states) is the TS `Tasks` class over contexts; here are the parts that
//! must not wait for the JS thread, touch another interpreter or run inside CPython's allocator:
//! mailboxes (`mailbox`), the runner module each task interpreter gets (`runner`, its Python in
//! `runner.py`), and per-interpreter memory accounting and limits (`memory`). Nothing here
//! touches Node-API.

pub mod mailbox;
pub mod memory;
pub mod runner;
