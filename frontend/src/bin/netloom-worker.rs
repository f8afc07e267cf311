//! The app's web worker: simulation and reach run here, off the page's main
//! thread, so a large design stays responsive while they run (see
//! `netloom_frontend::work` for the messages).

use netloom_frontend::work::{encode, Request, Worker, READY};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

fn main() {
    console_error_panic_hook::set_once();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let reply = scope.clone();
    let mut worker = Worker::default();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |m: MessageEvent| {
        let Some(req) = m
            .data()
            .as_string()
            .and_then(|t| serde_json::from_str::<Request>(&t).ok())
        else {
            return;
        };
        let id = req.id;
        let (msg, transfer) = encode(id, worker.run(req));
        let _ = reply.post_message_with_transfer(&msg, &transfer);
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    // Messages sent before a listener existed are lost: the app waits for this.
    let _ = scope.post_message(&JsValue::from_str(READY));
}
