//! Mailboxes: the messages sent to a task, kept in order until its Python code takes them.
//!
//! Keyed by task id, process-wide: any thread may post (the JS thread for `task.send()`, a
//! task's Python thread for `pyembed.task.send(id, ...)`), so a message between two tasks never
//! waits for the JS thread. A task's waits (`recv`, and `time.sleep` inside a task) block here,
//! detached from Python, and wake when a message arrives, when the task is interrupted (cancel,
//! timeout: its waits end at once so that the interrupt lands) or when the mailbox closes (the
//! task ended). No Python object is ever stored: messages are plain data.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What a task's mailbox may hold at once, in bytes: messages are not counted against a task's
/// memory limit, so a task sending to itself (or to a task still queued) must not grow the
/// host without bound.
pub const MAX_QUEUED: usize = 64 << 20;

/// One message, as it travels between threads and interpreters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Bytes(Vec<u8>),
    /// A JSON-able value, as JSON text.
    Json(String),
}

impl Message {
    fn size(&self) -> usize {
        match self {
            Message::Text(t) | Message::Json(t) => t.len(),
            Message::Bytes(b) => b.len(),
        }
    }
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Woken {
    Message(Message),
    TimedOut,
    /// The task is being cancelled or timed out.
    Interrupted,
    /// The task ended (or its mailbox was never opened).
    Closed,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Message>,
    /// Bytes of the messages queued (bounded by `MAX_QUEUED`).
    bytes: usize,
    interrupted: bool,
    closed: bool,
}

#[derive(Default)]
struct Mailbox {
    state: Mutex<State>,
    changed: Condvar,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ready` says the state is worth returning for, or `deadline` passes.
    fn wait_until<R>(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut State) -> Option<R>,
    ) -> Option<R> {
        let mut state = self.lock();
        loop {
            if let Some(r) = ready(&mut state) {
                return Some(r);
            }
            state = match deadline {
                None => self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

static BOXES: Mutex<Option<HashMap<String, Arc<Mailbox>>>> = Mutex::new(None);

/// The task each task interpreter (its `PyInterpreterState` address) is running: what its
/// Python code may wait on. Task code cannot name another task's mailbox to read it.
static BOUND: Mutex<Option<HashMap<usize, String>>> = Mutex::new(None);

fn bound_map<R>(f: impl FnOnce(&mut HashMap<usize, String>) -> R) -> R {
    f(BOUND
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new))
}

/// Interpreter `interp` runs task `task` from now on.
pub fn bind(interp: usize, task: &str) {
    bound_map(|b| b.insert(interp, task.to_owned()));
}

/// Interpreter `interp` runs no task any more.
pub fn unbind(interp: usize) {
    bound_map(|b| b.remove(&interp));
}

/// The task interpreter `interp` runs, if any.
pub fn bound(interp: usize) -> Option<String> {
    bound_map(|b| b.get(&interp).cloned())
}

fn boxes<R>(f: impl FnOnce(&mut HashMap<String, Arc<Mailbox>>) -> R) -> R {
    f(BOXES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new))
}

fn find(task: &str) -> Option<Arc<Mailbox>> {
    boxes(|b| b.get(task).cloned())
}

/// Opens task `task`'s mailbox (a new task: before it is queued, so messages sent to a queued
/// task wait for it). Opening an open one is an error.
pub fn open(task: &str) -> Result<()> {
    boxes(|b| match b.contains_key(task) {
        true => Err(Error::invalid_arg(format!(
            "task {task:?} already has a mailbox"
        ))),
        false => {
            b.insert(task.to_owned(), Arc::default());
            Ok(())
        }
    })
}

/// Posts `message` to task `task`: `ERR_PY_TASK_ENDED` once it ended (or if it never existed).
pub fn post(task: &str, message: Message) -> Result<()> {
    let mailbox = find(task).ok_or_else(|| Error::TaskEnded(task.to_owned()))?;
    let mut state = mailbox.lock();
    if state.closed {
        return Err(Error::TaskEnded(task.to_owned()));
    }
    if state.bytes.saturating_add(message.size()) > MAX_QUEUED {
        return Err(Error::invalid_arg(format!(
            "task {task:?} has {} bytes of messages waiting (at most {MAX_QUEUED}): it is not taking them",
            state.bytes
        )));
    }
    state.bytes += message.size();
    state.queue.push_back(message);
    drop(state);
    mailbox.changed.notify_all();
    Ok(())
}

/// Puts `message` back in front of task `task`'s queue (a wait that took it was abandoned).
pub fn unrecv(task: &str, message: Message) -> Result<()> {
    let mailbox = find(task).ok_or_else(|| Error::TaskEnded(task.to_owned()))?;
    let mut state = mailbox.lock();
    state.bytes += message.size();
    state.queue.push_front(message);
    drop(state);
    mailbox.changed.notify_all();
    Ok(())
}

/// Interrupts every wait of task `task`, now and later: it is being cancelled.
pub fn interrupt(task: &str) {
    if let Some(mailbox) = find(task) {
        mailbox.lock().interrupted = true;
        mailbox.changed.notify_all();
    }
}

/// Closes task `task`'s mailbox: waits end, posts fail; undelivered messages are dropped.
pub fn close(task: &str) {
    if let Some(mailbox) = boxes(|b| b.remove(task)) {
        mailbox.lock().closed = true;
        mailbox.changed.notify_all();
    }
}

/// Takes task `task`'s next message, waiting up to `timeout` (`None`: no limit). Blocks: call
/// it detached from Python.
pub fn recv(task: &str, timeout: Option<Duration>) -> Woken {
    let Some(mailbox) = find(task) else {
        return Woken::Closed;
    };
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t)); // too far: none
    mailbox
        .wait_until(deadline, |s| {
            if s.interrupted {
                Some(Woken::Interrupted)
            } else if let Some(message) = s.queue.pop_front() {
                s.bytes -= message.size();
                Some(Woken::Message(message))
            } else if s.closed {
                Some(Woken::Closed)
            } else {
                None
            }
        })
        .unwrap_or(Woken::TimedOut)
}

/// Sleeps `duration` unless task `task` is interrupted first (then returns false). Blocks: call
/// it detached from Python. A task whose mailbox is closed is over: no sleep for it.
pub fn sleep(task: &str, duration: Duration) -> bool {
    let deadline = Instant::now().checked_add(duration); // too far: until interrupted
    let Some(mailbox) = find(task) else {
        return false;
    };
    mailbox
        .wait_until(deadline, |s| s.interrupted.then_some(()))
        .is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_order_once() {
        open("t1").unwrap();
        post("t1", Message::Text("a".into())).unwrap();
        post("t1", Message::Bytes(vec![1, 2])).unwrap();
        assert_eq!(recv("t1", None), Woken::Message(Message::Text("a".into())));
        assert_eq!(recv("t1", None), Woken::Message(Message::Bytes(vec![1, 2])));
        assert_eq!(recv("t1", Some(Duration::from_millis(5))), Woken::TimedOut);
        close("t1");
        assert!(matches!(
            post("t1", Message::Json("1".into())),
            Err(Error::TaskEnded(_))
        ));
        assert_eq!(recv("t1", None), Woken::Closed);
    }

    #[test]
    fn an_interrupt_ends_every_wait() {
        open("t2").unwrap();
        let waiter = std::thread::spawn(|| recv("t2", None));
        std::thread::sleep(Duration::from_millis(20));
        interrupt("t2");
        assert_eq!(waiter.join().unwrap(), Woken::Interrupted);
        assert!(!sleep("t2", Duration::from_secs(10)));
        close("t2");
        assert!(!sleep("t2", Duration::from_secs(10)));
    }
}
