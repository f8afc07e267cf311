//! Pings on this machine: the agent's `ping` request and the controller's
//! own senders both come here.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::probe;

/// Echo each (namespace, address) pair on this machine (an agent does this
/// for its real host), each sender's pairs in one batch, senders in
/// parallel: whether each got its echo reply, in order.
pub fn ping_all(pings: &[(String, Ipv4Addr)]) -> Vec<bool> {
    let mut by_sender: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (ns, _)) in pings.iter().enumerate() {
        by_sender.entry(ns.as_str()).or_default().push(i);
    }
    let mut oks = vec![false; pings.len()];
    let quiet = probe::Quiet::new(by_sender.len());
    let done: Vec<(usize, bool)> = std::thread::scope(|sc| {
        let hs: Vec<_> = by_sender
            .iter()
            .map(|(ns, idx)| {
                let quiet = &quiet;
                sc.spawn(move || {
                    let dests: Vec<Ipv4Addr> = idx.iter().map(|&i| pings[i].1).collect();
                    let echoes = probe::echo_all(ns, &dests, quiet, |_, _| {}).unwrap_or_default();
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
