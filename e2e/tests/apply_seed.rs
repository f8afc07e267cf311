//! Root test: the seed GRE lab, apply → verify → re-apply → change → destroy.

mod apply_support;

use apply_support::*;

#[test]
fn seed_gre_lab_full_cycle() {
    let foreign =
        netloom_e2e::root("seed_gre_lab_full_cycle").then(|| ForeignOvs::start("e2e-seed"));
    let before = foreign.as_ref().map(ForeignOvs::bridges);
    full_cycle("seedlab-gre.yaml", "e2e-seed", |text| {
        let t = replace_once(
            text,
            "vlan: 10, ip: 10.0.10.1/24",
            "vlan: 30, ip: 10.0.10.1/24",
        );
        let t = insert_before(&t, "tunnels:", "      - name: vm9\n        nics:\n          - {bridge: br-in, vlan: 20, ip: 10.0.20.9/24}\n");
        let mut want = vec!["update ovs-port".to_string()];
        want.extend(new_vm_steps(
            "e2e-seed",
            "node2",
            "vm9",
            Some("10.0.20.9/24"),
        ));
        (t, want)
    });
    // A pre-existing OVS bridge, even one marked with this topology's name, is untouched.
    assert_eq!(foreign.as_ref().map(ForeignOvs::bridges), before);
    assert!(before.is_none_or(|b| b.contains("br-user")));
}
