//! Labs and helpers shared by the simulator tests and benchmarks.
#![allow(dead_code)] // each test binary uses a different part

use std::fmt::Write;

use netloom_core::sim::{simulate, Probe};
use netloom_core::trace::Trace;
use netloom_core::Topology;

pub fn example(name: &str) -> Topology {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lab(&text)
}

/// Every example lab: (file name, topology), sorted.
pub fn examples() -> Vec<(String, Topology)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| (n.clone(), example(&n)))
        .collect()
}

/// An example lab under the OVN engine: its file with `engine: ovn` added.
pub fn ovn_example(name: &str) -> Topology {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lab(&ovn_text(&text))
}

/// A lab's file with `engine: ovn` added (before its top-level `name`).
pub fn ovn_text(yaml: &str) -> String {
    assert!(yaml.contains("\nname: "), "no top-level name");
    yaml.replacen("\nname: ", "\nengine: ovn\nname: ", 1)
}

/// [`generated`] under the OVN engine, without its router's SNAT: a
/// gateway router with five interfaces cannot masquerade by one of them
/// only, and validation refuses it under ovn.
pub fn generated_ovn(hosts: usize, vms: usize) -> String {
    let yaml = generated(hosts, vms).replace(
        "        snat:\n          - {source: 10.0.0.0/8, out: qg0}\n",
        "",
    );
    assert!(!yaml.contains("snat"));
    ovn_text(&yaml)
}

/// Every example lab under the OVN engine: (file name, topology), sorted.
pub fn ovn_examples() -> Vec<(String, Topology)> {
    examples()
        .into_iter()
        .map(|(n, _)| (n.clone(), ovn_example(&n)))
        .collect()
}

/// A scenario lab of `tests/labs/`, by file stem.
pub fn test_lab(stem: &str) -> Topology {
    let path = format!("{}/tests/labs/{stem}.yaml", env!("CARGO_MANIFEST_DIR"));
    lab(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// Every scenario lab: (file stem, topology), sorted.
pub fn test_labs() -> Vec<(String, Topology)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/labs");
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".yaml")
                .to_string()
        })
        .collect();
    stems.sort();
    stems
        .into_iter()
        .map(|n| (n.clone(), test_lab(&n)))
        .collect()
}

pub fn lab(yaml: &str) -> Topology {
    match netloom_core::load(yaml) {
        Ok(c) => c.topology,
        Err(p) => panic!("{p:#?}"),
    }
}

pub fn trace(t: &Topology, from: &str, to: &str, proto: &str) -> Trace {
    let probe = Probe::parse(t, from, to, proto, None).unwrap_or_else(|e| panic!("{e}"));
    simulate(t, &probe)
}

pub fn sized(t: &Topology, from: &str, to: &str, size: u16) -> Trace {
    let probe = Probe::parse(t, from, to, "icmp", Some(size)).unwrap();
    simulate(t, &probe)
}

/// A generated lab: `hosts` hosts joined by a tree of tunnels (host i to host
/// (i-1)/2, GRE and VXLAN alternating), each with one bridge and `vms` vms:
/// VLANs 10..13 on /16 subnets, one untagged vm (10.99/16, no gateway) and
/// one DHCP client in VLAN 13. Host 0 also has router r0 (the VLANs'
/// gateway, masquerading to the external network) and the DHCP server.
pub fn generated(hosts: usize, vms: usize) -> String {
    let mut y = String::from(
        "version: 1\nname: gen\nexternals:\n  - {name: internet, gateway: 203.0.113.1/24}\nhosts:\n",
    );
    for h in 0..hosts {
        writeln!(y, "  - name: h{h}\n    bridges:\n      - name: br").unwrap();
        if h == 0 {
            writeln!(y, "      - {{name: br-ex, uplink: internet}}").unwrap();
        }
        writeln!(y, "    vms:").unwrap();
        for j in 0..vms {
            let nic = match j % 10 {
                8 => format!("{{bridge: br, ip: 10.99.{h}.{}/16}}", j + 1),
                9 => "{bridge: br, vlan: 13, ip: dhcp}".to_string(),
                _ => {
                    let v = 10 + j % 4;
                    format!("{{bridge: br, vlan: {v}, ip: 10.{v}.{h}.{}/16}}", j + 1)
                }
            };
            let gw = match j % 10 {
                8 | 9 => String::new(),
                _ => format!(", gateway: 10.{}.255.254", 10 + j % 4),
            };
            writeln!(y, "      - {{name: vm{}, nics: [{nic}]{gw}}}", h * vms + j).unwrap();
        }
        if h == 0 {
            y.push_str(
                "    dhcp:\n      - {name: dhcp13, bridge: br, vlan: 13, ip: 10.13.255.253/16, range: [10.13.200.1, 10.13.203.250], gateway: 10.13.255.254}\n",
            );
            y.push_str("    routers:\n      - name: r0\n        interfaces:\n");
            for v in 10..14 {
                writeln!(
                    y,
                    "          - {{name: q{v}, bridge: br, vlan: {v}, ip: 10.{v}.255.254/16}}"
                )
                .unwrap();
            }
            y.push_str("          - {name: qg0, bridge: br-ex, ip: 203.0.113.2/24}\n");
            y.push_str("        gateway: 203.0.113.1\n        snat:\n          - {source: 10.0.0.0/8, out: qg0}\n");
        }
    }
    if hosts > 1 {
        y.push_str("tunnels:\n");
        for h in 1..hosts {
            let parent = (h - 1) / 2;
            if h % 2 == 0 {
                writeln!(
                    y,
                    "  - {{type: gre, between: [h{parent}/br, h{h}/br], key: {h}}}"
                )
                .unwrap();
            } else {
                writeln!(
                    y,
                    "  - {{type: vxlan, between: [h{parent}/br, h{h}/br], vni: {h}}}"
                )
                .unwrap();
            }
        }
    }
    y
}

/// About 160 KB of YAML whose aliases nest: a host whose `vms` are thousands
/// of aliases of one vm, then aliases of that host. Written out it would be
/// about 1.3 million vms.
pub fn alias_bomb() -> String {
    let mut y = String::from(
        "version: 1\nname: bomb\nhosts:\n  - &h\n    name: node1\n    bridges: [{name: br0}]\n    vms:\n      - &v {name: vm1, nics: [{bridge: br0, ip: 10.0.0.1/24}]}\n",
    );
    let hosts = "  - *h\n".repeat(90);
    while y.len() + hosts.len() < 160_000 {
        y.push_str("      - *v\n");
    }
    y + &hosts
}
