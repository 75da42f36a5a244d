//! Entry points for the TS `Tasks` supervisor: a task interpreter's runner module, and task
//! mailboxes (host → task messages; the task side is in `task::runner`).

use napi::bindgen_prelude::{Either, Uint8Array};
use napi::Env;
use napi_derive::napi;

use super::contexts::Reply;
use super::{entry, in_interpreter};
use crate::error::Error;
use crate::js::Js;
use crate::task::{mailbox, runner};

/// The runner module (`_pyembed_tasks`) of instance `owner`'s interpreter, created on first use.
///
/// ```js
/// const runner = native.taskRunner(owner) // a proxy: runner.prepare(), runner.run(spec, host)
/// ```
#[napi(ts_return_type = "unknown")]
pub fn task_runner(env: Env, owner: u32) -> napi::Result<Js> {
    in_interpreter(&env, owner, &[], |py, _| {
        runner::module(py).map(Reply::Object)
    })
}

/// Opens task `task`'s mailbox (before the task is queued).
///
/// ```js
/// native.taskMailboxOpen('3f2a…')
/// ```
#[napi]
pub fn task_mailbox_open(env: Env, task: String) -> napi::Result<()> {
    entry(&env, |_| mailbox::open(&task))
}

/// Posts a message to task `task`: `kind` 0 with a string, 1 with bytes, 2 with JSON text.
/// `ERR_PY_TASK_ENDED` once the task has ended.
///
/// ```js
/// native.taskMailboxPost(id, 2, JSON.stringify({ n: 5 }))
/// ```
#[napi]
pub fn task_mailbox_post(
    env: Env,
    task: String,
    kind: u32,
    payload: Either<String, Uint8Array>,
) -> napi::Result<()> {
    entry(&env, |_| {
        let message = match (kind, payload) {
            (0, Either::A(text)) => mailbox::Message::Text(text),
            (1, Either::B(bytes)) => mailbox::Message::Bytes(bytes.to_vec()),
            (2, Either::A(json)) => mailbox::Message::Json(json),
            _ => {
                return Err(Error::invalid_arg(
                    "a message is a string, bytes or JSON text",
                ))
            }
        };
        mailbox::post(&task, message)
    })
}

/// Interrupts task `task`'s waits (`recv`, `time.sleep`): it is being cancelled or timed out.
#[napi]
pub fn task_mailbox_interrupt(env: Env, task: String) -> napi::Result<()> {
    entry(&env, |_| {
        mailbox::interrupt(&task);
        Ok(())
    })
}

/// Closes task `task`'s mailbox: it ended; its waits end and later messages are refused.
#[napi]
pub fn task_mailbox_close(env: Env, task: String) -> napi::Result<()> {
    entry(&env, |_| {
        mailbox::close(&task);
        Ok(())
    })
}
