//! One failing fixture per rule of the format (spec: "Rules a valid file
//! obeys") and per other check of `validate`/`format`: each asserts the exact
//! path and that the message says what is wrong and what is allowed.

use netloom_core::{load, Problem, Severity};

/// A valid file that uses every kind of element, so that each fixture is one
/// small edit of it.
const BASE: &str = r#"version: 1
name: lab
externals:
  - name: internet
    gateway: 198.51.100.1/24
hosts:
  - name: node1
    bridges:
      - name: br-in
      - name: br-ex
        uplink: internet
    vms:
      - name: vm1
        nics:
          - {bridge: br-in, vlan: 10, ip: 10.0.10.1/24, mac: "52:54:00:00:00:01"}
        gateway: 10.0.10.254
        routes:
          - {to: 10.9.0.0/24, via: 10.0.10.253}
    dhcp:
      - name: dhcp10
        bridge: br-in
        vlan: 10
        ip: 10.0.10.2/24
        range: [10.0.10.100, 10.0.10.150]
        gateway: 10.0.10.254
    routers:
      - name: r1
        interfaces:
          - {name: qr0, bridge: br-in, vlan: 10, ip: 10.0.10.254/24}
          - {name: qg0, bridge: br-ex, ip: 198.51.100.2/24}
        gateway: 198.51.100.1
        snat:
          - {source: 10.0.10.0/24, out: qg0}
        dnat:
          - {in: qg0, proto: tcp, port: 8080, to: 10.0.10.1, to_port: 80}
  - name: node2
    bridges:
      - name: br-in
    vms:
      - name: vm2
        nics:
          - {bridge: br-in, vlan: 10, ip: dhcp}
      - name: vm3
        nics:
          - {bridge: br-in, vlan: 20, ip: 10.0.20.3/24}
tunnels:
  - {type: gre, between: [node1/br-in, node2/br-in], key: 5}
"#;

/// BASE with each `old` (which must occur exactly once) replaced by `new`.
fn edit(edits: &[(&str, &str)]) -> String {
    let mut text = BASE.to_string();
    for (old, new) in edits {
        assert_eq!(
            text.matches(old).count(),
            1,
            "fixture edit {old:?} must match exactly once"
        );
        text = text.replacen(old, new, 1);
    }
    text
}

fn problems(text: &str) -> Vec<Problem> {
    match load(text) {
        Ok(_) => panic!("expected problems, but the file is valid:\n{text}"),
        Err(p) => p,
    }
}

/// The file has exactly one problem, an error at `path` whose message has every `words`.
fn assert_one(text: &str, path: &str, words: &[&str]) {
    let all = problems(text);
    assert_eq!(all.len(), 1, "expected one problem at {path}, got {all:#?}");
    assert_problem(&all[0], path, words);
    assert_eq!(all[0].severity, Severity::Error, "{:?}", all[0]);
}

fn assert_problem(p: &Problem, path: &str, words: &[&str]) {
    assert_eq!(p.path, path, "wrong path for {p:?}");
    for w in words {
        assert!(
            p.message.contains(w),
            "message {:?} at {path} lacks {w:?}",
            p.message
        );
    }
}

fn assert_valid(text: &str) {
    match load(text) {
        Ok(c) => assert!(c.warnings.is_empty(), "{:#?}", c.warnings),
        Err(p) => panic!("{p:#?}"),
    }
}

/// `name!(test, [(old, new), ...], path, [words...])`: one edit of BASE, one problem.
macro_rules! case {
    ($test:ident, [$(($old:expr, $new:expr)),* $(,)?], $path:expr, [$($word:expr),* $(,)?]) => {
        #[test]
        fn $test() {
            assert_one(&edit(&[$(($old, $new)),*]), $path, &[$($word),*]);
        }
    };
}

#[test]
fn base_is_valid_without_warnings() {
    assert_valid(BASE);
}

// ---- names: pattern, per element kind ----

case!(
    topology_name_uppercase,
    [("name: lab", "name: Lab")],
    "name",
    [
        "\"Lab\"",
        "not a valid topology name",
        "1 to 12 characters",
        "lowercase letter first"
    ]
);
case!(
    topology_name_too_long,
    [("name: lab", "name: abcdefghijklm")],
    "name",
    ["\"abcdefghijklm\"", "1 to 12 characters"]
);
case!(
    topology_name_empty,
    [("name: lab", "name: ''")],
    "name",
    ["\"\"", "topology name"]
);
case!(
    external_name_bad,
    [
        ("- name: internet", "- name: inter_net"),
        ("uplink: internet", "uplink: inter_net")
    ],
    "externals[0].name",
    ["\"inter_net\"", "external network name", "digits or '-'"]
);
case!(
    host_name_bad,
    [
        ("- name: node2", "- name: 2node"),
        ("node2/br-in", "2node/br-in")
    ],
    "hosts[1].name",
    ["\"2node\"", "host name", "lowercase letter first"]
);
case!(
    bridge_name_bad,
    [
        ("- name: br-ex", "- name: br.ex"),
        ("bridge: br-ex", "bridge: br.ex")
    ],
    "hosts[0].bridges[1].name",
    ["\"br.ex\"", "bridge name"]
);
case!(
    vm_name_bad,
    [("- name: vm3", "- name: vm-three-too-long")],
    "hosts[1].vms[1].name",
    ["\"vm-three-too-long\"", "vm name", "1 to 12"]
);
case!(
    dhcp_name_bad,
    [("- name: dhcp10", "- name: DHCP")],
    "hosts[0].dhcp[0].name",
    ["\"DHCP\"", "dhcp server name"]
);
case!(
    router_name_bad,
    [("- name: r1", "- name: 1r")],
    "hosts[0].routers[0].name",
    ["\"1r\"", "router name"]
);
case!(
    router_interface_name_bad,
    [("{name: qr0,", "{name: q/r0,")],
    "hosts[0].routers[0].interfaces[0].name",
    ["\"q/r0\"", "router interface name"]
);

