//! Entry points for the TS `Tasks` supervisor: task interpreters, and task mailboxes (host →
//! task messages; the task side is in `task::runner`).
//!
//! A task interpreter is created off the JS thread: creating one needs the GIL, which on Python
//! 3.10/3.11 a task spinning in another interpreter may keep for as long as it runs (those
//! versions hand the shared GIL over only within one interpreter), and the JS thread must stay
//! free to time that task out.

use napi::bindgen_prelude::{Either, Uint8Array};
use napi::Env;
use napi_derive::napi;

use super::entry;
use crate::context::{self, Kind};
use crate::convert::ValueForJs;
use crate::error::Error;
use crate::inbox::{self, Completion, Message};
use crate::python::code;
use crate::task::{mailbox, runner};

/// Creates a task interpreter (an isolated context that may start processes, with the task
/// runner module `_pyembed_tasks` loaded) on a thread of its own; settles call `call` with its
/// interpreter id, which `adoptContext` then makes this JS thread's.
///
/// ```js
/// native.createTaskContext(call) // → interpreter id
/// ```
#[napi]
pub fn create_task_context(env: Env, call: u32) -> napi::Result<()> {
    entry(&env, |js| {
        let outbox = inbox::start_call(js)?;
        std::thread::Builder::new()
            .name("pyembed-ctx-create".into())
            .spawn(move || {
                let created = context::create(
                    Kind::Task,
                    Box::new(|py| {
                        code::setup_context(py, true)?;
                        runner::module(py).map(drop)
                    }),
                );
                outbox.send(Message::Completion(Completion {
                    call,
                    owner: None,
                    result: created.map(|interp| ValueForJs::number(interp.id.into())),
                }));
            })
            .map(drop)
            .map_err(|e| Error::Internal(format!("cannot spawn a thread: {e}")))
    })
}

/// Call `call` no longer keeps Node alive: its task was given up, stuck in a blocking call.
#[napi]
pub fn unref_call(env: Env, call: u32) -> napi::Result<()> {
    entry(&env, |js| {
        inbox::unref_call(js, call);
        Ok(())
    })
}

/// Context `interp` runs task `task` from now on: its Python code waits on that task's mailbox.
#[napi]
pub fn task_bind(env: Env, interp: u32, task: String) -> napi::Result<()> {
    entry(&env, |_| {
        mailbox::bind(context::get(interp)?.state(), &task);
        Ok(())
    })
}

/// Context `interp` runs no task any more (a closed one has nothing to unbind).
#[napi]
pub fn task_unbind(env: Env, interp: u32) -> napi::Result<()> {
    entry(&env, |_| {
        if let Ok(context) = context::get(interp) {
            mailbox::unbind(context.state());
        }
        Ok(())
    })
}

/// Makes context `interp` (from `createTaskContext`) this JS thread's: closed with its
/// environment.
#[napi]
pub fn adopt_context(env: Env, interp: u32) -> napi::Result<()> {
    entry(&env, |_| super::contexts::adopt(interp))
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
