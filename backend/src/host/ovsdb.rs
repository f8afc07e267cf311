//! A small OVSDB client (RFC 7047 JSON-RPC over a unix socket, TCP or TLS):
//! `transact` and the replies to the server's `echo`. One transaction carries
//! every bridge/port change of a host and bumps `next_cfg`;
//! [`Ovsdb::wait_applied`] then waits until ovs-vswitchd reports the same
//! `cur_cfg`.

#[cfg(test)]
mod real_tests;
mod transport;

use std::io::{self, BufReader, Write};
use std::time::{Duration, Instant};

use netloom_core::ovn::{Remote, Tls};
use serde_json::{json, Value};

use transport::Stream;

pub const DB: &str = "Open_vSwitch";

/// Longest wait for one answer.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of the OVSDB layer.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbError {
    #[error("OVSDB socket {path}: {source}")]
    Io { path: String, source: io::Error },
    /// A `tcp:` or `ssl:` remote that could not be reached or refused us:
    /// `REMOTE: why` (one string: a step's error stays small).
    #[error("OVSDB {0}")]
    Remote(String),
    #[error("OVSDB protocol: {0}")]
    Protocol(String),
    #[error("OVSDB protocol: connection closed")]
    Closed,
    #[error("OVSDB transaction failed: {0}")]
    Failed(String),
    #[error("ovs-vswitchd did not apply configuration {want} within {secs} s (at {cur})")]
    Timeout { want: i64, cur: i64, secs: u64 },
    #[error(
        "the OVN chassis did not apply northbound configuration {want} within {secs} s (at {cur})"
    )]
    Chassis { want: i64, cur: i64, secs: u64 },
}

/// A connection to one ovsdb-server.
pub struct Ovsdb {
    /// The socket's path or the remote, for errors.
    path: String,
    /// Written through [`BufReader::get_mut`]: writing leaves the buffered
    /// input alone.
    io: BufReader<Stream>,
    next_id: u64,
}

impl Ovsdb {
    /// Connect to the unix socket at `path`.
    pub fn connect(path: &str) -> Result<Ovsdb, OvsdbError> {
        let s = Stream::unix(path, READ_TIMEOUT).map_err(|source| OvsdbError::Io {
            path: path.to_string(),
            source,
        })?;
        Ok(Ovsdb::over(path, s))
    }

    /// Connect to `tcp:IP:PORT` or `ssl:IP:PORT` (an OVN central's
    /// database); `ssl:` needs the files of `tls`, and the server's
    /// certificate must be signed by its CA (whatever name it bears, as OVS
    /// checks it). A network remote answers an `echo` before this returns, so
    /// a server that refuses our certificate is found here, not at the first
    /// transaction.
    pub fn connect_remote(net: &Remote, tls: Option<&Tls>) -> Result<Ovsdb, OvsdbError> {
        let remote = net.to_string();
        let failed = |why: String| OvsdbError::Remote(format!("{remote}: {why}"));
        let net = *net;
        let mut db = Ovsdb::over(&remote, Stream::net(net, tls).map_err(failed)?);
        match db.call("echo", json!([])) {
            Ok(_) => {}
            Err(OvsdbError::Io { source, .. }) => {
                return Err(failed(match tls {
                    Some(tls) if net.ssl => transport::tls_failure(&source, tls),
                    _ => source.to_string(),
                }))
            }
            Err(OvsdbError::Closed) => {
                let other = if net.ssl { "tcp" } else { "ssl" };
                return Err(failed(format!(
                    "the server closed the connection without answering (is it an {other}: remote?)"
                )));
            }
            Err(e) => return Err(failed(format!("no answer to an echo: {e}"))),
        }
        db.io
            .get_ref()
            .set_read_timeout(READ_TIMEOUT)
            .map_err(|source| OvsdbError::Io {
                path: remote.to_string(),
                source,
            })?;
        Ok(db)
    }

    fn over(path: &str, s: Stream) -> Ovsdb {
        Ovsdb {
            path: path.to_string(),
            io: BufReader::new(s),
            next_id: 1,
        }
    }

    fn send(&mut self, msg: &Value) -> Result<(), OvsdbError> {
        let s = self.io.get_mut();
        s.write_all(msg.to_string().as_bytes())
            .and_then(|()| s.flush())
            .map_err(|source| OvsdbError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// The next message. A deserializer per message, over the one buffered
    /// stream: a message is a JSON object, which its closing brace ends, so
    /// the deserializer reads nothing past it and dropping it loses nothing.
    fn receive(&mut self) -> Result<Value, OvsdbError> {
        let mut messages = serde_json::Deserializer::from_reader(&mut self.io).into_iter::<Value>();
        match messages.next() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) if e.is_io() => Err(OvsdbError::Io {
                path: self.path.clone(),
                source: e.into(),
            }),
            Some(Err(e)) => Err(OvsdbError::Protocol(e.to_string())),
            None => Err(OvsdbError::Closed),
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, OvsdbError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"method": method, "params": params, "id": id}))?;
        loop {
            let v = self.receive()?;
            if v.get("method").and_then(Value::as_str) == Some("echo") {
                self.send(&json!({"result": v["params"], "error": null, "id": v["id"]}))?;
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
