//! A router's NAT rules: SNAT out of one of its interfaces, DNAT of one
//! TCP/UDP port to an address.

use super::parse::{parse_addr, parse_prefix, show};
use super::Validator;
use crate::spec::{DnatSpec, RouterSpec};
use crate::topology::*;

impl Validator<'_> {
    /// The NAT rules of router `rt` at `gp`.
    pub(super) fn router_nat(&mut self, gp: &str, rt: &RouterSpec) -> RouterNat {
        let iface_names: Vec<&str> = rt.interfaces.iter().map(|i| i.name.as_str()).collect();
        let find_iface = |name: &str| iface_names.iter().position(|n| *n == name);
        let mut nat = RouterNat::default();
        for (s, sn) in rt.snat.iter().enumerate() {
            let source = parse_prefix(&sn.source)
                .map_err(|e| self.err(format!("{gp}.snat[{s}].source"), e))
                .ok();
            let out = find_iface(&sn.out);
            if out.is_none() {
                self.err(
                    format!("{gp}.snat[{s}].out"),
                    format!(
                        "router {} has no interface {} (it has: {})",
                        show(&rt.name),
                        show(&sn.out),
                        iface_names.join(", ")
                    ),
                );
            }
            if let (Some(source), Some(out)) = (source, out) {
                nat.snat.push(Snat { source, out });
            }
        }
        for (d, dn) in rt.dnat.iter().enumerate() {
            if let Some(dnat) = self.dnat(&format!("{gp}.dnat[{d}]"), rt, dn, &iface_names) {
                nat.dnat.push(dnat);
            }
        }
        nat
    }

    /// DNAT rule `dn` at `dp` of router `rt`.
    fn dnat(
        &mut self,
        dp: &str,
        rt: &RouterSpec,
        dn: &DnatSpec,
        iface_names: &[&str],
    ) -> Option<Dnat> {
        let in_iface = iface_names.iter().position(|n| *n == dn.in_);
        if in_iface.is_none() {
            self.err(
                format!("{dp}.in"),
                format!(
                    "router {} has no interface {} (it has: {})",
                    show(&rt.name),
                    show(&dn.in_),
                    iface_names.join(", ")
                ),
            );
        }
        let proto = match dn.proto.as_str() {
            "tcp" => Some(L4Proto::Tcp),
            "udp" => Some(L4Proto::Udp),
            other => {
                self.err(
                    format!("{dp}.proto"),
                    format!(
                        "{} is not a protocol netloom forwards: use tcp or udp",
                        show(other)
                    ),
                );
                None
            }
        };
        let mut port_of = |field: &str, p: i64| {
            if (1..=65535).contains(&p) {
                Some(p as u16)
            } else {
                self.err(
                    format!("{dp}.{field}"),
                    format!("port {p} is outside 1..65535"),
                );
                None
            }
        };
        let port = port_of("port", dn.port);
        let to_port = port_of("to_port", dn.to_port);
        let to = parse_addr(&dn.to)
            .map_err(|e| self.err(format!("{dp}.to"), e))
            .ok();
        if let (Some(in_iface), Some(proto), Some(port), Some(to), Some(to_port)) =
            (in_iface, proto, port, to, to_port)
        {
            return Some(Dnat {
                in_iface,
                proto,
                port,
                to,
                to_port,
            });
        }
        None
    }
}