// ---- names: unique in their scope ----

case!(
    external_duplicate,
    [(
        "externals:\n",
        "externals:\n  - {name: internet, gateway: 203.0.113.1/24}\n"
    )],
    "externals[1].name",
    [
        "external network name \"internet\"",
        "already used by externals[0]"
    ]
);
case!(
    host_duplicate,
    [("tunnels:\n", "  - name: node1\ntunnels:\n")],
    "hosts[2].name",
    ["host name \"node1\"", "already used by hosts[0]"]
);
case!(
    bridge_duplicate,
    [(
        "  - name: node2\n    bridges:\n      - name: br-in\n",
        "  - name: node2\n    bridges:\n      - name: br-in\n      - name: br-in\n"
    )],
    "hosts[1].bridges[1].name",
    [
        "bridge name \"br-in\"",
        "already used by hosts[1].bridges[0]"
    ]
);
case!(
    vm_duplicate,
    [("- name: vm3", "- name: vm2")],
    "hosts[1].vms[1].name",
    ["vm name \"vm2\"", "already used by hosts[1].vms[0]"]
);
case!(dhcp_duplicate,
    [("    routers:\n",
      "      - {name: dhcp10, bridge: br-in, vlan: 20, ip: 10.0.20.2/24, range: [10.0.20.100, 10.0.20.110]}\n    routers:\n")],
    "hosts[0].dhcp[1].name", ["dhcp server name \"dhcp10\"", "already used by hosts[0].dhcp[0]"]);
case!(
    router_duplicate,
    [("  - name: node2\n", "      - {name: r1}\n  - name: node2\n")],
    "hosts[0].routers[1].name",
    ["router name \"r1\"", "already used by hosts[0].routers[0]"]
);
case!(
    router_interface_duplicate,
    [("{name: qr0,", "{name: qg0,")],
    "hosts[0].routers[0].interfaces[1].name",
    [
        "interface name \"qg0\"",
        "already used by hosts[0].routers[0].interfaces[0]"
    ]
);

#[test]
fn same_names_in_different_scopes_are_allowed() {
    // vm names are per host; a vm, a router and a dhcp server may share a name.
    assert_valid(&edit(&[
        ("- name: vm3", "- name: vm1"),
        ("- name: r1", "- name: vm1"),
    ]));
}

// ---- references ----

case!(
    nic_bridge_unknown,
    [("{bridge: br-in, vlan: 20", "{bridge: br-x, vlan: 20")],
    "hosts[1].vms[1].nics[0].bridge",
    [
        "no bridge \"br-x\" on this host",
        "bridges of host \"node2\": br-in"
    ]
);
case!(
    nic_bridge_of_another_host,
    [("{bridge: br-in, vlan: 20", "{bridge: br-ex, vlan: 20")],
    "hosts[1].vms[1].nics[0].bridge",
    ["no bridge \"br-ex\" on this host", "br-in"]
);
case!(
    nic_bridge_invalid_name,
    [("{bridge: br-in, vlan: 20", "{bridge: 'BR IN', vlan: 20")],
    "hosts[1].vms[1].nics[0].bridge",
    ["no bridge \"BR IN\""]
);
case!(
    dhcp_bridge_unknown,
    [(
        "bridge: br-in\n        vlan: 10",
        "bridge: nope\n        vlan: 10"
    )],
    "hosts[0].dhcp[0].bridge",
    ["no bridge \"nope\"", "br-in, br-ex"]
);
case!(
    router_interface_bridge_unknown,
    [("{name: qg0, bridge: br-ex", "{name: qg0, bridge: br-zz")],
    "hosts[0].routers[0].interfaces[1].bridge",
    ["no bridge \"br-zz\"", "br-in, br-ex"]
);
case!(
    uplink_unknown,
    [("uplink: internet", "uplink: intranet")],
    "hosts[0].bridges[1].uplink",
    ["no external network named \"intranet\"", "known: internet"]
);
case!(
    uplink_without_externals,
    [(
        "externals:\n  - name: internet\n    gateway: 198.51.100.1/24\n",
        ""
    )],
    "hosts[0].bridges[1].uplink",
    [
        "no external network named \"internet\"",
        "the file has no externals"
    ]
);
case!(
    tunnel_end_unknown_host,
    [("node2/br-in", "node9/br-in")],
    "tunnels[0].between[1]",
    ["no host \"node9\"", "hosts: node1, node2"]
);
case!(
    tunnel_end_unknown_bridge,
    [("node2/br-in", "node2/br-ex")],
    "tunnels[0].between[1]",
    [
        "host \"node2\" has no bridge \"br-ex\"",
        "its bridges: br-in"
    ]
);
case!(
    tunnel_end_not_host_slash_bridge,
    [("node2/br-in", "node2")],
    "tunnels[0].between[1]",
    ["\"node2\" is not a tunnel end", "host/bridge"]
);
case!(
    tunnel_ends_on_same_host,
    [("node2/br-in", "node1/br-ex")],
    "tunnels[0].between",
    ["both ends are on host \"node1\"", "two different hosts"]
);
case!(
    tunnel_with_three_ends,
    [("node2/br-in]", "node2/br-in, node2/br-in]")],
    "tunnels[0].between",
    ["exactly two ends, not 3"]
);

// ---- vlan / vni / key ranges ----

