//! What the app (`src/main.rs`) and its web worker (`src/bin/netloom-worker.rs`)
//! share: the editor's model of a design, and the work the worker does off the
//! main thread with the messages that carry it; and an example lab's own
//! description (`about`); what Status and Verify found of each link (`seen`).

pub mod about;
pub mod fixes;
pub mod grid;
pub mod model;
pub mod seen;
pub mod work;
