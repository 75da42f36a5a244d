//! Supervised tasks: what the native side does for them. The supervisor itself (queue,
//! concurrency, timeouts, states) is the TS `Tasks` class over contexts; here are the parts that
//! must not wait for the JS thread or touch another interpreter: mailboxes (`mailbox`), and the
//! runner module each task interpreter gets (`runner`, its Python in `runner.py`).

pub mod mailbox;
pub mod runner;
