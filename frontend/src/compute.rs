//! The page's side of the web worker (`src/bin/netloom-worker.rs`): three
//! workers, one for traces, one for reachability matrices and one for fix
//! suggestions, so a click on Simulate never waits behind a million-pair
//! matrix or a search for fixes. Requests wait until
//! their worker says it listens; a worker that fails answers what it held
//! with the error and is started afresh on the next request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use netloom_frontend::work::{decode, Answer, Job, Request, READY, WORKER_SCRIPT};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

type Done = Box<dyn FnOnce(Answer)>;

#[derive(Default)]
struct State {
    worker: Option<web_sys::Worker>,
    ready: bool,
    /// Requests (JSON) waiting for the worker to listen.
    queue: Vec<String>,
    pending: HashMap<u32, Done>,
    next: u32,
}

/// One worker and what it owes.
#[derive(Clone, Default)]
pub struct Client(Rc<RefCell<State>>);

thread_local! {
    static TRACES: Client = Client::default();
    static REACHES: Client = Client::default();
    static FIXES: Client = Client::default();
}

/// The worker for single probes.
pub fn traces() -> Client {
    TRACES.with(Client::clone)
}

/// The worker for whole matrices.
pub fn reaches() -> Client {
    REACHES.with(Client::clone)
}

/// The worker for fix suggestions.
pub fn fixes() -> Client {
    FIXES.with(Client::clone)
}

/// Start the workers now (if not yet), so the first click finds them loaded.
pub fn start() {
    traces().ensure();
    reaches().ensure();
    fixes().ensure();
}

impl Client {
    /// Run `job` on the design `text`; `done` gets the answer.
    pub fn send(&self, text: String, job: Job, done: impl FnOnce(Answer) + 'static) {
        self.ensure();
        let mut st = self.0.borrow_mut();
        let id = st.next;
        st.next = st.next.wrapping_add(1);
        st.pending.insert(id, Box::new(done));
        let req = serde_json::to_string(&Request { id, text, job }).unwrap_or_default();
        match (&st.worker, st.ready) {
            (Some(w), true) => {
                let _ = w.post_message(&JsValue::from_str(&req));
            }
            _ => st.queue.push(req),
        }
    }

    fn ensure(&self) {
        if self.0.borrow().worker.is_some() {
            return;
        }
        let worker = match web_sys::Worker::new(WORKER_SCRIPT) {
            Ok(w) => w,
            Err(e) => return self.fail(&format!("cannot start the worker: {e:?}")),
        };
        let me = self.clone();
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |m: web_sys::MessageEvent| {
                me.receive(m.data())
            });
        let me = self.clone();
        // An `ErrorEvent` for an uncaught error in the worker, a plain event when its script did not load.
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let why = js_sys::Reflect::get(&e, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "its script did not load".into());
            me.fail(&format!("the simulation worker stopped: {why}"))
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // The handlers live as long as the worker; a failed worker is replaced, not reused.
        on_message.forget();
        on_error.forget();
        let mut st = self.0.borrow_mut();
        st.worker = Some(worker);
        st.ready = false;
    }

    fn receive(&self, data: JsValue) {
        if data.as_string().as_deref() == Some(READY) {
            let mut st = self.0.borrow_mut();
            st.ready = true;
            let queue = std::mem::take(&mut st.queue);
            if let Some(w) = &st.worker {
                for req in queue {
                    let _ = w.post_message(&JsValue::from_str(&req));
                }
            }
            return;
        }
        let Some((id, answer)) = decode(&data) else {
            return;
        };
        // Taken out first: the callback may send the next request.
        let done = self.0.borrow_mut().pending.remove(&id);
        if let Some(done) = done {
            done(answer);
        }
    }

    /// Answer everything owed with `why` and drop the worker.
    fn fail(&self, why: &str) {
        let pending = {
            let mut st = self.0.borrow_mut();
            if let Some(w) = st.worker.take() {
                w.terminate();
            }
            st.ready = false;
            st.queue.clear();
            std::mem::take(&mut st.pending)
        };
        for (_, done) in pending {
            done(Answer::Failed(why.to_string()));
        }
    }
}
