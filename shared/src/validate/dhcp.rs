//! A DHCP server's range (inside its subnet, apart from its own address)
//! and router option.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::parse::parse_addr;
use super::Validator;
use crate::spec::DhcpSpec;
use crate::topology::DhcpServer;

impl Validator<'_> {
    /// The server `dh` at `gp` on subnet `net`; its range, when sound, goes
    /// to `dhcp_ranges` for the checks across the file.
    pub(super) fn dhcp_server(
        &mut self,
        gp: &str,
        dh: &DhcpSpec,
        net: Option<Ipv4Net>,
        dhcp_ranges: &mut Vec<(Ipv4Addr, Ipv4Addr, String)>,
    ) -> Option<DhcpServer> {
        if dh.range.len() != 2 {
            self.err(
                format!("{gp}.range"),
                format!(
                    "a range is two addresses [first, last], not {}",
                    dh.range.len()
                ),
            );
        }
        let parsed: Vec<Option<Ipv4Addr>> = dh
            .range
            .iter()
            .take(2)
            .enumerate()
            .map(|(i, s)| {
                parse_addr(s)
                    .map_err(|e| self.err(format!("{gp}.range[{i}]"), e))
                    .ok()
            })
            .collect();
        let mut range = None;
        if let [Some(a), Some(b)] = parsed[..] {
            if a > b {
                self.err(
                    format!("{gp}.range"),
                    format!("the range starts at {a}, after its end {b}: write [first, last]"),
                );
            } else if let Some(n) = net {
                let inside = |x: Ipv4Addr| n.contains(&x) && x != n.network() && x != n.broadcast();
                let mut ok = true;
                for (i, x) in [(0, a), (1, b)] {
                    if !inside(x) {
                        ok = false;
                        self.err(
                            format!("{gp}.range[{i}]"),
                            format!(
                                "{x} is not a host address of the server's subnet {}",
                                n.trunc()
                            ),
                        );
                    }
                }
                if (a..=b).contains(&n.addr()) {
                    ok = false;
                    self.err(format!("{gp}.range"), format!("the range {a}..{b} includes the server's own address {}: leave it out of the range", n.addr()));
                }
                // A range already reported would only repeat itself in the checks against other addresses.
                if ok {
                    dhcp_ranges.push((a, b, format!("{gp}.range")));
                }
            }
            range = Some((a, b));
        }
        let gateway = dh.gateway.as_deref().and_then(|s| match parse_addr(s) {
            Ok(a) => {
                if let Some(n) = net {
                    if !n.contains(&a) {
                        self.err(
                            format!("{gp}.gateway"),
                            format!("{a} is not in the server's subnet {}", n.trunc()),
                        );
                    }
                }
                Some(a)
            }
            Err(e) => {
                self.err(format!("{gp}.gateway"), e);
                None
            }
        });
        range.map(|range| DhcpServer { range, gateway })
    }
}
