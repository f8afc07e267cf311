//! The OVN engine's northbound database (`engine: ovn`): the transaction a
//! plan carries is computed from the rows marked as the topology's
//! ([`netloom_core::ovn::nb`]), and run after the passes, once; the apply
//! then waits until every chassis has caught up (`nb_cfg` → `hv_cfg`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use netloom_core::ovn::{self, nb};
use netloom_core::{names, Topology};

use crate::host::ovsdb::{Ovsdb, OvsdbError};
use crate::host::{ApplyError, StepError};
use crate::report::{Event, Progress};

const DB: &str = "OVN_Northbound";

/// The topology's northbound socket (its own central, in the sandbox).
fn socket(topology: &str) -> String {
    format!("{}/nb.sock", names::ovn_dir(topology))
}

fn failed(step: &str, e: impl std::fmt::Display) -> ApplyError {
    ApplyError {
        target: String::new(),
        step: step.to_string(),
        source: StepError::Io(std::io::Error::other(e.to_string())),
    }
}

/// The operations that make the northbound database hold `topo`'s logical
/// network. No central yet (its first apply): everything is to insert.
pub fn ops(topo: &Topology) -> Result<Vec<Value>, ApplyError> {
    let want = nb::desired(&ovn::logical(topo));
    let have = match Ovsdb::connect(&socket(&topo.name)) {
        Ok(mut db) => {
            let step = "observe the northbound database";
            let res = db
                .transact_on(DB, nb::select_ops(&topo.name))
                .map_err(|e| failed(step, e))?;
            nb::observed(&Value::Array(res)).map_err(|e| failed(step, e))?
        }
        Err(_) => nb::Observed::default(),
    };
    Ok(nb::transaction(&topo.name, &want, &have))
}

/// Run the transaction `ops` on `topology`'s central, then wait for the
/// chassis to have applied it.
pub fn run(topology: &str, ops: &[Value], progress: Progress) -> Result<(), ApplyError> {
    let step = format!("northbound transaction ({} operations)", ops.len());
    let start = Instant::now();
    let wait = Duration::from_secs(30);
    let result = Ovsdb::connect(&socket(topology))
        .and_then(|mut db| {
            db.transact_on(DB, ops.to_vec())?;
            wait_for_chassis(&mut db, wait)
        })
        .map_err(|e| failed(&step, e));
    progress(&Event {
        target: String::new(),
        step,
        ok: result.is_ok(),
        error: result.as_ref().err().map(|e| e.source.to_string()),
        ms: start.elapsed().as_secs_f64() * 1000.0,
        note: None,
        warning: None,
        probe: None,
    });
    result
}

/// Wait until `hv_cfg` (the lowest configuration every chassis reports
/// applied) reaches `nb_cfg`.
fn wait_for_chassis(db: &mut Ovsdb, timeout: Duration) -> Result<(), OvsdbError> {
    let start = Instant::now();
    let select = json!({"op": "select", "table": "NB_Global", "where": [],
        "columns": ["nb_cfg", "hv_cfg"]});
    loop {
        let r = db.transact_on(DB, vec![select.clone()])?;
        let row = &r[0]["rows"][0];
        let (want, cur) = (
            row["nb_cfg"].as_i64().unwrap_or(0),
            row["hv_cfg"].as_i64().unwrap_or(0),
        );
        if cur >= want {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(OvsdbError::Timeout {
                want,
                cur,
                secs: timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
