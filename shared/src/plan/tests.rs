use std::net::Ipv4Addr;

use super::*;
use crate::names;
use crate::topology::Topology;

const SEED: &str = include_str!("../../../examples/seedlab-gre.yaml");

fn topo(text: &str) -> Topology {
    crate::load(text).expect("valid").topology
}

fn full_plan(t: &Topology, observed: &State) -> Plan {
    let f = Facts::default();
    plan(&t.name, &targets(t, &f), &desired(t, &f), observed)
}

/// Every step of a plan as `plan` prints it, sorted.
fn sorted_steps(p: &Plan) -> Vec<String> {
    let mut steps: Vec<String> = p
        .targets
        .iter()
        .flat_map(|t| &t.steps)
        .map(|s| s.to_string())
        .collect();
    steps.sort();
    steps
}

/// The plan that adds a vm `vm9` with one `nic` to the last host of `lab`
/// over `deployed`; it only creates.
fn plan_with_vm9(lab: &str, nic: &str, deployed: &State) -> Plan {
    let added = topo(&lab.replacen(
        "tunnels:",
        &format!("      - name: vm9\n        nics:\n          - {nic}\ntunnels:"),
        1,
    ));
    let p = full_plan(&added, deployed);
    let steps: Vec<&Step> = p.targets.iter().flat_map(|t| &t.steps).collect();
    assert!(
        steps.iter().all(|s| s.action == Action::Create),
        "{steps:#?}"
    );
    p
}

#[test]
fn nothing_deployed_plans_every_resource_and_a_deployed_one_plans_nothing() {
    let t = topo(SEED);
    let want = desired(&t, &Facts::default());
    let p = full_plan(&t, &State::default());
    assert_eq!(p.len(), want.len());
    assert!(p
        .targets
        .iter()
        .flat_map(|t| &t.steps)
        .all(|s| s.action == Action::Create));
    assert!(full_plan(&t, &want).is_empty());
}

#[test]
fn a_vlan_change_is_one_port_update_and_a_new_vm_touches_nothing_else() {
    let t = topo(SEED);
    let deployed = desired(&t, &Facts::default());
    let changed = topo(&SEED.replacen(
        "vlan: 10, ip: 10.0.10.1/24",
        "vlan: 30, ip: 10.0.10.1/24",
        1,
    ));
    let p = full_plan(&changed, &deployed);
    assert_eq!(p.len(), 1, "{p:#?}");
    let s = &p.targets.iter().flat_map(|t| &t.steps).next().unwrap();
    assert_eq!(s.action, Action::Update);
    assert!(matches!(
        s.resource,
        Resource::OvsPort { tag: Some(30), .. }
    ));

    // Interface names come from guest indices (names.rs), so the new vm goes last.
    let p = plan_with_vm9(
        SEED,
        "{bridge: br-in, vlan: 10, ip: 10.0.10.9/24}",
        &deployed,
    );
    let steps: Vec<&Step> = p.targets.iter().flat_map(|t| &t.steps).collect();
    assert!(
        steps.iter().all(|s| s.resource.key().contains(".vm9")
            || matches!(
                &s.resource,
                Resource::OvsPort { .. } | Resource::Veth { .. }
            )),
        "{steps:#?}"
    );
    // netns, sysctl, veth, port, offload, addr
    assert_eq!(steps.len(), 6, "{steps:#?}");
}

const DHCP: &str = include_str!("../../../examples/dhcp.yaml");

/// A sandbox of `hosts` hosts with `vms` vms each, one VLAN.
fn big(hosts: usize, vms: usize) -> Topology {
    let mut t = String::from("version: 1\nname: big\nhosts:\n");
    for h in 0..hosts {
        t += &format!("  - name: h{h}\n    bridges:\n      - name: br\n    vms:\n");
        for v in 0..vms {
            t += &format!(
                "      - name: vm{h}-{v}\n        nics: [{{bridge: br, ip: 10.{h}.{v}.1/8}}]\n"
            );
        }
    }
    topo(&t)
}

