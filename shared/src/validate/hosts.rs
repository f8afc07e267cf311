//! A host's own values: its underlay address, its agent URL, its bridges' uplinks.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::parse::{parse_addr, show};
use super::Validator;
use crate::spec::{BridgeSpec, HostSpec};

impl Validator<'_> {
    /// Host `h`'s address on the underlay: as written, or the (h+1)-th of the network.
    pub(super) fn underlay_ip(
        &mut self,
        hp: &str,
        h: usize,
        host: &HostSpec,
        underlay: Option<Ipv4Net>,
    ) -> Option<Ipv4Addr> {
        match (&host.underlay_ip, underlay) {
            (Some(s), u) => match parse_addr(s) {
                Ok(a) => {
                    if let Some(u) = u {
                        if !u.contains(&a) || a == u.network() || a == u.broadcast() {
                            self.err(
                                format!("{hp}.underlay_ip"),
                                format!("{a} is not a host address of the underlay {u}"),
                            );
                        }
                    }
                    Some(a)
                }
                Err(e) => {
                    self.err(format!("{hp}.underlay_ip"), e);
                    None
                }
            },
            (None, Some(u)) => {
                let n = u32::from(u.network()).checked_add(h as u32 + 1);
                match n.map(Ipv4Addr::from) {
                    Some(a) if u.contains(&a) && a != u.broadcast() => Some(a),
                    _ => {
                        self.err(
                            format!("{hp}.underlay_ip"),
                            format!("the underlay {u} has no address left for host {}: give underlay_ip or a larger underlay", h + 1),
                        );
                        None
                    }
                }
            }
            (None, None) => None,
        }
    }

    /// A real host's agent URL: http(s) with no blanks or control
    /// characters, or `ssh://[USER@]HOST[:PORT]` ([`crate::ssh`]).
    pub(super) fn check_agent(&mut self, hp: &str, host: &HostSpec) {
        let Some(agent) = &host.agent else { return };
        if let Some(Err(why)) = crate::ssh::parse(agent) {
            self.err(
                format!("{hp}.agent"),
                format!("{} is not an ssh agent URL: {why}", show(agent)),
            );
            return;
        }
        let ok = agent.starts_with("ssh://")
            || (agent.starts_with("https://") || agent.starts_with("http://"))
                && agent.len() > "https://".len()
                && !agent.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            self.err(
                format!("{hp}.agent"),
                format!(
                    "{} is not an agent URL: write it like https://node1.example.net:7311 or ssh://root@node1.example.net",
                    show(agent)
                ),
            );
        }
    }

    /// The external network a bridge's uplink names, by index.
    pub(super) fn uplink(
        &mut self,
        bp: &str,
        br: &BridgeSpec,
        ext_index: &HashMap<&str, usize>,
    ) -> Option<usize> {
        let spec = self.spec;
        match &br.uplink {
            None => None,
            Some(u) => match ext_index.get(u.as_str()) {
                Some(&e) => Some(e),
                None => {
                    let known = if spec.externals.is_empty() {
                        "the file has no externals".to_string()
                    } else {
                        format!(
                            "known: {}",
                            spec.externals
                                .iter()
                                .map(|e| e.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    self.err(
                        format!("{bp}.uplink"),
                        format!("no external network named {} ({known})", show(u)),
                    );
                    None
                }
            },
        }
    }
}
