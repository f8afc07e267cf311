//! Root test: the VXLAN lab, apply → verify → re-apply → change → destroy.

mod apply_support;

use apply_support::*;

#[test]
fn vxlan_lab_full_cycle() {
    full_cycle("vxlan.yaml", "e2e-vx", |text| {
        let t = replace_once(
            text,
            "vlan: 20, ip: 10.0.20.2/24",
            "vlan: 10, ip: 10.0.20.2/24",
        );
        let t = insert_before(&t, "tunnels:", "      - name: vm9\n        nics:\n          - {bridge: br-in, vlan: 10, ip: 10.0.10.9/24}\n");
        let mut want = vec!["update ovs-port".to_string()];
        want.extend(new_vm_steps("e2e-vx", "node2", "vm9", Some("10.0.10.9/24")));
        (t, want)
    });
}
