//! Derived names and MACs depend on an element's identity, not its position,
//! so an edit renames nothing else (and the planner then touches nothing else).

use netloom_core::Topology;

fn load(text: &str) -> Topology {
    netloom_core::load(text).unwrap().topology
}

fn seed() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/seedlab-gre.yaml"
    ))
    .unwrap()
}

/// (guest, iface) → (port, MAC), plus bridge and tunnel names.
fn names(t: &Topology) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in &t.guests {
        for i in &g.ifaces {
            out.push((
                format!("{}/{}/{}", t.hosts[g.host].name, g.name, i.name),
                format!("{} {}", i.port, i.mac),
            ));
        }
    }
    for b in &t.bridges {
        out.push((
            format!("{}/{}", t.hosts[b.host].name, b.name),
            b.ovs_name.clone(),
        ));
    }
    for tu in &t.tunnels {
        out.push((tu.path.clone(), tu.ports.join(" ")));
    }
    out
}

#[test]
fn adding_a_vm_on_the_first_host_renames_nothing_else() {
    let before = load(&seed());
    let edited = seed().replacen(
        "      - name: vm2\n",
        "      - name: vm9\n        nics:\n          - {bridge: br-in, vlan: 10, ip: 10.0.10.9/24}\n      - name: vm2\n",
        1,
    );
    let after = load(&edited);
    assert_eq!(after.guests.len(), before.guests.len() + 1);
    let after_names = names(&after);
    for entry in names(&before) {
        assert!(
            after_names.contains(&entry),
            "{entry:?} changed when vm9 was added"
        );
    }
}

#[test]
fn changing_a_tunnel_key_keeps_its_port_names() {
    let before = load(&seed());
    let after = load(&seed().replace("key: 5", "key: 6"));
    assert_eq!(before.tunnels[0].ports, after.tunnels[0].ports);
}

#[test]
fn every_derived_name_is_unique_and_fits_the_kernel() {
    let mut text = String::from("version: 1\nname: many\nhosts:\n");
    for h in 0..20 {
        text.push_str(&format!(
            "  - name: h{h}\n    bridges: [{{name: br}}]\n    vms:\n"
        ));
        for v in 0..50 {
            text.push_str(&format!(
                "      - {{name: vm{v}, nics: [{{bridge: br}}, {{bridge: br, vlan: 7}}]}}\n"
            ));
        }
    }
    let t = load(&text);
    let mut seen = std::collections::HashSet::new();
    for g in &t.guests {
        for i in &g.ifaces {
            assert!(i.port.len() <= 15, "{}", i.port);
            assert!(seen.insert(i.port.clone()), "{} twice", i.port);
            assert!(seen.insert(i.mac.to_string()), "{} twice", i.mac);
        }
    }
}
