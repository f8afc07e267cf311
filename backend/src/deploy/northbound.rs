//! The OVN engine's northbound database (`engine: ovn`): the transaction a
//! plan carries is computed from the rows marked as the topology's
//! ([`netloom_core::ovn::nb`]), and run after the passes, once; the apply
//! then waits until every chassis has caught up (`nb_cfg` → `hv_cfg`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use netloom_core::ovn::nb::{self, DB};
use netloom_core::plan::{self, Northbound};
use netloom_core::{names, Topology};

use crate::host::ovsdb::{Ovsdb, OvsdbError};
use crate::host::{ApplyError, StepError};
use crate::report::{Event, Progress};

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

/// The transaction that makes the northbound database hold `topo`'s
/// logical network, if it does not yet. No central yet (its first apply):
/// everything is to insert.
pub fn plan(topo: &Topology) -> Result<Option<Northbound>, ApplyError> {
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
    Ok(plan::northbound(topo, &have))
}

/// Run the transaction on `topology`'s central, then wait until every
/// chassis it names has applied it.
pub fn run(topology: &str, txn: &Northbound, progress: Progress) -> Result<(), ApplyError> {
    let step = format!("northbound transaction ({} operations)", txn.ops.len());
    let start = Instant::now();
    // Each chassis computes flows for every port: on a busy 2-core
    // machine 20 chassis took longer than 30 s (docs/performance.md).
    let wait = Duration::from_secs(30 + 3 * txn.chassis.len() as u64);
    let sb = format!("{}/sb.sock", names::ovn_dir(topology));
    let result = Ovsdb::connect(&socket(topology))
        .and_then(|mut db| {
            db.transact_on(DB, txn.ops.clone())?;
            wait_for_chassis(&mut db, &mut Ovsdb::connect(&sb)?, &txn.chassis, wait)
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

/// How long the chassis may show no progress before `nb_cfg` is raised
/// again. Seen at 50 chassis on 2 cores: their first flow installation
/// timed out (`OFPBFC_TIMEOUT`), ovn-controller logged `req_cfg regressed
/// from 2 to 0` and never reported that `nb_cfg`; raised once more, all 50
/// reported the new one within a second.
const NUDGE: Duration = Duration::from_secs(20);

/// Wait until `hv_cfg` reaches `nb_cfg` with every chassis of `chassis`
/// counted: `hv_cfg` alone is the lowest of the chassis registered so far,
/// and a chassis that has not registered yet (its ovn-controller still
/// starting) would not hold it back. Every [`NUDGE`] without progress,
/// `nb_cfg` is raised once more (as `ovn-nbctl --wait=hv sync` does).
fn wait_for_chassis(
    nb: &mut Ovsdb,
    sb: &mut Ovsdb,
    chassis: &[String],
    timeout: Duration,
) -> Result<(), OvsdbError> {
    let start = Instant::now();
    let global = json!({"op": "select", "table": "NB_Global", "where": [],
        "columns": ["nb_cfg", "hv_cfg"]});
    let private = json!({"op": "select", "table": "Chassis_Private", "where": [],
        "columns": ["name", "nb_cfg"]});
    let bump = json!({"op": "mutate", "table": "NB_Global", "where": [],
        "mutations": [["nb_cfg", "+=", 1]]});
    let (mut last, mut since) = (-1, Instant::now());
    loop {
        let r = nb.transact_on(DB, vec![global.clone()])?;
        let row = &r[0]["rows"][0];
        let (want, hv) = (
            row["nb_cfg"].as_i64().unwrap_or(0),
            row["hv_cfg"].as_i64().unwrap_or(0),
        );
        let r = sb.transact_on("OVN_Southbound", vec![private.clone()])?;
        let rows = r[0]["rows"].as_array().cloned().unwrap_or_default();
        let done = |name: &String| {
            rows.iter()
                .any(|c| c["name"] == name.as_str() && c["nb_cfg"].as_i64() >= Some(want))
        };
        let cur = if chassis.iter().all(done) {
            hv
        } else {
            hv.min(want - 1)
        };
        if cur >= want {
            return Ok(());
        }
        if cur != last {
            (last, since) = (cur, Instant::now());
        } else if since.elapsed() > NUDGE {
            nb.transact_on(DB, vec![bump.clone()])?;
            since = Instant::now();
        }
        if start.elapsed() > timeout {
            return Err(OvsdbError::Chassis {
                want,
                cur,
                secs: timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
