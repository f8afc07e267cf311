//! A small OVSDB client (RFC 7047 JSON-RPC over a unix socket): `transact`
//! and the replies to the server's `echo`. One transaction carries every
//! bridge/port change of a host and bumps `next_cfg`; [`Ovsdb::wait_applied`]
//! then waits until ovs-vswitchd reports the same `cur_cfg`.

use std::io::{self, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const DB: &str = "Open_vSwitch";

/// Errors of the OVSDB layer.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbError {
    #[error("OVSDB socket {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("OVSDB protocol: {0}")]
    Protocol(String),
    #[error("OVSDB transaction failed: {0}")]
    Failed(String),
    #[error("ovs-vswitchd did not apply configuration {want} within {secs} s (at {cur})")]
    Timeout { want: i64, cur: i64, secs: u64 },
}

/// A connection to one ovsdb-server.
pub struct Ovsdb {
    path: String,
    writer: UnixStream,
    reader: serde_json::StreamDeserializer<
        'static,
        serde_json::de::IoRead<BufReader<UnixStream>>,
        Value,
    >,
    next_id: u64,
}

impl Ovsdb {
    /// Connect to `unix:PATH`.
    pub fn connect(path: &str) -> Result<Ovsdb, OvsdbError> {
        let io = |source| OvsdbError::Io {
            path: path.to_string(),
            source,
        };
        let s = UnixStream::connect(path).map_err(io)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io)?;
        let r = s.try_clone().map_err(io)?;
        Ok(Ovsdb {
            path: path.to_string(),
            writer: s,
            reader: serde_json::Deserializer::from_reader(BufReader::new(r)).into_iter(),
            next_id: 1,
        })
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, OvsdbError> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"method": method, "params": params, "id": id});
        let path = self.path.clone();
        self.writer
            .write_all(msg.to_string().as_bytes())
            .map_err(|source| OvsdbError::Io {
                path: path.clone(),
                source,
            })?;
        loop {
            let v = match self.reader.next() {
                Some(Ok(v)) => v,
                Some(Err(e)) => return Err(OvsdbError::Protocol(e.to_string())),
                None => return Err(OvsdbError::Protocol("connection closed".into())),
            };
            if v.get("method").and_then(Value::as_str) == Some("echo") {
                let reply = json!({"result": v["params"], "error": null, "id": v["id"]});
                self.writer
                    .write_all(reply.to_string().as_bytes())
                    .map_err(|source| OvsdbError::Io {
                        path: path.clone(),
                        source,
                    })?;
                continue;
            }
            if v.get("id").and_then(Value::as_u64) != Some(id) {
                continue;
            }
            if !v["error"].is_null() {
                return Err(OvsdbError::Failed(v["error"].to_string()));
            }
            return Ok(v["result"].clone());
        }
    }

    /// `transact` on the Open_vSwitch database; fails when any operation failed.
    pub fn transact(&mut self, ops: Vec<Value>) -> Result<Vec<Value>, OvsdbError> {
        self.transact_on(DB, ops)
    }

    /// `transact` on database `db` (`OVN_Northbound`, ...); fails when any operation failed.
    pub fn transact_on(&mut self, db: &str, ops: Vec<Value>) -> Result<Vec<Value>, OvsdbError> {
        let mut params = vec![json!(db)];
        params.extend(ops);
        let res = self.call("transact", Value::Array(params))?;
        let arr = res
            .as_array()
            .cloned()
            .ok_or_else(|| OvsdbError::Protocol(res.to_string()))?;
        for r in &arr {
            if let Some(e) = r.get("error") {
                return Err(OvsdbError::Failed(format!(
                    "{}: {}",
                    e.as_str().unwrap_or("error"),
                    r.get("details").and_then(Value::as_str).unwrap_or_default()
                )));
            }
        }
        Ok(arr)
    }

    /// Rows of a table (`ovs-vsctl list TABLE`), selected columns, with `_uuid`.
    pub fn select(&mut self, table: &str, columns: &[&str]) -> Result<Vec<Value>, OvsdbError> {
        let mut cols: Vec<&str> = columns.to_vec();
        cols.push("_uuid");
        let r = self.transact(vec![
            json!({"op": "select", "table": table, "where": [], "columns": cols}),
        ])?;
        Ok(r[0]["rows"].as_array().cloned().unwrap_or_default())
    }

    /// Wait until ovs-vswitchd has applied every configuration asked of it so
    /// far (`cur_cfg >= next_cfg`).
    pub fn wait_all_applied(&mut self, timeout: Duration) -> Result<(), OvsdbError> {
        let rows = self.select("Open_vSwitch", &["next_cfg"])?;
        let want = rows
            .first()
            .and_then(|r| r["next_cfg"].as_i64())
            .unwrap_or(0);
        self.wait_applied(want, timeout)
    }

    /// Wait until ovs-vswitchd has applied configuration `want` (`cur_cfg >= want`).
    pub fn wait_applied(&mut self, want: i64, timeout: Duration) -> Result<(), OvsdbError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let rows = self.select("Open_vSwitch", &["cur_cfg"])?;
            let cur = rows
                .first()
                .and_then(|r| r["cur_cfg"].as_i64())
                .unwrap_or(0);
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
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// An OVSDB map value `["map", [[k, v], ...]]`.
pub fn map<K: ToString, V: ToString>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
    let v: Vec<Value> = pairs
        .into_iter()
        .map(|(k, v)| json!([k.to_string(), v.to_string()]))
        .collect();
    json!(["map", v])
}

/// Read an OVSDB map value into pairs.
pub fn read_map(v: &Value) -> Vec<(String, String)> {
    v.get(1)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some((
                        p.get(0)?.as_str()?.to_string(),
                        p.get(1)?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Read an OVSDB set of uuids (a bare `["uuid", u]` is a set of one).
pub fn read_uuids(v: &Value) -> Vec<String> {
    match v.get(0).and_then(Value::as_str) {
        Some("uuid") => v
            .get(1)
            .and_then(Value::as_str)
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
        Some("set") => v
            .get(1)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.get(1)?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Read an optional integer (an empty set is none).
pub fn read_opt_int(v: &Value) -> Option<i64> {
    v.as_i64()
}