case!(
    nic_vlan_zero,
    [("vlan: 20", "vlan: 0")],
    "hosts[1].vms[1].nics[0].vlan",
    ["VLAN 0", "outside 1..4094"]
);
case!(
    nic_vlan_too_big,
    [("vlan: 20", "vlan: 4095")],
    "hosts[1].vms[1].nics[0].vlan",
    ["VLAN 4095", "1..4094"]
);
case!(
    dhcp_vlan_bad,
    [("        vlan: 10\n", "        vlan: -3\n")],
    "hosts[0].dhcp[0].vlan",
    ["VLAN -3", "1..4094"]
);
case!(
    router_interface_vlan_bad,
    [(
        "bridge: br-in, vlan: 10, ip: 10.0.10.254",
        "bridge: br-in, vlan: 5000, ip: 10.0.10.254"
    )],
    "hosts[0].routers[0].interfaces[0].vlan",
    ["VLAN 5000", "1..4094"]
);
case!(
    vlan_beyond_i64,
    [("vlan: 20", "vlan: 99999999999999999999999")],
    "hosts[1].vms[1].nics[0].vlan",
    ["invalid type", "expected i64"]
);
case!(
    gre_key_too_big,
    [("key: 5", "key: 4294967296")],
    "tunnels[0].key",
    ["GRE key 4294967296", "outside 0..4294967295"]
);
case!(
    gre_key_negative,
    [("key: 5", "key: -1")],
    "tunnels[0].key",
    ["GRE key -1", "0..4294967295"]
);
case!(
    vni_too_big,
    [("type: gre", "type: vxlan"), ("key: 5", "vni: 16777216")],
    "tunnels[0].vni",
    ["VNI 16777216", "outside 0..16777215"]
);
case!(
    vni_negative,
    [("type: gre", "type: vxlan"), ("key: 5", "vni: -1")],
    "tunnels[0].vni",
    ["VNI -1", "0..16777215"]
);
case!(
    vxlan_without_vni,
    [("type: gre", "type: vxlan"), (", key: 5", "")],
    "tunnels[0]",
    ["vxlan tunnel needs a vni", "0..16777215"]
);
case!(
    vxlan_with_key,
    [("type: gre", "type: vxlan"), ("key: 5", "vni: 5, key: 5")],
    "tunnels[0].key",
    ["key is for gre tunnels", "vxlan tunnel takes vni"]
);
case!(
    gre_with_vni,
    [("key: 5", "vni: 5")],
    "tunnels[0].vni",
    ["vni is for vxlan tunnels", "gre tunnel takes key"]
);
case!(
    tunnel_type_unknown,
    [("type: gre", "type: geneve")],
    "tunnels[0].type",
    ["\"geneve\" is not a tunnel type", "gre or vxlan"]
);

#[test]
fn range_limits_themselves_are_allowed() {
    assert_valid(&edit(&[
        ("key: 5", "key: 4294967295"),
        ("vlan: 20", "vlan: 4094"),
    ]));
    assert_valid(&edit(&[("key: 5", "key: 0"), ("vlan: 20", "vlan: 1")]));
    assert_valid(&edit(&[
        ("type: gre", "type: vxlan"),
        ("key: 5", "vni: 16777215"),
    ]));
    assert_valid(&edit(&[("type: gre", "type: vxlan"), ("key: 5", "vni: 0")]));
}

// ---- addresses ----