#[test]
fn a_large_sandbox_grows_the_machines_neighbour_table_and_a_small_one_does_not() {
    assert_eq!(neigh_table_size(&topo(DHCP)), None);
    assert_eq!(neigh_table_size(&big(2, 10)), None, "400 entries fit 1024");
    // 200 interfaces: up to 40,000 entries.
    assert_eq!(neigh_table_size(&big(20, 10)), Some(65_536));
    let want = desired(&big(20, 10), &Facts::default());
    for key in NEIGH_TABLE_SYSCTLS {
        let r = Resource::Sysctl {
            netns: String::new(),
            key: key.into(),
            value: "65536".into(),
        };
        assert_eq!(want.targets[SANDBOX].get(&r.key()), Some(&r));
    }
}

fn reservations(st: &State) -> Vec<(String, Ipv4Addr)> {
    st.iter()
        .filter_map(|(_, r)| match r {
            Resource::DhcpHost { path, ip, .. } => {
                Some((path.rsplit('/').next().unwrap().to_string(), *ip))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn each_predicted_lease_is_reserved_on_its_server_and_a_new_client_adds_only_its_own() {
    let t = topo(DHCP);
    let deployed = desired(&t, &Facts::default());
    let want: Vec<(String, Ipv4Addr)> = crate::sim::dhcp::leases(&t)
        .iter()
        .map(|l| {
            let g = &t.guests[l.client];
            (
                format!("{}.{}", g.netns, g.ifaces[l.iface].name),
                l.addr.addr(),
            )
        })
        .collect();
    assert_eq!(want.len(), 2);
    let mut got = reservations(&deployed);
    got.sort();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(got, sorted);
    // On the server's host, in the directory its dnsmasq watches.
    let server_host = &deployed.targets["node1"];
    let hostsdir = server_host
        .values()
        .find_map(|r| match r {
            Resource::Dnsmasq { args, .. } => args
                .iter()
                .find_map(|a| a.strip_prefix("--dhcp-hostsdir="))
                .map(str::to_string),
            _ => None,
        })
        .expect("dnsmasq watches a hosts directory");
    assert!(server_host.values().all(|r| match r {
        Resource::DhcpHost { path, .. } =>
            path.starts_with(&format!("{hostsdir}/")) && dhcp_host_pidfile(path).is_some(),
        _ => true,
    }));

    let p = plan_with_vm9(DHCP, "{bridge: br-in, vlan: 10, ip: dhcp}", &deployed);
    let steps: Vec<&Step> = p.targets.iter().flat_map(|t| &t.steps).collect();
    assert!(
        !steps
            .iter()
            .any(|s| matches!(s.resource, Resource::Dnsmasq { .. })),
        "the server keeps running: {steps:#?}"
    );
    let new: Vec<&Step> = steps
        .iter()
        .copied()
        .filter(|s| matches!(s.resource, Resource::DhcpHost { .. }))
        .collect();
    assert_eq!(new.len(), 1, "{steps:#?}");
    assert!(new[0].resource.key().ends_with(".vm9.eth0"), "{new:#?}");
    // The next address of the range, as a client asking last would get it.
    let Resource::DhcpHost { ip, .. } = new[0].resource else {
        unreachable!()
    };
    let last = want.iter().map(|(_, ip)| *ip).max().unwrap();
    assert_eq!(u32::from(ip), u32::from(last) + 1);
    let script = shell_script(&p);
    assert!(
        script.contains(&format!(
            "dd of={}",
            new[0].resource.key().trim_start_matches("dhcp-host ")
        )),
        "{script}"
    );
}

const NO_LEASE: &str = include_str!("../../tests/labs/nolease.yaml");

#[test]
fn a_client_the_model_gives_no_lease_is_marked_and_a_server_for_it_re_creates_it() {
    let t = topo(NO_LEASE);
    let deployed = desired(&t, &Facts::default());
    let client =
        |vm: &str| &deployed.targets["node1"][&format!("dhcp-client nl-nolease.node1.{vm}/eth0")];
    let flag = |vm: &str| matches!(client(vm), Resource::DhcpClient { no_lease: true, .. });
    // vm2: no server in VLAN 20; vm4: the range's one address is vm3's.
    assert_eq!(["vm2", "vm3", "vm4"].map(flag), [true, false, true]);
    assert_eq!(reservations(&deployed).len(), 1);
    assert!(full_plan(&t, &deployed).is_empty());

    // The flag is in the JSON only when set; a plan without it reads as "a lease".
    let json = |vm: &str| serde_json::to_value(client(vm)).unwrap();
    assert_eq!(json("vm2")["no_lease"], true);
    assert!(json("vm3").get("no_lease").is_none(), "{}", json("vm3"));
    let mut old = json("vm4");
    old.as_object_mut().unwrap().remove("no_lease");
    assert!(matches!(
        serde_json::from_value(old).unwrap(),
        Resource::DhcpClient {
            no_lease: false,
            ..
        }
    ));

    // A wider range gives vm4 a lease: its client is re-made as one that waits for it.
    // (The server restarts with the new range.)
    let wider = topo(&NO_LEASE.replace(
        "range: [10.0.10.100, 10.0.10.100]",
        "range: [10.0.10.100, 10.0.10.101]",
    ));
    let p = full_plan(&wider, &deployed);
    let steps = sorted_steps(&p);
    let vm4 = "nl-nolease.node1.vm4";
    assert_eq!(
        steps,
        [
            format!("+ dhcp-client {vm4}/eth0"),
            format!("+ dhcp-host /run/netloom/nolease/node1/dhcp-dhcp10.hosts/{vm4}.eth0"),
            format!("- dhcp-client {vm4}/eth0"),
            "~ dnsmasq nl-nolease.node1.dhcp.dhcp10/dhcp-dhcp10".to_string(),
        ]
    );
}

#[test]
fn the_script_starts_a_no_lease_client_in_the_background_and_stops_it_by_its_pidfile() {
    let t = topo(NO_LEASE);
    let p = full_plan(&t, &State::default());
    let script = shell_script(&p);
    let pidfile = dhcp_client_pidfile("nolease", "nl-nolease.node1.vm2", "eth0");
    assert_eq!(
        pidfile,
        "/run/netloom/nolease/leases/nl-nolease.node1.vm2.eth0.pid"
    );
    let vm2 = script
        .lines()
        .find(|l| l.contains("udhcpc") && l.contains(".vm2 "))
        .unwrap();
    assert!(
        vm2.ends_with(&format!(
            " -b -t 1 -T 1 -A 5 -s /run/netloom/nolease/udhcpc.script -p {pidfile}"
        )),
        "{vm2}"
    );
    let vm3 = script
        .lines()
        .find(|l| l.contains("udhcpc") && l.contains(".vm3 "))
        .unwrap();
    assert!(vm3.contains(" -n -q ") && !vm3.contains(" -p "), "{vm3}");
    // Clients in file order, the background ones included.
    let order: Vec<usize> = ["vm2", "vm3", "vm4"]
        .iter()
        .map(|v| script.find(&format!(".{v} busybox udhcpc")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{script}");

    let tinfo = targets(&t, &Facts::default());
    let vm2 = desired(&t, &Facts::default()).targets["node1"]
        ["dhcp-client nl-nolease.node1.vm2/eth0"]
        .clone();
    let stop = commands(
        &Step {
            action: Action::Delete,
            resource: vm2,
            was: None,
        },
        &tinfo[1],
        "nolease",
    );
    assert_eq!(stop[0], ["pkill", "-F", pidfile.as_str()]);
}

#[test]
fn destroy_deletes_namespaces_and_processes_but_not_what_goes_with_them() {
    let t = topo(SEED);
    let deployed = desired(&t, &Facts::default());
    let p = plan(
        &t.name,
        &targets(&t, &Facts::default()),
        &State::default(),
        &deployed,
    );
    let steps: Vec<&Step> = p.targets.iter().flat_map(|t| &t.steps).collect();
    assert!(steps.iter().all(|s| s.action == Action::Delete));
    assert!(steps
        .iter()
        .any(|s| matches!(s.resource, Resource::OvsDaemons { .. })));
    assert!(!steps.iter().any(|s| matches!(
        s.resource,
        Resource::Addr { .. } | Resource::TxOffloadOff { .. }
    )));
    // Hosts' deletions run before the sandbox removes their namespaces.
    let order = execution_order(&p);
    let last = order.last().unwrap();
    assert_eq!(p.targets[last.0].target.name, SANDBOX);
}

#[test]
fn a_real_host_uses_the_ovsdb_its_agent_reports() {
    let t = topo("version: 1\nname: r\nhosts:\n  - name: a\n    agent: https://10.0.0.1:7311\n  - name: b\n    agent: https://10.0.0.2:7311\n");
    let mut f = Facts::default();
    f.ovsdb.insert("a".into(), "/tmp/a/db.sock".into());
    let ts = targets(&t, &f);
    assert_eq!(ts[1].ovsdb, "/tmp/a/db.sock");
    assert_eq!(ts[2].ovsdb, SYSTEM_OVSDB);
    // Facts recorded before the field existed still read.
    let old: Facts = serde_json::from_str(r#"{"kernel_datapath": ["b"]}"#).unwrap();
    assert!(old.ovsdb.is_empty() && old.kernel_datapath.contains("b"));
}

const REAL_PAIR: &str = "version: 1\nname: r\nunderlay: 10.1.0.0/24\nhosts:\n  - name: a\n    underlay_ip: 10.1.0.1\n    agent: https://10.1.0.1:7311\n    bridges: [{name: br}]\n  - name: b\n    underlay_ip: 10.1.0.2\n    agent: https://10.1.0.2:7311\n    bridges: [{name: br}]\n  - name: c\n    bridges: [{name: br}]\ntunnels:\n  - {type: vxlan, between: [a/br, b/br], vni: 7}\n  - {type: gre, between: [b/br, c/br]}\n";

#[test]
fn a_userspace_real_hosts_vxlan_is_a_kernel_device_on_an_ovs_port() {
    let t = topo(REAL_PAIR);
    let want = desired(&t, &Facts::default());
    let a = &want.targets["a"];
    let port = &t.tunnels[0].ports[0];
    assert_eq!(
        a[&format!("link /{port}")],
        Resource::VxlanLink {
            netns: String::new(),
            name: port.clone(),
            vni: 7,
            local: "10.1.0.1".parse().unwrap(),
            remote: "10.1.0.2".parse().unwrap(),
        }
    );
    assert!(matches!(
        &a[&format!("ovs-port {port}")],
        Resource::OvsPort {
            iface: OvsIface::System,
            tag: None,
            ..
        }
    ));
    // With the kernel datapath, OVS makes the tunnel itself.
    let mut f = Facts::default();
    f.kernel_datapath.insert("a".into());
    let want = desired(&t, &f);
    assert!(!want.targets["a"].contains_key(&format!("link /{port}")));
    assert!(matches!(
        &want.targets["a"][&format!("ovs-port {port}")],
        Resource::OvsPort {
            iface: OvsIface::Vxlan { vni: 7, .. },
            ..
        }
    ));
    // A changed VNI re-creates the device; the port stays as it is.
    let deployed = desired(&t, &Facts::default());
    let changed = topo(&REAL_PAIR.replace("vni: 7", "vni: 8"));
    let p = full_plan(&changed, &deployed);
    let steps = sorted_steps(&p);
    let mut expected: Vec<String> = t.tunnels[0]
        .ports
        .iter()
        .flat_map(|p| [format!("+ link /{p}"), format!("- link /{p}")])
        .collect();
    expected.sort();
    assert_eq!(steps, expected);
    assert!(shell_script(&full_plan(&t, &State::default()))
        .contains(&format!("ip link add {port} mtu 1450 type vxlan id 7 local 10.1.0.1 remote 10.1.0.2 dstport 4789 nolearning df set")));
}

#[test]
fn a_real_host_has_its_own_run_directory() {
    let t = topo(REAL_PAIR);
    let want = desired(&t, &Facts::default());
    let dir = format!("dir {}", names::run_dir("r"));
    for target in [SANDBOX, "a", "b"] {
        assert!(want.targets[target].contains_key(&dir), "{target}");
    }
    // An emulated host's files are the sandbox machine's.
    assert!(!want.targets["c"].contains_key(&dir));
}

#[test]
fn gre_on_a_userspace_real_host_and_emulated_to_real_tunnels_are_refused_by_name() {
    let t = topo(&REAL_PAIR.replace(
        "{type: vxlan, between: [a/br, b/br], vni: 7}",
        "{type: gre, between: [a/br, b/br]}",
    ));
    let u = unsupported(&t, &Facts::default());
    let hosts: Vec<&str> = u.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(hosts, ["a", "b", "b"], "{u:?}");
    assert!(
        u[0].1
            .starts_with("tunnels[0]: a GRE tunnel cannot end on real host a"),
        "{u:?}"
    );
    assert!(
        u[2].1
            .starts_with("tunnels[1]: emulated host c cannot reach real host b"),
        "{u:?}"
    );
    // With the kernel datapath OVS makes GRE itself; the emulated underlay still reaches nothing real.
    let mut f = Facts::default();
    f.kernel_datapath.extend(["a".to_string(), "b".to_string()]);
    let u = unsupported(&t, &f);
    assert_eq!(u.len(), 1, "{u:?}");
    assert!(u[0].1.starts_with("tunnels[1]: "), "{u:?}");
}

/// REAL_PAIR with external network `x` uplinked from host `h`'s bridge.
fn with_external(h: &str) -> Topology {
    let y = REAL_PAIR.replace(
        "hosts:\n",
        "externals: [{name: x, gateway: 192.0.2.1/24}]\nhosts:\n",
    );
    let at = y.find(&format!("  - name: {h}\n")).unwrap();
    let br = at + y[at..].find("[{name: br}]").unwrap();
    let mut y = y;
    y.replace_range(br..br + 12, "[{name: br, uplink: x}]");
    topo(&y)
}

#[test]
fn an_external_network_lives_on_the_real_host_that_uplinks_to_it() {
    let t = with_external("a");
    assert_eq!(external_host(&t, 0), Some(0));
    let mut f = Facts::default();
    f.kernel_datapath.insert("a".into());
    let want = desired(&t, &f);
    let ns = format!("netns {}", t.externals[0].netns);
    assert!(want.targets["a"].contains_key(&ns));
    assert!(!want.targets[SANDBOX].contains_key(&ns));
    // The uplink's veth is on that host too; the kernel datapath needs no offload change.
    let port = t.bridges[0].uplink_port.clone().unwrap();
    assert!(want.targets["a"].contains_key(&format!("link /{port}")));
    assert!(!want.targets["a"]
        .values()
        .any(|r| matches!(r, Resource::TxOffloadOff { .. })));
    let u = unsupported(&t, &f);
    assert!(!u.iter().any(|(_, m)| m.starts_with("externals")), "{u:?}");
    // Uplinked from emulated host c only: this machine, as before.
    let t = with_external("c");
    assert_eq!(external_host(&t, 0), None);
    let want = desired(&t, &Facts::default());
    assert!(want.targets[SANDBOX].contains_key(&format!("netns {}", t.externals[0].netns)));
}

#[test]
fn an_external_network_uplinked_from_two_machines_is_refused_by_name() {
    // Real host a and, apart from it, emulated host c (so no loop of bridges).
    let t = topo(
        "version: 1\nname: r\nexternals: [{name: x, gateway: 192.0.2.1/24}]\nhosts:\n  \
         - name: a\n    agent: https://10.1.0.1:7311\n    bridges: [{name: br, uplink: x}]\n  \
         - name: c\n    bridges: [{name: br, uplink: x}]\n",
    );
    assert_eq!(external_host(&t, 0), None);
    let u = unsupported(&t, &Facts::default());
    assert_eq!(
        u,
        [(
            "a".to_string(),
            "externals[0]: x is uplinked from real host a and from other hosts; an external \
             network is emulated on one machine, so uplink it from one real host only"
                .to_string()
        )]
    );
}

#[test]
fn inverse_of_an_update_restores_the_old_value() {
    let old = Resource::Sysctl {
        netns: "a".into(),
        key: "k".into(),
        value: "0".into(),
    };
    let new = Resource::Sysctl {
        netns: "a".into(),
        key: "k".into(),
        value: "1".into(),
    };
    let s = Step {
        action: Action::Update,
        resource: new.clone(),
        was: Some(old.clone()),
    };
    assert_eq!(s.inverse().resource, old);
    assert_eq!(s.inverse().inverse(), s);
}

#[test]
fn shell_export_quotes_and_contains_the_core_commands() {
    let t = topo(SEED);
    let s = shell_script(&full_plan(&t, &State::default()));
    assert!(s.contains("ip netns add nl-seedlab.node1\n"));
    // IPv6 off before any device is there, as apply does.
    assert!(s.contains("ip netns add nl-seedlab.node1\nip netns exec nl-seedlab.node1 sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1\n"));
    assert!(s.contains("options:key=5"));
    assert!(s.contains("tag=10"));
    // Every row is marked, as apply marks them: destroy takes the script's work away too.
    let rows = s
        .lines()
        .filter(|l| l.contains(" add-br ") || l.contains(" add-port "));
    assert!(rows
        .clone()
        .all(|l| l.contains("external_ids:netloom-topology=seedlab")));
    // 2 bridges and 4 ports (2 vms, the tunnel, the underlay) per host.
    assert_eq!(rows.count(), 12);
    assert_eq!(sh_quote("a b'c"), r"'a b'\''c'");
}

/// Two real hosts joining an existing central over TLS (engine `ovn`).
const REAL_OVN: &str = "version: 1\nname: r\nengine: ovn\nunderlay: 10.1.0.0/24\novn:\n  northbound: ssl:10.1.0.9:6641\n  southbound: ssl:10.1.0.9:6642\n  private_key: /etc/k.pem\n  certificate: /etc/c.pem\n  ca_certificate: /etc/ca.pem\nhosts:\n  - name: a\n    underlay_ip: 10.1.0.1\n    agent: https://10.1.0.1:7311\n    bridges: [{name: br}]\n    vms:\n      - {name: vm1, nics: [{bridge: br, ip: 10.0.0.1/24}]}\n  - name: b\n    underlay_ip: 10.1.0.2\n    agent: https://10.1.0.2:7311\n    bridges: [{name: br}]\n    vms:\n      - {name: vm2, nics: [{bridge: br, ip: 10.0.0.2/24}]}\ntunnels:\n  - {type: vxlan, between: [a/br, b/br], vni: 7}\n";

#[test]
fn real_hosts_under_an_existing_central_are_its_chassis() {
    let t = topo(REAL_OVN);
    let mut f = Facts::default();
    f.kernel_datapath.insert("a".into());
    let want = desired(&t, &f);
    // No central of the sandbox's own, no tunnel ports: OVN makes the mesh.
    assert!(want.targets[SANDBOX]
        .values()
        .all(|r| !matches!(r, Resource::OvnCentral { .. })));
    let a = &want.targets["a"];
    assert!(a.values().all(|r| !matches!(r, Resource::VxlanLink { .. })));
    let int = names::ovn_bridge(&names::topology_tag("r"));
    assert_eq!(
        a[&format!("ovs-bridge {int}")],
        Resource::OvsBridge {
            name: int.clone(),
            datapath: "system".into()
        }
    );
    let Resource::OvnChassis { chassis } = &a["ovn-chassis"] else {
        panic!("{a:?}")
    };
    assert_eq!(chassis.chassis.system_id, "r.a");
    assert_eq!(chassis.remote, "ssl:10.1.0.9:6642");
    assert_eq!(chassis.chassis.encap_ip.to_string(), "10.1.0.1");
    assert_eq!(
        (chassis.bridge.as_str(), chassis.datapath.as_str()),
        (int.as_str(), "system")
    );
    let dir = names::ovn_controller_dir("r");
    assert_eq!(
        a[&format!("ovn-controller {dir}")],
        Resource::OvnController {
            dir: dir.clone(),
            tls: t.ovn.as_ref().unwrap().tls.clone()
        }
    );
    // The bridge before the chassis' keys, the keys before the daemon.
    let rank = |k: &str| a[k].rank();
    assert!(rank(&format!("ovs-bridge {int}")) < rank("ovn-chassis"));
    assert!(rank("ovn-chassis") < rank(&format!("ovn-controller {dir}")));
    // The script sets the keys on the host's OVSDB and starts the daemon with the TLS files.
    let p = plan(&t.name, &targets(&t, &f), &want, &State::default());
    let script = shell_script(&p);
    assert!(
        script.contains("external_ids:ovn-remote=ssl:10.1.0.9:6642"),
        "{script}"
    );
    assert!(script.contains("external_ids:netloom-ovn=r"), "{script}");
    assert!(
        script.contains("--private-key=/etc/k.pem --certificate=/etc/c.pem --ca-cert=/etc/ca.pem"),
        "{script}"
    );
}

/// The seed lab deployed, its first host's name and namespace, and that
/// host's daemons (the sandbox's resource, in the host's namespace).
fn seed_deployed() -> (Topology, State, String, String, Resource) {
    let t = topo(SEED);
    let want = desired(&t, &Facts::default());
    let host = t.hosts[0].name.clone();
    let netns = names::host_netns(&t.name, &host);
    let daemons = want.targets[SANDBOX]
        .values()
        .find(|r| matches!(r, Resource::OvsDaemons { netns: n, .. } if *n == netns))
        .cloned()
        .unwrap();
    (t, want, host, netns, daemons)
}

/// `deployed` with `host`'s daemons gone (one of them died).
fn half_gone(deployed: &State, daemons: &Resource) -> State {
    let mut s = deployed.clone();
    s.targets.get_mut(SANDBOX).unwrap().remove(&daemons.key());
    s
}

/// An emulated host's daemons start on a new database: the rows the old
/// one held are made again, whether the daemons were half gone (one of
/// them died) or are replaced (their configuration changed), and so is the
/// address on its bridge's own device.
#[test]
fn rows_of_an_emulated_host_whose_daemons_restart_are_made_again() {
    let (t, want, host, netns, daemons) = seed_deployed();
    let rows = |p: &Plan| -> Vec<String> {
        let mut made: Vec<String> = (p.targets.iter())
            .flat_map(|tp| tp.steps.iter().map(move |s| (tp, s)))
            .filter(|(_, s)| s.action == Action::Create && s.resource.is_ovs_row())
            .map(|(tp, s)| format!("{} {}", tp.target.name, s.resource.key()))
            .collect();
        made.sort();
        made
    };
    let mut expected: Vec<String> = (want.targets[&host].values())
        .filter(|r| r.is_ovs_row())
        .map(|r| format!("{host} {}", r.key()))
        .collect();
    expected.sort();
    assert!(expected.len() > 2, "{expected:?}");

    let p = full_plan(&t, &half_gone(&want, &daemons));
    assert_eq!(rows(&p), expected);
    let addrs: Vec<String> = (p.targets.iter().flat_map(|tp| &tp.steps))
        .filter(|s| matches!(s.resource, Resource::Addr { .. }))
        .map(|s| s.to_string())
        .collect();
    assert_eq!(addrs.len(), 1, "{addrs:?}");
    assert!(
        addrs[0].starts_with(&format!("+ addr {netns}/")),
        "{addrs:?}"
    );

    let mut replaced = want.clone();
    let Resource::OvsDaemons { netns, ovn, .. } = daemons.clone() else {
        unreachable!()
    };
    let other = Resource::OvsDaemons {
        netns,
        dir: "/run/netloom/elsewhere".into(),
        ovn,
    };
    (replaced.targets.get_mut(SANDBOX).unwrap()).insert(daemons.key(), other);
    let p = full_plan(&t, &replaced);
    assert_eq!(rows(&p), expected);
    // Only creations for the rows: nothing is asked of the old database.
    assert!((p.targets.iter().flat_map(|tp| &tp.steps))
        .all(|s| !(s.resource.is_ovs_row() && s.action == Action::Delete)));
}

/// An address no longer wanted on a restarted host's bridge device (its
/// underlay address edited meanwhile) is deleted, not left on the device,
/// and the wanted one made.
#[test]
fn a_stale_address_on_a_restarted_hosts_bridge_is_deleted() {
    let (t, want, host, netns, daemons) = seed_deployed();
    let mut moved = half_gone(&want, &daemons);
    let node = moved.targets.get_mut(&host).unwrap();
    let (k, old) = (node.iter())
        .find(|(_, r)| matches!(r, Resource::Addr { netns: n, .. } if *n == netns))
        .map(|(k, r)| (k.clone(), r.clone()))
        .unwrap();
    let Resource::Addr { dev, .. } = old else {
        unreachable!()
    };
    node.remove(&k);
    let stale = Resource::Addr {
        netns: netns.clone(),
        dev,
        cidr: "172.31.0.99/24".parse().unwrap(),
    };
    node.insert(stale.key(), stale.clone());
    let p = full_plan(&t, &moved);
    let steps: Vec<&Step> = (p.targets.iter().flat_map(|tp| &tp.steps))
        .filter(|s| matches!(s.resource, Resource::Addr { .. }))
        .collect();
    assert_eq!(steps.len(), 2, "{steps:#?}");
    assert!(steps
        .iter()
        .any(|s| s.action == Action::Delete && s.resource == stale));
    assert!(steps
        .iter()
        .any(|s| s.action == Action::Create && s.resource.key() == k));
}

/// Under engine ovn in the sandbox: the central is started (its northbound
/// transaction then planned against an empty database) on a first apply and
/// when found gone, not while it runs; a chassis whose daemons start again
/// gets its ports made again, as any emulated host.
#[test]
fn an_ovn_central_or_chassis_started_again_is_made_whole() {
    let t = topo(&SEED.replacen("version: 1\n", "version: 1\nengine: ovn\n", 1));
    let want = desired(&t, &Facts::default());
    assert!(full_plan(&t, &State::default()).starts_ovn_central());
    assert!(!full_plan(&t, &want).starts_ovn_central());
    let is = |r: &Resource, kind: fn(&Resource) -> bool| kind(r);
    let without = |kind: fn(&Resource) -> bool, netns: Option<&str>| {
        let mut s = want.clone();
        s.targets
            .get_mut(SANDBOX)
            .unwrap()
            .retain(|_, r| !(is(r, kind) && netns.is_none_or(|n| r.netns() == Some(n))));
        s
    };
    let central = |r: &Resource| matches!(r, Resource::OvnCentral { .. });
    let daemons = |r: &Resource| matches!(r, Resource::OvsDaemons { .. });
    assert!(full_plan(&t, &without(central, None)).starts_ovn_central());
    let netns = names::host_netns(&t.name, &t.hosts[0].name);
    let p = full_plan(&t, &without(daemons, Some(&netns)));
    assert!(!p.starts_ovn_central());
    let ports: Vec<&Resource> = (p.targets.iter().flat_map(|tp| &tp.steps))
        .filter(|s| s.action == Action::Create)
        .map(|s| &s.resource)
        .filter(|r| {
            matches!(
                r,
                Resource::OvsPort {
                    iface: OvsIface::Vif { .. },
                    ..
                }
            )
        })
        .collect();
    let guests = t.hosts[0].guests.len();
    assert!(guests > 0 && ports.len() == guests, "{ports:#?}");
}
