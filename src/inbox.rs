//! Messages from Python threads to a JS thread: completions of async jobs and calls of JS
//! callbacks. One queue and one ThreadsafeFunction per JS environment, so thousands of messages
//! arriving together cost one wake-up.
//!
//! Thread rules: other threads only push to the queue (waking the JS thread when it was
//! empty); everything else — counting calls in flight, ref/unref of the ThreadsafeFunction so
//! an idle instance does not keep Node alive, building JS values — happens on the JS thread.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use napi::sys;

use crate::api::throw;
use crate::callback;
use crate::convert::{JsValues, ValueForJs};
use crate::error::{Error, Result};
use crate::handle::OwnerId;
use crate::js::{hooks, JsEnv};
use crate::python::attach;

/// A finished job: the JS-side call id, whose proxies the result makes, and the result.
pub struct Completion {
    pub call: u32,
    pub owner: Option<OwnerId>,
    pub result: Result<ValueForJs>,
}

pub enum Message {
    Completion(Completion),
    Callback(callback::Request),
    /// A JS callback's Python callable died: drop the reference to the JS function.
    Forget(u32),
}

struct Shared {
    queue: Mutex<Vec<Message>>,
    tsfn: AtomicPtr<sys::napi_threadsafe_function__>,
    /// Set (under the queue lock) once the function is released or finalized: no more calls.
    closed: AtomicBool,
    /// How many `wait`s are blocking the JS thread; senders then also ring `wake`.
    waiting: AtomicUsize,
    wake: (Sender<()>, Receiver<()>),
}

// SAFETY: the ThreadsafeFunction handle may be called from any thread (that is its purpose);
// `closed`, set under the queue lock, stops calls once the environment released it.
unsafe impl Send for Shared {}
// SAFETY: as above; the queue is behind a mutex.
unsafe impl Sync for Shared {}

/// Where other threads send messages for one JS environment. Cheap to clone.
#[derive(Clone)]
pub struct Outbox(Arc<Shared>);

impl Outbox {
    /// True once its environment ended (or is ending).
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    /// Queues a message, waking the JS thread if it was not already going to drain. Returns
    /// false (dropping the message) if the environment is gone.
    pub fn send(&self, message: Message) -> bool {
        let shared = &self.0;
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        if shared.closed.load(Ordering::Acquire) {
            return false; // a dropped result leaks its references rather than touch Python here
        }
        let wake = queue.is_empty();
        queue.push(message);
        if shared.waiting.load(Ordering::Acquire) > 0 {
            let _ = shared.wake.0.try_send(());
        }
        if wake {
            // SAFETY: the function is released or finalized only after `closed` is set under
            // this lock.
            unsafe {
                sys::napi_call_threadsafe_function(
                    shared.tsfn(),
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                )
            };
        }
        true
    }
}

impl Shared {
    fn tsfn(&self) -> sys::napi_threadsafe_function {
        self.tsfn.load(Ordering::Acquire)
    }

    /// Marks the function unusable and drops undelivered messages (unlocked: a dropped callback
    /// sends `Forget`, which takes the lock), so Python threads waiting for a callback's reply get
    /// an error instead of waiting forever. Returns whether it was open until now.
    fn shut(&self) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let was_open = !self.closed.swap(true, Ordering::AcqRel);
        let undelivered = std::mem::take(&mut *queue);
        drop(queue);
        drop(undelivered);
        was_open
    }
}