case!(
    ip_without_prefix,
    [("ip: 10.0.20.3/24", "ip: 10.0.20.3")],
    "hosts[1].vms[1].nics[0].ip",
    ["\"10.0.20.3\" has no prefix length", "like 10.0.0.1/24"]
);
case!(
    ip_not_an_address,
    [("ip: 10.0.20.3/24", "ip: 10.0.20.300/24")],
    "hosts[1].vms[1].nics[0].ip",
    [
        "\"10.0.20.300/24\" is not an IPv4 address with prefix",
        "or the word dhcp"
    ]
);
case!(
    ip_prefix_too_long,
    [("ip: 10.0.20.3/24", "ip: 10.0.20.3/33")],
    "hosts[1].vms[1].nics[0].ip",
    [
        "\"10.0.20.3/33\"",
        "prefix length must be a number in 0..32"
    ]
);
case!(
    ip_is_network_address,
    [("ip: 10.0.20.3/24", "ip: 10.0.20.0/24")],
    "hosts[1].vms[1].nics[0].ip",
    ["10.0.20.0/24 is the network address", "not a host address"]
);
case!(
    ip_is_broadcast_address,
    [("ip: 10.0.20.3/24", "ip: 10.0.20.255/24")],
    "hosts[1].vms[1].nics[0].ip",
    [
        "10.0.20.255/24 is the broadcast address",
        "not a host address"
    ]
);
case!(
    dhcp_word_only_for_vms,
    [("ip: 10.0.10.2/24", "ip: dhcp")],
    "hosts[0].dhcp[0].ip",
    ["\"dhcp\" has no prefix length", "10.0.0.1/24"]
);
case!(
    router_ip_bad,
    [("ip: 10.0.10.254/24}", "ip: 10.0.10.254/x}")],
    "hosts[0].routers[0].interfaces[0].ip",
    ["\"10.0.10.254/x\"", "prefix length"]
);
case!(
    gateway_not_an_address,
    [(
        "gateway: 10.0.10.254\n        routes",
        "gateway: 10.0.10.x\n        routes"
    )],
    "hosts[0].vms[0].gateway",
    ["\"10.0.10.x\" is not an IPv4 address", "like 10.0.0.254"]
);
case!(
    route_to_has_host_bits,
    [("to: 10.9.0.0/24", "to: 10.9.0.1/24")],
    "hosts[0].vms[0].routes[0].to",
    [
        "\"10.9.0.1/24\" has host bits set",
        "the network is 10.9.0.0/24"
    ]
);
case!(
    route_via_not_an_address,
    [("via: 10.0.10.253", "via: somewhere")],
    "hosts[0].vms[0].routes[0].via",
    ["\"somewhere\" is not an IPv4 address"]
);
case!(
    external_gateway_without_prefix,
    [("gateway: 198.51.100.1/24", "gateway: 198.51.100.1")],
    "externals[0].gateway",
    ["has no prefix length", "198.51.100.1"]
);
case!(
    external_gateway_too_small,
    [("gateway: 198.51.100.1/24", "gateway: 198.51.100.1/31")],
    "externals[0].gateway",
    ["198.51.100.1/31", "use /30 or shorter"]
);
case!(
    external_gateway_is_network_address,
    [("gateway: 198.51.100.1/24", "gateway: 198.51.100.0/24")],
    "externals[0].gateway",
    [
        "198.51.100.0/24 is not a host address",
        "like 198.51.100.1/24"
    ]
);
case!(
    underlay_bad,
    [("name: lab\n", "name: lab\nunderlay: 172.31.0.0\n")],
    "underlay",
    ["\"172.31.0.0\" has no prefix length"]
);
case!(
    underlay_has_host_bits,
    [("name: lab\n", "name: lab\nunderlay: 172.31.0.1/24\n")],
    "underlay",
    ["host bits set", "172.31.0.0/24"]
);
case!(
    underlay_too_small,
    [("name: lab\n", "name: lab\nunderlay: 172.31.0.0/31\n")],
    "underlay",
    ["172.31.0.0/31 is too small", "/30 or shorter"]
);
case!(
    underlay_full,
    [
        ("name: lab\n", "name: lab\nunderlay: 172.31.0.0/30\n"),
        ("tunnels:\n", "  - name: node3\ntunnels:\n")
    ],
    "hosts[2].underlay_ip",
    [
        "172.31.0.0/30 has no address left for host 3",
        "give underlay_ip or a larger underlay"
    ]
);
case!(
    underlay_ip_outside_underlay,
    [(
        "  - name: node2\n",
        "  - name: node2\n    underlay_ip: 10.1.1.1\n"
    )],
    "hosts[1].underlay_ip",
    ["10.1.1.1 is not a host address of the underlay 172.31.0.0/24"]
);
case!(
    underlay_ip_duplicate,
    [(
        "  - name: node2\n",
        "  - name: node2\n    underlay_ip: 172.31.0.1\n"
    )],
    "hosts[1].underlay_ip",
    ["underlay address 172.31.0.1 is already used by hosts[0].underlay_ip"]
);
case!(
    agent_not_a_url,
    [(
        "  - name: node2\n",
        "  - name: node2\n    agent: node2:7311\n"
    )],
    "hosts[1].agent",
    [
        "\"node2:7311\" is not an agent URL",
        "https://node1.example.net:7311"
    ]
);
case!(
    mac_not_hex,
    [("52:54:00:00:00:01", "52:54:00:00:00:zz")],
    "hosts[0].vms[0].nics[0].mac",
    ["not a MAC address", "six hex bytes"]
);
case!(
    mac_with_sign,
    [("52:54:00:00:00:01", "52:54:00:00:00:+1")],
    "hosts[0].vms[0].nics[0].mac",
    ["not a MAC address", "six hex bytes"]
);
case!(
    mac_too_short,
    [("52:54:00:00:00:01", "52:54:00:00:01")],
    "hosts[0].vms[0].nics[0].mac",
    ["not a MAC address"]
);
case!(
    mac_multicast,
    [("52:54:00:00:00:01", "01:00:5e:00:00:01")],
    "hosts[0].vms[0].nics[0].mac",
    ["multicast", "unicast MAC (first byte even)"]
);
case!(
    mac_zero,
    [("52:54:00:00:00:01", "00:00:00:00:00:00")],
    "hosts[0].vms[0].nics[0].mac",
    ["00:00:00:00:00:00 cannot be a nic's MAC"]
);
case!(
    mac_duplicate,
    [(
        "ip: 10.0.20.3/24}",
        "ip: 10.0.20.3/24, mac: \"52:54:00:00:00:01\"}"
    )],
    "hosts[1].vms[1].nics[0].mac",
    ["MAC 52:54:00:00:00:01 is already used by hosts[0].vms[0].nics[0].mac"]
);
case!(
    ip_duplicate,
    [("ip: 10.0.20.3/24", "ip: 10.0.10.1/16")],
    "hosts[1].vms[1].nics[0].ip",
    ["address 10.0.10.1 is already used by hosts[0].vms[0].nics[0].ip"]
);
case!(
    ip_duplicate_of_external_gateway,
    [("ip: 198.51.100.2/24", "ip: 198.51.100.1/24")],
    "hosts[0].routers[0].interfaces[1].ip",
    ["address 198.51.100.1 is already used by externals[0].gateway"]
);
case!(
    vm_gateway_off_link,
    [(
        "gateway: 10.0.10.254\n        routes",
        "gateway: 10.0.99.254\n        routes"
    )],
    "hosts[0].vms[0].gateway",
    [
        "10.0.99.254 is not in a subnet of this vm's interfaces",
        "its subnets: 10.0.10.0/24"
    ]
);
case!(
    vm_via_off_link,
    [("via: 10.0.10.253", "via: 10.0.99.1")],
    "hosts[0].vms[0].routes[0].via",
    ["10.0.99.1 is not in a subnet of this vm's interfaces"]
);
case!(
    gateway_of_unaddressed_vm,
    [(
        "{bridge: br-in, vlan: 20, ip: 10.0.20.3/24}",
        "{bridge: br-in, vlan: 20}\n        gateway: 10.0.20.1"
    )],
    "hosts[1].vms[1].gateway",
    [
        "10.0.20.1 is not in a subnet",
        "it has no addressed interface"
    ]
);
case!(
    router_gateway_off_link,
    [("gateway: 198.51.100.1\n", "gateway: 203.0.113.1\n")],
    "hosts[0].routers[0].gateway",
    [
        "203.0.113.1 is not in a subnet of this router's interfaces",
        "10.0.10.0/24, 198.51.100.0/24"
    ]
);

