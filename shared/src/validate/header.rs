//! The file's header and its externals: version, name, underlay, the
//! names of externals and hosts, each external's gateway.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::parse::{parse_cidr, parse_prefix};
use super::{AddrUse, Validator, DEFAULT_UNDERLAY};
use crate::names;
use crate::topology::*;

impl Validator<'_> {
    pub(super) fn check_header(&mut self) {
        let spec = self.spec;
        if spec.version != 1 {
            self.err(
                "version",
                format!(
                    "version {} is not supported: this is version 1 of the format",
                    spec.version
                ),
            );
        }
        self.check_name("name".into(), "topology", &spec.name);
    }

    /// The underlay network, the default when the file names none.
    pub(super) fn underlay(&mut self) -> Option<Ipv4Net> {
        let spec = self.spec;
        match &spec.underlay {
            None => DEFAULT_UNDERLAY.parse::<Ipv4Net>().ok(),
            Some(u) => {
                match parse_prefix(u) {
                    Ok(n) if n.prefix_len() <= 30 => Some(n),
                    Ok(n) => {
                        self.err("underlay", format!("{n} is too small for a tunnel network: use a prefix of /30 or shorter"));
                        None
                    }
                    Err(e) => {
                        self.err("underlay", e);
                        None
                    }
                }
            }
        }
    }

    /// Names of externals and hosts: well formed and unique.
    pub(super) fn check_names(&mut self) {
        let spec = self.spec;
        // Names and uniqueness.
        for (i, e) in spec.externals.iter().enumerate() {
            self.check_name(format!("externals[{i}].name"), "external network", &e.name);
        }
        self.check_unique(
            "external network",
            spec.externals
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("externals[{i}]"), e.name.as_str())),
        );
        for (h, host) in spec.hosts.iter().enumerate() {
            self.check_name(format!("hosts[{h}].name"), "host", &host.name);
        }
        self.check_unique(
            "host",
            spec.hosts
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("hosts[{i}]"), x.name.as_str())),
        );
    }

    /// The external networks; each gateway's address goes to `addr_uses`.
    pub(super) fn externals(&mut self, addr_uses: &mut Vec<AddrUse>) -> Vec<External> {
        let spec = self.spec;
        let mut externals: Vec<External> = Vec::new();
        for (i, e) in spec.externals.iter().enumerate() {
            let path = format!("externals[{i}].gateway");
            match parse_cidr(&e.gateway) {
                Ok(gw) => {
                    if gw.prefix_len() > 30 {
                        self.err(&path, format!("{gw}: the segment needs room for the topology's own addresses, use /30 or shorter"));
                    } else if gw.addr() == gw.network() || gw.addr() == gw.broadcast() {
                        self.err(&path, format!("{gw} is not a host address of its subnet {}: the upstream router needs one, like {}/{}", gw.trunc(), Ipv4Addr::from(u32::from(gw.network()) + 1), gw.prefix_len()));
                    }
                    addr_uses.push(AddrUse {
                        addr: gw.addr(),
                        path: path.clone(),
                    });
                    externals.push(External {
                        name: e.name.clone(),
                        gateway: gw,
                        mac: Mac([0; 6]),
                        netns: names::external_netns(&spec.name, &e.name),
                        path: format!("externals[{i}]"),
                    });
                }
                Err(msg) => self.err(path, msg),
            }
        }
        externals
    }
}