struct Local {
    shared: Arc<Shared>,
    in_flight: usize,
    /// Calls in flight that no longer keep Node alive (`unref_call`).
    unref: std::collections::HashSet<u32>,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// This JS environment's outbox, created on first use.
pub fn outbox(js: JsEnv) -> Result<Outbox> {
    LOCAL.with(|l| {
        let mut local = l.borrow_mut();
        if local.is_none() {
            *local = Some(Local {
                shared: create(js)?,
                in_flight: 0,
                unref: Default::default(),
            });
        }
        Ok(Outbox(local.as_ref().expect("just created").shared.clone()))
    })
}

/// Counts one more call in flight (keeping Node alive) and returns where it completes.
pub fn start_call(js: JsEnv) -> Result<Outbox> {
    let outbox = outbox(js)?;
    LOCAL.with(|l| {
        let mut local = l.borrow_mut();
        let local = local.as_mut().expect("created by outbox()");
        if local.in_flight == 0 {
            // SAFETY: this env's function, on its JS thread.
            unsafe { sys::napi_ref_threadsafe_function(js.0, local.shared.tsfn()) };
        }
        local.in_flight += 1;
    });
    Ok(outbox)
}

/// Call `call` (in flight) no longer keeps Node alive: a task given up while its interpreter
/// is stuck in a blocking call, which may never complete.
pub fn unref_call(js: JsEnv, call: u32) {
    let fresh = LOCAL.with(|l| {
        l.borrow_mut()
            .as_mut()
            .is_some_and(|l| l.unref.insert(call))
    });
    if fresh {
        finish_calls(js, 1);
    }
}

/// Undoes `start_call` for a call that could not be submitted.
pub fn abandon_call(js: JsEnv) {
    finish_calls(js, 1);
}

fn finish_calls(js: JsEnv, count: usize) {
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut() {
            let before = local.in_flight;
            local.in_flight -= count.min(local.in_flight);
            if before > 0 && local.in_flight == 0 {
                // SAFETY: this env's function, on its JS thread.
                unsafe { sys::napi_unref_threadsafe_function(js.0, local.shared.tsfn()) };
            }
        }
    });
}

fn create(js: JsEnv) -> Result<Arc<Shared>> {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Vec::new()),
        tsfn: AtomicPtr::new(ptr::null_mut()),
        closed: AtomicBool::new(false),
        waiting: AtomicUsize::new(0),
        wake: crossbeam_channel::bounded(1),
    });
    let name = js.string("pyembed")?;
    let mut tsfn = ptr::null_mut();
    let finalize_data = Arc::into_raw(shared.clone()) as *mut c_void;
    // SAFETY: valid env and out-pointer; no JS function (the callback builds everything); the
    // finalizer gets one reference to `shared`, for when Node tears the function down itself.
    let status = unsafe {
        sys::napi_create_threadsafe_function(
            js.0,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            finalize_data,
            Some(finalized),
            ptr::null_mut(),
            Some(drain),
            &mut tsfn,
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: not handed over: the function was not created.
        drop(unsafe { Arc::from_raw(finalize_data as *const Shared) });
        return Err(Error::Internal(format!(
            "napi_create_threadsafe_function failed with status {status}"
        )));
    }
    shared.tsfn.store(tsfn, Ordering::Release);
    // SAFETY: just created on this thread; idle until a call is in flight.
    unsafe { sys::napi_unref_threadsafe_function(js.0, tsfn) };
    Ok(shared)
}

/// The function was destroyed (after `close`, or by Node's own environment teardown, which
/// may come first): no call may follow.
unsafe extern "C" fn finalized(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the reference `create` handed over, taken back once here.
    let shared = unsafe { Arc::from_raw(data as *const Shared) };
    shared.shut();
}

/// Environment teardown: later messages are dropped, the function is released (unless Node
/// already finalized it).
pub fn close() {
    let local = LOCAL.try_with(|l| l.borrow_mut().take()).ok().flatten();
    if let Some(local) = local {
        if local.shared.shut() {
            // SAFETY: still alive (not finalized, or `shut` would have returned false); no call
            // can follow now that it is closed.
            unsafe {
                sys::napi_release_threadsafe_function(
                    local.shared.tsfn(),
                    sys::ThreadsafeFunctionReleaseMode::abort,
                )
            };
        }
    }
}

/// How long `wait` spins before sleeping.
const SPIN: Duration = Duration::from_micros(50);

/// Blocks this JS thread until `reply` answers (`None`: its sender is gone), running the JS
/// callbacks that Python code calls meanwhile (a sync call into a context runs on the context's
/// thread, and its Python code may call JS). Detached from the main interpreter meanwhile.
pub fn wait<T: Send>(js: JsEnv, reply: &Receiver<T>) -> Result<Option<T>> {
    wait_until(js, reply, None)
}