#[test]
fn a_dhcp_client_may_have_any_gateway() {
    // Its subnet is only known from the lease.
    assert_valid(&edit(&[(
        "{bridge: br-in, vlan: 10, ip: dhcp}",
        "{bridge: br-in, vlan: 10, ip: dhcp}\n        gateway: 10.0.99.1",
    )]));
}

// ---- dhcp ----

case!(
    dhcp_range_outside_subnet,
    [("10.0.10.150]", "10.0.11.150]")],
    "hosts[0].dhcp[0].range[1]",
    ["10.0.11.150 is not a host address of the server's subnet 10.0.10.0/24"]
);
case!(
    dhcp_range_includes_server,
    [("[10.0.10.100,", "[10.0.10.2,")],
    "hosts[0].dhcp[0].range",
    ["the range 10.0.10.2..10.0.10.150 includes the server's own address 10.0.10.2"]
);
case!(
    dhcp_range_reversed,
    [("[10.0.10.100, 10.0.10.150]", "[10.0.10.150, 10.0.10.100]")],
    "hosts[0].dhcp[0].range",
    [
        "starts at 10.0.10.150, after its end 10.0.10.100",
        "[first, last]"
    ]
);
case!(
    dhcp_range_one_address,
    [("[10.0.10.100, 10.0.10.150]", "[10.0.10.100]")],
    "hosts[0].dhcp[0].range",
    ["two addresses [first, last], not 1"]
);
case!(
    dhcp_range_three_addresses,
    [(
        "[10.0.10.100, 10.0.10.150]",
        "[10.0.10.100, 10.0.10.150, 10.0.10.160]"
    )],
    "hosts[0].dhcp[0].range",
    ["two addresses [first, last], not 3"]
);
case!(
    dhcp_range_not_an_address,
    [("[10.0.10.100,", "[ten,")],
    "hosts[0].dhcp[0].range[0]",
    ["\"ten\" is not an IPv4 address"]
);
case!(
    dhcp_gateway_off_subnet,
    [(
        "gateway: 10.0.10.254\n    routers",
        "gateway: 10.0.20.254\n    routers"
    )],
    "hosts[0].dhcp[0].gateway",
    ["10.0.20.254 is not in the server's subnet 10.0.10.0/24"]
);
case!(
    static_address_in_dhcp_range,
    [("ip: 10.0.20.3/24", "ip: 10.0.10.120/24")],
    "hosts[1].vms[1].nics[0].ip",
    [
        "10.0.10.120 lies inside the dhcp range 10.0.10.100..10.0.10.150 of hosts[0].dhcp[0]",
        "outside the range"
    ]
);
case!(
    router_address_in_dhcp_range,
    [
        ("ip: 10.0.10.254/24}", "ip: 10.0.10.150/24}"),
        (
            "gateway: 10.0.10.254\n    routers",
            "gateway: 10.0.10.150\n    routers"
        ),
        (
            "gateway: 10.0.10.254\n        routes",
            "gateway: 10.0.10.150\n        routes"
        )
    ],
    "hosts[0].routers[0].interfaces[0].ip",
    ["10.0.10.150 lies inside the dhcp range"]
);
case!(dhcp_ranges_overlap,
    [("    routers:\n",
      "      - {name: dhcp11, bridge: br-in, vlan: 20, ip: 10.0.10.3/24, range: [10.0.10.150, 10.0.10.160]}\n    routers:\n")],
    "hosts[0].dhcp[1].range", ["10.0.10.150..10.0.10.160 overlaps the range 10.0.10.100..10.0.10.150 of hosts[0].dhcp[0]"]);

#[test]
fn static_address_in_range_of_the_tenth_server_is_not_taken_for_the_first() {
    // Regression: `hosts[0].dhcp[1]` is a text prefix of `hosts[0].dhcp[10]`,
    // which once hid dhcp[10]'s own address lying in dhcp[1]'s range.
    let mut servers = String::new();
    for n in 0..10 {
        servers += &format!(
            "      - {{name: d{n}, bridge: br, vlan: {v}, ip: 10.1.{n}.1/24, range: [10.1.{n}.100, 10.1.{n}.110]}}\n",
            v = n + 1
        );
    }
    servers += "      - {name: d10, bridge: br, vlan: 11, ip: 10.1.1.105/24, range: [10.1.1.200, 10.1.1.210]}\n";
    let text = format!("version: 1\nname: many\nhosts:\n  - name: h\n    bridges: [{{name: br}}]\n    dhcp:\n{servers}");
    assert_one(
        &text,
        "hosts[0].dhcp[10].ip",
        &["10.1.1.105 lies inside the dhcp range 10.1.1.100..10.1.1.110 of hosts[0].dhcp[1]"],
    );
}

// ---- NAT ----

case!(
    snat_out_unknown,
    [("out: qg0", "out: qg9")],
    "hosts[0].routers[0].snat[0].out",
    ["router \"r1\" has no interface \"qg9\"", "it has: qr0, qg0"]
);
case!(
    snat_source_bad,
    [("source: 10.0.10.0/24", "source: 10.0.10.0")],
    "hosts[0].routers[0].snat[0].source",
    ["has no prefix length"]
);
case!(
    dnat_in_unknown,
    [("{in: qg0,", "{in: eth0,")],
    "hosts[0].routers[0].dnat[0].in",
    [
        "router \"r1\" has no interface \"eth0\"",
        "it has: qr0, qg0"
    ]
);
case!(
    dnat_proto_unknown,
    [("proto: tcp", "proto: icmp")],
    "hosts[0].routers[0].dnat[0].proto",
    ["\"icmp\" is not a protocol", "tcp or udp"]
);
case!(
    dnat_port_zero,
    [("port: 8080", "port: 0")],
    "hosts[0].routers[0].dnat[0].port",
    ["port 0 is outside 1..65535"]
);
case!(
    dnat_to_port_too_big,
    [("to_port: 80", "to_port: 65536")],
    "hosts[0].routers[0].dnat[0].to_port",
    ["port 65536 is outside 1..65535"]
);
case!(
    dnat_to_bad,
    [("to: 10.0.10.1,", "to: 10.0.10.1/24,")],
    "hosts[0].routers[0].dnat[0].to",
    ["\"10.0.10.1/24\" is not an IPv4 address"]
);

