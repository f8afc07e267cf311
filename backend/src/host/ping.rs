//! Pings on this machine: the agent's `ping` and `echo` requests and the
//! controller's own senders all come here.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use super::probe;

/// `ping -n -c 1 -W WAIT -s SIZE-28 -t TTL TO` from namespace `ns`: one IPv4
/// packet of `size` bytes (at least 28: its headers). Whether it was
/// answered is not said: a capture tells what happened to it.
pub fn ping_once(ns: &str, to: Ipv4Addr, size: u16, ttl: u8, wait: u32) -> Result<(), String> {
    let payload = size
        .checked_sub(28)
        .ok_or_else(|| format!("an echo request of {size} bytes: an IPv4 echo is at least 28"))?;
    let mut ping = Command::new("ping");
    ping.args(["-n", "-c", "1", "-W", &wait.to_string()])
        .args(["-s", &payload.to_string(), "-t", &ttl.to_string()])
        .arg(to.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut cmd = super::netns::command_in(ns, ping).map_err(|e| format!("{ns}: {e}"))?;
    cmd.status().map(drop).map_err(|e| format!("ping: {e}"))
}

/// Echo each (namespace, address) pair on this machine (an agent does this
/// for its real host), each sender's pairs in one batch, senders in
/// parallel: whether each got its echo reply, in order.
pub fn ping_all(pings: &[(String, Ipv4Addr)]) -> Vec<bool> {
    let mut by_sender: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (ns, _)) in pings.iter().enumerate() {
        by_sender.entry(ns.as_str()).or_default().push(i);
    }
    let mut oks = vec![false; pings.len()];
    let quiet = probe::Quiet::default();
    // Each sender's place taken before any starts (see `Quiet::prober`).
    let probers: Vec<_> = by_sender.iter().map(|s| (s, quiet.prober())).collect();
    let done: Vec<(usize, bool)> = std::thread::scope(|sc| {
        let hs: Vec<_> = probers
            .into_iter()
            .map(|((ns, idx), prober)| {
                sc.spawn(move || {
                    let dests: Vec<Ipv4Addr> = idx.iter().map(|&i| pings[i].1).collect();
                    let echoes = probe::echo_all(ns, &dests, prober, |_, _| {}).unwrap_or_default();
                    idx.iter()
                        .zip(
                            echoes
                                .into_iter()
                                .chain(std::iter::repeat(probe::Echo::Silent)),
                        )
                        .map(|(&i, e)| (i, matches!(e, probe::Echo::Reply(_))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (i, ok) in done {
        oks[i] = ok;
    }
    oks
}