/// Like `wait`, giving up at `deadline` (`None` then).
pub fn wait_until<T: Send>(
    js: JsEnv,
    reply: &Receiver<T>,
    deadline: Option<Instant>,
) -> Result<Option<T>> {
    let shared = outbox(js)?.0;
    shared.waiting.fetch_add(1, Ordering::AcqRel);
    let never = crossbeam_channel::never();
    let answer = attach::detached(|| loop {
        serve_callbacks(js, &shared);
        // Most calls answer within microseconds: spin a little before sleeping (a wake-up
        // costs more than the call).
        let spin = Instant::now() + SPIN;
        while Instant::now() < spin && reply.is_empty() && shared.wake.1.is_empty() {
            std::hint::spin_loop();
        }
        let timeout = match deadline {
            Some(deadline) => crossbeam_channel::at(deadline),
            None => never.clone(),
        };
        crossbeam_channel::select! {
            recv(reply) -> answer => break answer.ok(),
            recv(shared.wake.1) -> _ => {}
            recv(timeout) -> _ => break None,
        }
    });
    shared.waiting.fetch_sub(1, Ordering::AcqRel);
    Ok(answer)
}

/// Runs the queued callback messages now, leaving completions for the next drain.
fn serve_callbacks(js: JsEnv, shared: &Shared) {
    let calls = {
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        if !queue.iter().any(|m| !matches!(m, Message::Completion(_))) {
            return;
        }
        let (completions, calls) = std::mem::take(&mut *queue)
            .into_iter()
            .partition(|m| matches!(m, Message::Completion(_)));
        *queue = completions;
        calls
    };
    for message in calls {
        match message {
            Message::Callback(request) => js.scoped(|| callback::serve(js, request)),
            Message::Forget(id) => callback::forget(js, id),
            Message::Completion(_) => {}
        }
    }
}

/// The ThreadsafeFunction's callback, on the JS thread.
unsafe extern "C" fn drain(
    env: sys::napi_env,
    _js_cb: sys::napi_value,
    _context: *mut c_void,
    _data: *mut c_void,
) {
    if env.is_null() {
        return; // the environment is being torn down
    }
    // A panic must not unwind into Node: the batch is lost, the process keeps running.
    let _ = std::panic::catch_unwind(|| drain_queue(JsEnv(env)));
}

fn drain_queue(js: JsEnv) {
    let Some(shared) = LOCAL.with(|l| l.borrow().as_ref().map(|l| l.shared.clone())) else {
        return;
    };
    let messages = std::mem::take(&mut *shared.queue.lock().unwrap_or_else(|e| e.into_inner()));
    let mut completions = Vec::new();
    for message in messages {
        match message {
            Message::Completion(c) => completions.push(c),
            Message::Callback(request) => js.scoped(|| callback::serve(js, request)),
            Message::Forget(id) => callback::forget(js, id),
        }
    }
    if !completions.is_empty() {
        let counted = LOCAL.with(|l| match l.borrow_mut().as_mut() {
            Some(local) if !local.unref.is_empty() => completions
                .iter()
                .filter(|c| !local.unref.remove(&c.call))
                .count(),
            _ => completions.len(),
        });
        finish_calls(js, counted);
        js.scoped(|| settle(js, completions));
    }
}

/// Settles every completion with one call to the TS `settle` hook. A completion whose value
/// cannot be built rejects with that error; one whose error cannot be built either rejects with
/// `undefined` rather than be dropped: every call of the batch settles.
fn settle(js: JsEnv, completions: Vec<Completion>) {
    let count = completions.len();
    let arrays = (|| Ok::<_, Error>((js.array(count)?, js.array(count)?, js.array(count)?)))();
    let Ok((ids, oks, values)) = arrays else {
        return;
    };
    for (i, completion) in completions.into_iter().enumerate() {
        let i = i as u32;
        crate::api::call_settled(completion.call);
        let built = completion
            .result
            .and_then(|value| value.build_js_one(&mut JsValues::new(js, completion.owner)));
        let (ok, value) = match built {
            Ok(v) => (true, Ok(v)),
            // User code threw while the value was built (a patched `Map.prototype.set`): that
            // exception is the rejection.
            Err(Error::JsPending) => (false, js.take_exception()),
            Err(e) => (
                false,
                throw::error_value(js, &e).or_else(|_| js.undefined()),
            ),
        };
        let _ = (|| {
            js.set_element(ids, i, js.double(completion.call as f64)?)?;
            js.set_element(oks, i, js.boolean(ok)?)?;
            js.set_element(values, i, value?)
        })();
    }
    // Only fails if the hook threw, which then surfaces as an uncaught exception.
    let _ = (|| {
        let hook = hooks::get(js, |h| h.settle)?;
        js.call(hook, js.undefined()?, &[ids, oks, values])
    })();
}