// ---- layer-2 loops ----

case!(
    two_tunnels_between_the_same_bridges_loop,
    [(
        "key: 5}\n",
        "key: 5}\n  - {type: gre, between: [node2/br-in, node1/br-in], key: 6}\n"
    )],
    "tunnels[1]",
    ["closes a loop of bridges", "no spanning tree"]
);
case!(tunnel_closes_loop_through_uplinks,
    [("  - name: node2\n    bridges:\n      - name: br-in\n",
      "  - name: node2\n    bridges:\n      - name: br-in\n      - {name: br-up, uplink: internet}\n"),
     ("key: 5}\n", "key: 5}\n  - {type: gre, between: [node1/br-ex, node2/br-up], key: 6}\n")],
    // node1/br-ex and node2/br-up are already joined through "internet".
    "tunnels[1]", ["closes a loop", "tunnels and uplinks"]);

#[test]
fn triangle_of_tunnels_is_a_loop() {
    let text = "version: 1\nname: tri\nhosts:\n  - {name: a, bridges: [{name: br}]}\n  - {name: b, bridges: [{name: br}]}\n  - {name: c, bridges: [{name: br}]}\ntunnels:\n  - {type: gre, between: [a/br, b/br]}\n  - {type: gre, between: [b/br, c/br]}\n  - {type: vxlan, between: [c/br, a/br], vni: 1}\n";
    assert_one(text, "tunnels[2]", &["closes a loop of bridges"]);
}

// ---- duplicate tunnels between two hosts ----

case!(
    tunnels_same_hosts_same_key,
    [(
        "key: 5}\n",
        "key: 5}\n  - {type: gre, between: [node1/br-ex, node2/br-in], key: 5}\n"
    )],
    "tunnels[1]",
    [
        "tunnels[0] already joins these two hosts with gre key 5",
        "use another key"
    ]
);
case!(
    tunnels_absent_gre_key_is_zero,
    [(
        ", key: 5}\n",
        "}\n  - {type: gre, between: [node2/br-in, node1/br-ex], key: 0}\n"
    )],
    "tunnels[1]",
    ["already joins these two hosts with gre key 0"]
);
case!(tunnels_same_hosts_same_vni,
    [("type: gre, between: [node1/br-in, node2/br-in], key: 5}\n",
      "type: vxlan, between: [node1/br-in, node2/br-in], vni: 7}\n  - {type: vxlan, between: [node1/br-ex, node2/br-in], vni: 7}\n")],
    "tunnels[1]", ["already joins these two hosts with vxlan vni 7", "use another vni"]);

#[test]
fn tunnels_between_the_same_hosts_may_differ_in_type_or_key() {
    for second in [
        "{type: gre, between: [node1/br-ex, node2/br-in], key: 6}",
        "{type: vxlan, between: [node1/br-ex, node2/br-in], vni: 5}",
    ] {
        assert_valid(&edit(&[(
            "key: 5}\n",
            &format!("key: 5}}\n  - {second}\n"),
        )]));
    }
}

// ---- syntax, shape, version ----

case!(
    unknown_top_level_key,
    [("name: lab\n", "name: lab\ncolour: red\n")],
    "colour",
    ["unknown field `colour`", "expected one of", "`hosts`"]
);
case!(
    unknown_host_key,
    [("  - name: node2\n", "  - name: node2\n    colour: red\n")],
    "hosts[1].colour",
    ["unknown field `colour`", "`bridges`"]
);
case!(
    unknown_nic_key,
    [("ip: 10.0.20.3/24}", "ip: 10.0.20.3/24, tag: 3}")],
    "hosts[1].vms[1].nics[0].tag",
    ["unknown field `tag`", "`vlan`"]
);
case!(
    wrong_value_type,
    [("vlan: 20", "vlan: twenty")],
    "hosts[1].vms[1].nics[0].vlan",
    ["invalid type: string \"twenty\"", "line 45 column"]
);
case!(
    missing_required_key,
    [(
        "        bridge: br-in\n        vlan: 10\n",
        "        vlan: 10\n"
    )],
    "hosts[0].dhcp[0]",
    ["missing field `bridge`"]
);
case!(
    version_two,
    [("version: 1", "version: 2")],
    "version",
    ["version 2 is not supported", "version 1"]
);

#[test]
fn yaml_syntax_error_gives_line_and_column() {
    let text = edit(&[("      - name: vm3\n", "      - name: vm3\n     bad: [\n")]);
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].message.contains("line 44 column"), "{:?}", p[0]);
}

#[test]
fn yaml_tab_indentation_gives_line_and_column() {
    let p = problems("version: 1\nname: a\nhosts:\n\t- name: h\n");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].message.contains("line 4 column"), "{:?}", p[0]);
}

