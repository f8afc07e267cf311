//! Values as written: addresses and prefixes, with messages that quote them.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

pub(super) fn show(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}...")
    } else {
        format!("{s:?}")
    }
}

/// Parse `a.b.c.d/n` as an interface address (host bits allowed).
pub(super) fn parse_cidr(s: &str) -> Result<Ipv4Net, String> {
    if !s.contains('/') {
        return Err(format!(
            "{} has no prefix length: write an address with its subnet, like 10.0.0.1/24",
            show(s)
        ));
    }
    s.parse::<Ipv4Net>().map_err(|_| match s.split_once('/') {
        Some((a, _)) if a.parse::<Ipv4Addr>().is_ok() => {
            format!(
                "{}: the prefix length must be a number in 0..32, like 10.0.0.1/24",
                show(s)
            )
        }
        _ => format!(
            "{} is not an IPv4 address with prefix, like 10.0.0.1/24",
            show(s)
        ),
    })
}

pub(super) fn parse_addr(s: &str) -> Result<Ipv4Addr, String> {
    s.parse::<Ipv4Addr>()
        .map_err(|_| format!("{} is not an IPv4 address, like 10.0.0.254", show(s)))
}

pub(super) fn parse_prefix(s: &str) -> Result<Ipv4Net, String> {
    let net = parse_cidr(s)?;
    if net.network() != net.addr() {
        return Err(format!(
            "{} has host bits set: the network is {}",
            show(s),
            net.trunc()
        ));
    }
    Ok(net)
}
