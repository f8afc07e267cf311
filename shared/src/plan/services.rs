//! The daemons' configuration: a router's nftables ruleset, dnsmasq's
//! arguments and its reservation files.

use crate::topology::{GuestKind, Topology};

/// The nftables ruleset (JSON) of a router, or `None` when it has no NAT.
pub fn nft_ruleset(topo: &Topology, guest: usize) -> Option<String> {
    use serde_json::json;
    let g = &topo.guests[guest];
    let GuestKind::Router(nat) = &g.kind else {
        return None;
    };
    if nat.snat.is_empty() && nat.dnat.is_empty() {
        return None;
    }
    let table = json!({"family": "ip", "name": "netloom"});
    let chain = |name: &str, hook: &str, prio: i32| {
        json!({"add": {"chain": {"family": "ip", "table": "netloom", "name": name,
            "type": "nat", "hook": hook, "prio": prio, "policy": "accept"}}})
    };
    let rule = |chain: &str, expr: serde_json::Value| json!({"add": {"rule": {"family": "ip", "table": "netloom", "chain": chain, "expr": expr}}});
    let mut cmds = vec![
        json!({"add": {"table": table}}),
        // Replacing the table as a whole keeps a re-apply idempotent.
        json!({"delete": {"table": table}}),
        json!({"add": {"table": table}}),
        chain("prerouting", "prerouting", -100),
        chain("postrouting", "postrouting", 100),
    ];
    for s in &nat.snat {
        cmds.push(rule(
            "postrouting",
            json!([
                {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": g.ifaces[s.out].name}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                    "right": {"prefix": {"addr": s.source.network().to_string(), "len": s.source.prefix_len()}}}},
                {"masquerade": null}
            ]),
        ));
    }
    for d in &nat.dnat {
        cmds.push(rule(
            "prerouting",
            json!([
                {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": g.ifaces[d.in_iface].name}},
                {"match": {"op": "==", "left": {"payload": {"protocol": d.proto.to_string(), "field": "dport"}}, "right": d.port}},
                {"dnat": {"addr": d.to.to_string(), "port": d.to_port}}
            ]),
        ));
    }
    Some(json!({"nftables": cmds}).to_string())
}

/// The directory of a DHCP server's reservations (dnsmasq `--dhcp-hostsdir`,
/// which it watches: a new file is read at once, without a restart).
pub fn dhcp_hosts_dir(dir: &str, name: &str) -> String {
    format!("{dir}/{name}.hosts")
}

/// The reservations directory among a dnsmasq's options.
pub fn dnsmasq_hosts_dir(args: &[String]) -> Option<&str> {
    args.iter().find_map(|a| a.strip_prefix("--dhcp-hostsdir="))
}

/// The pidfile of the dnsmasq a reservation file belongs to.
pub fn dhcp_host_pidfile(path: &str) -> Option<String> {
    let (dir, _) = path.rsplit_once('/')?;
    let server = dir.strip_suffix(".hosts")?;
    // Only a DHCP server's directory (`dhcp-NAME.hosts`), never another daemon's.
    let (_, name) = server.rsplit_once('/')?;
    name.starts_with("dhcp-").then(|| format!("{server}.pid"))
}

/// dnsmasq options of a DHCP server (files under `dir`, named after `name`).
pub fn dnsmasq_args(topo: &Topology, guest: usize, dir: &str, name: &str) -> Vec<String> {
    let g = &topo.guests[guest];
    let GuestKind::Dhcp(d) = &g.kind else {
        return Vec::new();
    };
    let iface = &g.ifaces[0];
    let mask = iface
        .addr
        .static_net()
        .map(|n| n.netmask().to_string())
        .unwrap_or_default();
    vec![
        "--conf-file=/dev/null".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        // DHCP only: no DNS service.
        "--port=0".into(),
        format!("--interface={}", iface.name),
        "--bind-interfaces".into(),
        format!("--dhcp-range={},{},{mask},infinite", d.range.0, d.range.1),
        // The spec's lowest-free-address rule, and no 3 s probe on a segment netloom owns.
        "--dhcp-sequential-ip".into(),
        "--no-ping".into(),
        "--dhcp-authoritative".into(),
        match d.gateway {
            Some(gw) => format!("--dhcp-option=3,{gw}"),
            // Without this dnsmasq would offer itself as the router.
            None => "--dhcp-option=3".into(),
        },
        "--user=root".into(),
        format!("--dhcp-hostsdir={}", dhcp_hosts_dir(dir, name)),
        format!("--dhcp-leasefile={dir}/{name}.leases"),
        format!("--pid-file={dir}/{name}.pid"),
        format!("--log-facility={dir}/{name}.log"),
        "--log-dhcp".into(),
    ]
}