#[test]
fn json_problems_have_paths_and_positions() {
    let p =
        problems(r#"{"version": 1, "name": "a", "hosts": [{"name": "h", "vms": [{"name": 5}]}]}"#);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_problem(
        &p[0],
        "hosts[0].vms[0].name",
        &[
            "invalid type: integer `5`",
            "expected a string",
            "line 1 column",
        ],
    );
    let p = problems(r#"{"version": 1, "name": "a", "hosts": [{"name": "h", "x": 1}]}"#);
    assert_problem(
        &p[0],
        "hosts[0].x",
        &["unknown field `x`", "expected one of"],
    );
    let p = problems(r#"{"version": 1, "name": "a"} trailing"#);
    assert_problem(&p[0], "", &["trailing characters", "line 1 column"]);
}

#[test]
fn empty_file_is_an_error_saying_what_a_file_starts_with() {
    for text in ["", "  \n\n"] {
        let p = problems(text);
        assert_eq!(p.len(), 1);
        assert_problem(&p[0], "", &["the file is empty", "version: 1"]);
    }
}

#[test]
fn empty_topology_is_valid() {
    // The editor starts from nothing but a name.
    assert_valid("version: 1\nname: empty\nhosts: []\n");
}

case!(
    layout_not_finite,
    [(
        "version: 1\n",
        "version: 1\nlayout:\n  node1: {x: .nan, y: 0}\n"
    )],
    "layout.node1",
    ["finite numbers", "not infinity or NaN"]
);

#[test]
fn layout_is_accepted_and_ignored() {
    let text = edit(&[(
        "version: 1\n",
        "version: 1\nlayout:\n  node1: {x: 10, y: -2.5}\n  \"node1/vm1\": {x: 0, y: 0}\n",
    )]);
    let with = load(&text).expect("valid").topology;
    let without = load(BASE).expect("valid").topology;
    assert_eq!(with.guests, without.guests);
    assert_eq!(with.spec.layout.len(), 2);
}

// ---- warnings ----

#[test]
fn arp_flux_is_a_warning_not_an_error() {
    // vm1's second nic is on VLAN 10 of br-in, like its first one.
    let text = edit(&[(
        "mac: \"52:54:00:00:00:01\"}",
        "mac: \"52:54:00:00:00:01\"}\n          - {bridge: br-in, vlan: 10, ip: 10.0.10.9/24}",
    )]);
    let checked = load(&text).expect("a warning does not reject the file");
    assert_eq!(checked.warnings.len(), 1, "{:#?}", checked.warnings);
    let w = &checked.warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_problem(
        w,
        "hosts[0].vms[0].nics[1]",
        &[
            "hosts[0].vms[0].nics[0]",
            "same vm",
            "one layer-2 segment",
            "ARP flux",
        ],
    );
}

#[test]
fn two_nics_in_different_vlans_of_one_bridge_are_no_flux() {
    assert_valid(&edit(&[(
        "mac: \"52:54:00:00:00:01\"}",
        "mac: \"52:54:00:00:00:01\"}\n          - {bridge: br-in, vlan: 20, ip: 10.0.20.9/24}",
    )]));
}

// ---- all problems at once ----

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let text = edit(&[
        ("version: 1", "version: 3"),
        ("vlan: 20", "vlan: 9999"),
        ("uplink: internet", "uplink: nowhere"),
        ("out: qg0", "out: nope"),
        ("type: gre", "type: ppp"),
        ("[10.0.10.100,", "[10.0.10.200,"),
    ]);
    let mut paths: Vec<String> = problems(&text).into_iter().map(|p| p.path).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "hosts[0].bridges[1].uplink",
            "hosts[0].dhcp[0].range",
            "hosts[0].routers[0].snat[0].out",
            "hosts[1].vms[1].nics[0].vlan",
            "tunnels[0].type",
            "version",
        ]
    );
}

// engine: ovn (docs/topology-format.md, "Engines"): what OVN cannot express.

/// BASE with the edits, deployed with `engine: ovn`.
fn ovn(edits: &[(&str, &str)]) -> String {
    edit(edits).replacen("name: lab\n", "name: lab\nengine: ovn\n", 1)
}

/// The errors of an invalid file (its warnings left out).
fn errors(text: &str) -> Vec<Problem> {
    let all = problems(text);
    all.into_iter()
        .filter(|p| p.severity == Severity::Error)
        .collect()
}

#[test]
fn under_ovn_a_tunnel_is_a_segment_whose_type_and_key_are_not_used() {
    let c = load(&ovn(&[])).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:#?}", c.warnings);
    assert_problem(
        &c.warnings[0],
        "tunnels[0]",
        &[
            "node1/br-in and node2/br-in one segment",
            "Geneve",
            "GRE key 5",
            "not used",
        ],
    );
    assert_eq!(c.warnings[0].severity, Severity::Warning);
}

/// Both br-in uplinked to the external network instead of tunnelled: VLAN
/// 10 on both would cross the external network's segment tagged.
const VLAN_THROUGH_EXTERNAL: [(&str, &str); 3] = [
    (
        "tunnels:\n  - {type: gre, between: [node1/br-in, node2/br-in], key: 5}\n",
        "",
    ),
    (
        "      - name: br-in\n      - name: br-ex",
        "      - {name: br-in, uplink: internet}\n      - name: br-ex",
    ),
    (
        "      - name: br-in\n    vms:\n      - name: vm2",
        "      - {name: br-in, uplink: internet}\n    vms:\n      - name: vm2",
    ),
];

#[test]
fn under_ovn_a_vlan_joined_only_through_an_external_network_is_refused() {
    assert_valid(&edit(&VLAN_THROUGH_EXTERNAL));
    let e = errors(&ovn(&VLAN_THROUGH_EXTERNAL));
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_problem(
        &e[0],
        "hosts[1].vms[0].nics[0].vlan",
        &[
            "VLAN 10",
            "hosts[0].vms[0].nics[0]",
            "\"internet\"",
            "tunnel",
        ],
    );
}

#[test]
fn under_ovn_one_segment_reaches_one_external_network() {
    let text = ovn(&[
        (
            "externals:\n",
            "externals:\n  - {name: other, gateway: 203.0.113.1/24}\n",
        ),
        (
            "      - name: br-in\n      - name: br-ex",
            "      - {name: br-in, uplink: internet}\n      - name: br-ex",
        ),
        (
            "      - name: br-in\n    vms:\n      - name: vm2",
            "      - {name: br-in, uplink: other}\n    vms:\n      - name: vm2",
        ),
    ]);
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_problem(
        &e[0],
        "hosts[1].bridges[0].uplink",
        &["\"internet\" and \"other\"", "one physical network"],
    );
}

