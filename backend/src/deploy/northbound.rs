//! The OVN engine's northbound database (`engine: ovn`): the transaction a
//! plan carries is computed from the rows marked as the topology's
//! ([`netloom_core::ovn::nb`]), and run after the passes, once; the apply
//! then waits until every chassis of the design has caught up (each one's
//! `Chassis_Private.nb_cfg`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use netloom_core::ovn::nb::{self, DB};
use netloom_core::ovn::Central;
use netloom_core::plan::{self, Northbound};
use netloom_core::{names, Topology};

use crate::host::ovsdb::{Ovsdb, OvsdbError};
use crate::host::ApplyError;
use crate::report::{Event, Progress};

/// The southbound database's schema, as transactions name it.
const SB: &str = "OVN_Southbound";

/// One of a central's two databases.
#[derive(Clone, Copy)]
enum Db {
    North,
    South,
}

/// A database of the topology's central: the existing one it names
/// (`ovn`, over `ssl:` or `tcp:`), or its own in the sandbox.
fn connect(topology: &str, central: Option<&Central>, db: Db) -> Result<Ovsdb, OvsdbError> {
    match (central, db) {
        (Some(c), Db::North) => Ovsdb::connect_remote(&c.northbound, c.tls.as_ref()),
        (Some(c), Db::South) => Ovsdb::connect_remote(&c.southbound, c.tls.as_ref()),
        (None, _) => {
            let file = match db {
                Db::North => "nb",
                Db::South => "sb",
            };
            Ovsdb::connect(&format!("{}/{file}.sock", names::ovn_dir(topology)))
        }
    }
}

/// The rows of `topology` in a central's northbound database. The
/// sandbox's own central may not be there yet (a first apply): nothing
/// then; an existing central must answer.
fn observe(topology: &str, central: Option<&Central>) -> Result<nb::Observed, ApplyError> {
    let step = "observe the northbound database";
    let mut db = match connect(topology, central, Db::North) {
        Ok(db) => db,
        Err(_) if central.is_none() => return Ok(nb::Observed::default()),
        Err(e) => return Err(failed(step, e)),
    };
    let res = db
        .transact_on(DB, nb::select_ops(topology))
        .map_err(|e| failed(step, e))?;
    nb::observed(&Value::Array(res)).map_err(|e| failed(step, e))
}

fn failed(step: &str, e: impl std::fmt::Display) -> ApplyError {
    ApplyError::other("", step, e)
}

/// The transaction that makes the northbound database hold `topo`'s
/// logical network, if it does not yet, once `hosts` (the plan's steps) ran.
/// No central yet (its first apply), or one `hosts` starts again (one of
/// its daemons died: it starts on new databases): everything is to insert.
pub fn plan(topo: &Topology, hosts: &plan::Plan) -> Result<Option<Northbound>, ApplyError> {
    let have = match hosts.starts_ovn_central() {
        true => nb::Observed::default(),
        false => observe(&topo.name, topo.ovn.as_ref())?,
    };
    Ok(plan::northbound(topo, &have))
}

/// Destroy's transaction: `topo`'s rows out of the existing central it
/// names (the sandbox's own goes whole).
pub fn removal(topo: &Topology) -> Result<Option<Northbound>, ApplyError> {
    if topo.ovn.is_none() {
        return Ok(None);
    }
    let have = observe(&topo.name, topo.ovn.as_ref())?;
    Ok(plan::northbound_removal(topo, &have))
}

/// Run the transaction on `topology`'s central, then wait until every
/// chassis it names has applied it.
pub fn run(topology: &str, txn: &Northbound, progress: Progress) -> Result<(), ApplyError> {
    let step = format!("northbound transaction ({} operations)", txn.ops.len());
    let start = Instant::now();
    // Each chassis computes flows for every port: on a busy 2-core
    // machine 20 chassis took longer than 30 s (docs/performance.md).
    let wait = Duration::from_secs(30 + 3 * txn.chassis.len() as u64);
    let central = txn.central.as_ref();
    let result = connect(topology, central, Db::North)
        .and_then(|mut db| {
            db.transact_on(DB, txn.ops.clone())?;
            if txn.chassis.is_empty() {
                return Ok(());
            }
            let mut sb = connect(topology, central, Db::South)?;
            wait_for_chassis(&mut db, &mut sb, &txn.chassis, wait)
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

/// Wait until every chassis of `chassis` reports (`Chassis_Private.nb_cfg`)
/// that it has applied the latest `nb_cfg`. Not `hv_cfg`: that is the lowest
/// of the chassis registered so far, so one still starting would not hold it
/// back, and on a shared central another's chassis would. Every [`NUDGE`]
/// without progress, `nb_cfg` is raised once more (as `ovn-nbctl --wait=hv
/// sync` does).
fn wait_for_chassis(
    nb: &mut Ovsdb,
    sb: &mut Ovsdb,
    chassis: &[String],
    timeout: Duration,
) -> Result<(), OvsdbError> {
    let start = Instant::now();
    let global = json!({"op": "select", "table": "NB_Global", "where": [],
        "columns": ["nb_cfg"]});
    let private = json!({"op": "select", "table": "Chassis_Private", "where": [],
        "columns": ["name", "nb_cfg"]});
    let bump = json!({"op": "mutate", "table": "NB_Global", "where": [],
        "mutations": [["nb_cfg", "+=", 1]]});
    let (mut last, mut since) = (Vec::new(), Instant::now());
    loop {
        let r = nb.transact_on(DB, vec![global.clone()])?;
        let want = r[0]["rows"][0]["nb_cfg"].as_i64().unwrap_or(0);
        let r = sb.transact_on(SB, vec![private.clone()])?;
        let rows = r[0]["rows"].as_array().cloned().unwrap_or_default();
        // What each chassis has applied (0: not registered yet).
        let applied: Vec<i64> = chassis
            .iter()
            .map(|name| {
                rows.iter()
                    .find(|c| c["name"] == name.as_str())
                    .and_then(|c| c["nb_cfg"].as_i64())
                    .unwrap_or(0)
            })
            .collect();
        let low = applied.iter().copied().min().unwrap_or(want);
        if low >= want {
            return Ok(());
        }
        if applied != last {
            (last, since) = (applied, Instant::now());
        } else if since.elapsed() > NUDGE {
            nb.transact_on(DB, vec![bump.clone()])?;
            since = Instant::now();
        }
        if start.elapsed() > timeout {
            return Err(OvsdbError::Chassis {
                want,
                cur: low,
                secs: timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
