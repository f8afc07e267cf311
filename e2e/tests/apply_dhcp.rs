//! Root test: the DHCP lab (dnsmasq across a GRE tunnel, leases in file
//! order), apply → verify → re-apply → change → destroy. The new vm asks
//! for a lease too and must get the next address.

mod apply_support;

use apply_support::*;

#[test]
fn dhcp_lab_full_cycle() {
    full_cycle("dhcp.yaml", "e2e-dhcp", |text| {
        let t = replace_once(
            text,
            "vlan: 20, ip: 10.0.20.1/24",
            "vlan: 30, ip: 10.0.20.1/24",
        );
        let t = insert_before(
            &t,
            "tunnels:",
            "      - name: vm9\n        nics:\n          - {bridge: br-in, vlan: 10, ip: dhcp}\n",
        );
        let mut want = vec!["update ovs-port".to_string()];
        want.extend(new_vm_steps("e2e-dhcp", "node2", "vm9", None));
        // Reserved on the server as the next address of its range.
        *want.last_mut().unwrap() = "create dhcp_host /run/netloom/e2e-dhcp/node1/dhcp-dhcp10.hosts/nl-e2e-dhcp.node2.vm9.eth0 10.0.10.102".to_string();
        (t, want)
    });
}