#[test]
fn under_ovn_an_external_network_is_reached_from_a_host_uplinked_to_it() {
    let text = ovn(&[
        (
            "      - name: br-in\n    vms:\n      - name: vm2",
            "      - name: br-in\n      - name: br-x\n    vms:\n      - name: vm2",
        ),
        (
            "{bridge: br-in, vlan: 20, ip: 10.0.20.3/24}",
            "{bridge: br-x, ip: 198.51.100.3/24}",
        ),
        (
            "key: 5}\n",
            "key: 5}\n  - {type: vxlan, between: [node1/br-ex, node2/br-x], vni: 7}\n",
        ),
    ]);
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_problem(
        &e[0],
        "hosts[1].vms[1].nics[0]",
        &[
            "\"internet\"",
            "host \"node2\" has no bridge uplinked",
            "ovn",
        ],
    );
}

#[test]
fn under_ovn_snat_is_refused_on_a_router_with_a_third_interface() {
    let third = [(
        "          - {name: qg0,",
        "          - {name: qr1, bridge: br-in, vlan: 20, ip: 10.0.20.254/24}\n          - {name: qg0,",
    )];
    assert_valid(&edit(&third));
    let e = errors(&ovn(&third));
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_problem(
        &e[0],
        "hosts[0].routers[0].snat[0]",
        &["r1 has 3", "whatever interface"],
    );
}

#[test]
fn every_example_is_valid_under_ovn() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut spec = netloom_core::parse(&text).unwrap();
        spec.engine = Some(netloom_core::spec::Engine::Ovn);
        let c = netloom_core::validate(&spec).unwrap();
        // Only the tunnels' warnings.
        assert_eq!(
            c.warnings.len(),
            c.topology.tunnels.len(),
            "{:#?}",
            c.warnings
        );
    }
}

// `ovn`: an existing central that real hosts join (docs/topology-format.md,
// "An existing OVN central").

/// BASE under engine ovn, its two hosts real, joining the central `ovn`.
fn real_ovn(central: &str) -> String {
    ovn(&[
        (
            "  - name: node1\n",
            "  - name: node1\n    agent: https://172.31.0.1:7321\n    underlay_ip: 172.31.0.1\n",
        ),
        (
            "  - name: node2\n",
            "  - name: node2\n    agent: https://172.31.0.2:7321\n    underlay_ip: 172.31.0.2\n",
        ),
    ])
    .replacen("externals:", &format!("{central}externals:"), 1)
}

const CENTRAL: &str = "ovn:\n  northbound: ssl:10.0.0.9:6641\n  southbound: ssl:10.0.0.9:6642\n  private_key: /etc/netloom/ovn/privkey.pem\n  certificate: /etc/netloom/ovn/cert.pem\n  ca_certificate: /etc/netloom/ovn/cacert.pem\n";

#[test]
fn real_hosts_join_an_existing_central_by_address() {
    let t = load(&real_ovn(CENTRAL)).unwrap().topology;
    let c = t.ovn.expect("the central");
    assert_eq!(c.northbound.to_string(), "ssl:10.0.0.9:6641");
    assert_eq!(c.southbound.to_string(), "ssl:10.0.0.9:6642");
    assert_eq!(c.tls.unwrap().ca_certificate, "/etc/netloom/ovn/cacert.pem");
    // Plain TCP needs no files.
    let tcp = "ovn:\n  northbound: tcp:10.0.0.9:6641\n  southbound: tcp:10.0.0.9:6642\n";
    assert_eq!(
        load(&real_ovn(tcp)).unwrap().topology.ovn.unwrap().tls,
        None
    );
}

#[test]
fn a_central_is_refused_at_the_key_that_is_wrong() {
    for (from, to, path, words) in [
        (
            "ssl:10.0.0.9:6641",
            "10.0.0.9:6641",
            "ovn.northbound",
            &["not ssl:IP:PORT"][..],
        ),
        (
            "ssl:10.0.0.9:6642",
            "ssl:central:6642",
            "ovn.southbound",
            &["IPv4"][..],
        ),
        (
            "ssl:10.0.0.9:6642",
            "unix:/run/sb.sock",
            "ovn.southbound",
            &["not ssl:IP:PORT"][..],
        ),
        (
            "  private_key: /etc/netloom/ovn/privkey.pem\n",
            "",
            "ovn.private_key",
            &["required with an ssl: remote"][..],
        ),
        (
            "/etc/netloom/ovn/cert.pem",
            "cert.pem",
            "ovn.certificate",
            &["not an absolute path"][..],
        ),
        (
            "/etc/netloom/ovn/cacert.pem",
            "/etc/../dev/zero",
            "ovn.ca_certificate",
            &["`..`"][..],
        ),
        (
            "/etc/netloom/ovn/cacert.pem",
            "/dev/zero",
            "ovn.ca_certificate",
            &["/dev"][..],
        ),
    ] {
        let text = real_ovn(&CENTRAL.replacen(from, to, 1));
        let e = errors(&text);
        assert_eq!(e.len(), 1, "{to:?}: {e:#?}");
        assert_problem(&e[0], path, words);
    }
}

#[test]
fn a_central_needs_real_hosts_and_real_hosts_need_a_central() {
    // Emulated hosts join the sandbox's own central.
    let text = ovn(&[]).replacen("externals:", &format!("{CENTRAL}externals:"), 1);
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_problem(
        &e[0],
        "hosts[0]",
        &["\"node1\" is emulated", "only real hosts join"],
    );
    // Real hosts without one.
    let e = errors(&real_ovn(""));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_problem(&e[1], "hosts[1].agent", &["existing OVN central", "`ovn`"]);
    // Only under engine ovn.
    let text = edit(&[]).replacen("externals:", &format!("{CENTRAL}externals:"), 1);
    assert_one(&text, "ovn", &["only under `engine: ovn`"]);
}
