//! A plan as commands: each step as the argv a person would type, and the
//! whole plan as a shell script (`netloom export --shell`).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::*;
use crate::names;
use crate::topology::Mac;

/// Quote one argument for a POSIX shell (only `export --shell` builds shell text).
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The equivalent commands of a step, as argv lists (`ip`, `ovs-vsctl`, `nft`, ...).
/// `target` gives the OVSDB socket and the host namespace for OVS and daemons;
/// `topology` marks the OVS rows. An argv `["<<", TEXT]` is the previous command's standard input.
pub fn commands(step: &Step, target: &TargetInfo, topology: &str) -> Vec<Vec<String>> {
    let del = step.action == Action::Delete;
    match &step.resource {
        Resource::RunDir { path } => run_dir(del, path),
        Resource::Netns { name } => netns(del, name),
        // The script does the hosts' steps itself: no agent.
        Resource::Agent { .. } => vec![],
        Resource::OvsDaemons { netns, dir, ovn } => {
            let mut c = ovs_daemons(del, netns, dir, ovn.is_some());
            if let Some(ch) = ovn {
                ovn_chassis(&mut c, del, netns, dir, ch, topology);
            }
            c
        }
        Resource::OvnCentral { dir } => ovn_central(del, dir),
        Resource::OvnChassis { chassis } => real_chassis(del, target, chassis, topology),
        Resource::OvnController { dir, tls } => ovn_controller(del, target, dir, tls.as_ref()),
        Resource::Segment { netns, name, mac } => segment(del, netns, name, mac),
        Resource::Veth {
            netns,
            name,
            peer_netns,
            peer,
            peer_mac,
            peer_master,
        } => veth(del, netns, name, peer_netns, peer, peer_mac, peer_master),
        Resource::VxlanLink {
            netns,
            name,
            vni,
            local,
            remote,
        } => vxlan_link(del, topology, netns, name, vni, local, remote),
        Resource::OvsBridge { name, datapath } => {
            ovs_bridge(step.action, target, topology, name, datapath)
        }
        Resource::OvsPort {
            bridge,
            name,
            tag,
            iface,
        } => ovs_port(step, target, topology, bridge, name, tag, iface),
        Resource::TxOffloadOff { netns, dev } => {
            if del {
                vec![]
            } else {
                vec![inns(netns, v(&["ethtool", "-K", dev, "tx", "off"]))]
            }
        }
        Resource::Sysctl { netns, key, value } => sysctl(del, netns, key, value),
        Resource::Addr { netns, dev, cidr } => addr(del, netns, dev, cidr),
        Resource::Route { netns, to, via } => route(del, netns, to, via),
        Resource::Nft { netns, ruleset } => nft(del, netns, ruleset),
        Resource::Dnsmasq { netns, args, name } => dnsmasq(step.action, netns, args, name),
        Resource::DhcpHost { path, mac, ip } => dhcp_host(step.action, path, mac, ip),
        Resource::DhcpClient {
            netns,
            dev,
            no_lease,
            ..
        } => dhcp_client(del, topology, netns, dev, *no_lease),
    }
}

/// The commands of a RunDir step.
fn run_dir(del: bool, path: &str) -> Vec<Vec<String>> {
    if del {
        vec![v(&["rm", "-rf", path])]
    } else {
        // udhcpc runs a script on a lease; this one configures it as netloom does.
        let script = format!("{path}/udhcpc.script");
        vec![
            v(&["mkdir", "-p", path]),
            v(&["dd", &format!("of={script}"), "status=none"]),
            v(&["<<", EXPORT_UDHCPC_SCRIPT]),
            v(&["chmod", "755", &script]),
        ]
    }
}

/// The commands of a Netns step.
fn netns(del: bool, name: &str) -> Vec<Vec<String>> {
    if del {
        vec![v(&["ip", "netns", "delete", name])]
    } else {
        vec![
            v(&["ip", "netns", "add", name]),
            inns(
                name,
                v(&["sysctl", "-q", "-e", "-w", NO_IPV6[0], NO_IPV6[1]]),
            ),
            ip(name, &["link", "set", "lo", "up"]),
        ]
    }
}

/// The commands of an OvsBridge step.
fn ovs_bridge(
    action: Action,
    target: &TargetInfo,
    topology: &str,
    name: &str,
    datapath: &str,
) -> Vec<Vec<String>> {
    match action {
        Action::Delete => vec![vsctl(target, v(&["--if-exists", "del-br", name]))],
        Action::Create => {
            let mut a = v(&[
                "add-br",
                name,
                "--",
                "set",
                "bridge",
                name,
                &format!("datapath_type={datapath}"),
                &format!("external_ids:{OVS_OWNER_KEY}={topology}"),
            ]);
            // An OVN chassis' integration bridge is made with its daemons
            // (see `ovn_chassis`), before ovn-controller starts.
            if name == names::ovn_bridge(&names::topology_tag(topology)) {
                a.insert(0, "--may-exist".to_string());
            }
            vec![vsctl(target, a)]
        }
        Action::Update => vec![vsctl(
            target,
            v(&["set", "bridge", name, &format!("datapath_type={datapath}")]),
        )],
    }
}

/// The commands of a Sysctl step.
fn sysctl(del: bool, netns: &str, key: &str, value: &str) -> Vec<Vec<String>> {
    if del {
        vec![]
    } else {
        vec![inns(
            netns,
            v(&[
                "sysctl",
                "-q",
                "-w",
                &format!("{}={value}", key.replace('/', ".")),
            ]),
        )]
    }
}

/// The commands of an Addr step.
fn addr(del: bool, netns: &str, dev: &str, cidr: &Ipv4Net) -> Vec<Vec<String>> {
    if del {
        vec![ip(netns, &["addr", "del", &cidr.to_string(), "dev", dev])]
    } else {
        vec![
            ip(netns, &["addr", "add", &cidr.to_string(), "dev", dev]),
            ip(netns, &["link", "set", dev, "up"]),
        ]
    }
}

/// The commands of a Route step.
fn route(del: bool, netns: &str, to: &Option<Ipv4Net>, via: &Ipv4Addr) -> Vec<Vec<String>> {
    let to = to.map_or_else(|| "default".to_string(), |t| t.to_string());
    if del {
        vec![ip(netns, &["route", "del", &to])]
    } else {
        vec![ip(
            netns,
            &["route", "replace", &to, "via", &via.to_string()],
        )]
    }
}

/// The commands of an Nft step.
fn nft(del: bool, netns: &str, ruleset: &str) -> Vec<Vec<String>> {
    if del {
        vec![inns(netns, v(&["nft", "delete", "table", "ip", "netloom"]))]
    } else {
        // `export` writes the JSON as a here-document; see `shell_script`.
        vec![
            inns(netns, v(&["nft", "-j", "-f", "-"])),
            v(&["<<", ruleset]),
        ]
    }
}

/// The commands of a Dnsmasq step.
fn dnsmasq(action: Action, netns: &str, args: &[String], name: &str) -> Vec<Vec<String>> {
    let dir = args
        .iter()
        .find_map(|a| a.strip_prefix("--pid-file="))
        .map(|p| p.trim_end_matches(&format!("/{name}.pid")).to_string())
        .unwrap_or_default();
    let stop = v(&["pkill", "-F", &format!("{dir}/{name}.pid")]);
    if action == Action::Delete {
        vec![stop]
    } else {
        let mut a = v(&["dnsmasq"]);
        a.extend(args.iter().cloned());
        let mut o = Vec::new();
        if action == Action::Update {
            o.push(stop);
        }
        if let Some(d) = dnsmasq_hosts_dir(args) {
            o.push(v(&["mkdir", "-p", d]));
        }
        o.push(inns(netns, a));
        o
    }
}

/// The commands of a DhcpHost step.
fn dhcp_host(action: Action, path: &str, mac: &Mac, ip: &Ipv4Addr) -> Vec<Vec<String>> {
    if action == Action::Delete {
        vec![v(&["rm", "-f", path])]
    } else {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let mut o = vec![
            v(&["mkdir", "-p", dir]),
            v(&["dd", &format!("of={path}"), "status=none"]),
            v(&["<<", &format!("{mac},{ip}")]),
        ];
        // dnsmasq reads new files by itself; a changed one only on SIGHUP.
        if let (Action::Update, Some(pid)) = (action, dhcp_host_pidfile(path)) {
            o.push(v(&["pkill", "-HUP", "-F", &pid]));
        }
        o
    }
}

/// The commands of a DhcpClient step.
fn dhcp_client(
    del: bool,
    topology: &str,
    netns: &str,
    dev: &str,
    no_lease: bool,
) -> Vec<Vec<String>> {
    let script = format!("{}/udhcpc.script", names::run_dir(topology));
    let pidfile = dhcp_client_pidfile(topology, netns, dev);
    if del {
        let mut o = Vec::new();
        if no_lease {
            o.push(v(&["pkill", "-F", &pidfile]));
        }
        o.push(ip(netns, &["addr", "flush", "dev", dev]));
        o
    } else if no_lease {
        let dir = pidfile.rsplit_once('/').map_or("", |(d, _)| d);
        vec![
            v(&["mkdir", "-p", dir]),
            inns(netns, background_dhcp_client(dev, &script, &pidfile)),
        ]
    } else {
        vec![inns(
            netns,
            v(&[
                "busybox", "udhcpc", "-i", dev, "-n", "-q", "-f", "-t", "6", "-T", "1", "-s",
                &script,
            ]),
        )]
    }
}

/// The commands of an OvsDaemons step; `ovn`: the host is an OVN chassis,
/// whose switch keeps the defaults ([`EMULATED_OVS_TUNING`]).
fn ovs_daemons(del: bool, netns: &str, dir: &str, ovn: bool) -> Vec<Vec<String>> {
    if del {
        vec![
            inns(
                netns,
                v(&["ovs-appctl", "-t", &format!("{dir}/vswitchd.ctl"), "exit"]),
            ),
            inns(
                netns,
                v(&["ovs-appctl", "-t", &format!("{dir}/ovsdb.ctl"), "exit"]),
            ),
            v(&["rm", "-rf", dir]),
        ]
    } else {
        let db = format!("{dir}/conf.db");
        let sock = format!("unix:{dir}/db.sock");
        vec![
            v(&["mkdir", "-p", dir]),
            v(&[
                "ovsdb-tool",
                "create",
                &db,
                "/usr/share/openvswitch/vswitch.ovsschema",
            ]),
            // Each host's sockets in its own directory, as apply does.
            inns(
                netns,
                v(&[
                    "env",
                    &format!("OVS_RUNDIR={dir}"),
                    "ovsdb-server",
                    &db,
                    &format!("--remote=p{sock}"),
                    &format!("--pidfile={dir}/ovsdb.pid"),
                    &format!("--unixctl={dir}/ovsdb.ctl"),
                    &format!("--log-file={dir}/ovsdb.log"),
                    "--detach",
                ]),
            ),
            inns(netns, {
                let mut a = v(&["ovs-vsctl", &format!("--db={sock}"), "--no-wait", "init"]);
                if !ovn {
                    a.extend(v(&["--", "set", "Open_vSwitch", "."]));
                    a.extend(EMULATED_OVS_TUNING.map(|(k, v)| format!("other_config:{k}={v}")));
                }
                a
            }),
            inns(
                netns,
                v(&[
                    "env",
                    &format!("OVS_RUNDIR={dir}"),
                    "ovs-vswitchd",
                    &sock,
                    &format!("--pidfile={dir}/vswitchd.pid"),
                    &format!("--unixctl={dir}/vswitchd.ctl"),
                    &format!("--log-file={dir}/vswitchd.log"),
                    "--detach",
                ]),
            ),
        ]
    }
}

/// The commands of a Segment step.
fn segment(del: bool, netns: &str, name: &str, mac: &Option<Mac>) -> Vec<Vec<String>> {
    if del {
        vec![ip(netns, &["link", "del", name])]
    } else {
        let mut a = ip(netns, &["link", "add", name]);
        if let Some(m) = mac {
            a.extend(v(&["address", &m.to_string()]));
        }
        a.extend(v(&["type", "bridge"]));
        vec![a, ip(netns, &["link", "set", name, "up"])]
    }
}

/// The commands of a Veth step.
fn veth(
    del: bool,
    netns: &str,
    name: &str,
    peer_netns: &str,
    peer: &str,
    peer_mac: &Option<Mac>,
    peer_master: &Option<String>,
) -> Vec<Vec<String>> {
    if del {
        vec![ip(netns, &["link", "del", name])]
    } else {
        let mut a = ip(
            netns,
            &["link", "add", name, "type", "veth", "peer", "name", peer],
        );
        if let Some(m) = peer_mac {
            a.extend(v(&["address", &m.to_string()]));
        }
        if peer_netns != netns {
            a.extend(v(&["netns", peer_netns]));
        }
        let mut o = vec![a, ip(netns, &["link", "set", name, "up"])];
        if let Some(m) = peer_master {
            o.push(ip(peer_netns, &["link", "set", peer, "master", m]));
        }
        o.push(ip(peer_netns, &["link", "set", peer, "up"]));
        o
    }
}

/// The commands of a VxlanLink step.
fn vxlan_link(
    del: bool,
    topology: &str,
    netns: &str,
    name: &str,
    vni: &u32,
    local: &Ipv4Addr,
    remote: &Ipv4Addr,
) -> Vec<Vec<String>> {
    if del {
        vec![ip(netns, &["link", "del", name])]
    } else {
        vec![
            ip(
                netns,
                &[
                    "link",
                    "add",
                    name,
                    "mtu",
                    &VXLAN_INNER_MTU.to_string(),
                    "type",
                    "vxlan",
                    "id",
                    &vni.to_string(),
                    "local",
                    &local.to_string(),
                    "remote",
                    &remote.to_string(),
                    "dstport",
                    "4789",
                    "nolearning",
                    "df",
                    "set",
                ],
            ),
            ip(
                netns,
                &[
                    "link",
                    "set",
                    name,
                    "alias",
                    &format!("netloom:{topology}"),
                    "up",
                ],
            ),
        ]
    }
}

/// An OVN chassis on top of its host's daemons (`c`, in order): started
/// after ovs-vswitchd, stopped before it.
fn ovn_chassis(
    c: &mut Vec<Vec<String>>,
    del: bool,
    netns: &str,
    dir: &str,
    ch: &OvnChassis,
    topology: &str,
) {
    if del {
        let pidfile = format!("{dir}/ovn-controller.pid");
        c.insert(0, v(&["pkill", "-F", &pidfile]));
        return;
    }
    let sock = format!("--db=unix:{dir}/db.sock");
    let mut set = v(&[
        "ovs-vsctl",
        &sock,
        "--",
        "--may-exist",
        "add-br",
        &ch.bridge,
    ]);
    set.extend(v(&[
        "--",
        "set",
        "bridge",
        &ch.bridge,
        "datapath_type=netdev",
    ]));
    set.push(format!("external_ids:{OVS_OWNER_KEY}={topology}"));
    set.extend(v(&["--", "set", "open", "."]));
    set.extend(
        ovn_external_ids(ch)
            .into_iter()
            .map(|(k, val)| format!("external_ids:{k}={val}")),
    );
    c.push(inns(netns, set));
    c.push(inns(
        netns,
        v(&[
            "env",
            &format!("OVS_RUNDIR={dir}"),
            &format!("OVN_RUNDIR={dir}"),
            "ovn-controller",
            &format!("unix:{dir}/db.sock"),
            &format!("--pidfile={dir}/ovn-controller.pid"),
            &format!("--log-file={dir}/ovn-controller.log"),
            "--detach",
            // Restarted after a crash, as apply runs it (see procs::start_ovs).
            "--monitor",
        ]),
    ));
}

/// A real host's chassis keys: set, marked as the topology's; or removed.
fn real_chassis(
    del: bool,
    target: &TargetInfo,
    ch: &OvnChassis,
    topology: &str,
) -> Vec<Vec<String>> {
    let mut ids = ovn_external_ids(ch);
    ids.push((OVN_CHASSIS_MARK.to_string(), topology.to_string()));
    let mut a = Vec::new();
    if del {
        a.extend(v(&["remove", "open", ".", "external_ids"]));
        a.extend(ids.into_iter().map(|(k, _)| k));
    } else {
        a.extend(v(&["set", "open", "."]));
        a.extend(
            ids.into_iter()
                .map(|(k, val)| format!("external_ids:{k}={val}")),
        );
    }
    vec![vsctl(target, a)]
}

/// The commands of a real host's `ovn-controller`: started, or stopped
/// with `exit` (its chassis leaves the southbound).
fn ovn_controller(
    del: bool,
    target: &TargetInfo,
    dir: &str,
    tls: Option<&crate::ovn::Tls>,
) -> Vec<Vec<String>> {
    let env = format!("OVN_RUNDIR={dir}");
    if del {
        // ovn-appctl finds OVN_RUNDIR/ovn-controller.PID.ctl by its pidfile.
        return vec![v(&[
            "env",
            &env,
            "ovn-appctl",
            "--timeout=10",
            "-t",
            "ovn-controller",
            "exit",
        ])];
    }
    let mut run = v(&["env", &env, "ovn-controller"]);
    run.extend(ovn_controller_args(dir, &target.ovsdb, tls));
    vec![v(&["mkdir", "-p", dir]), run]
}

/// The arguments of a real host's `ovn-controller`: the host's OVSDB at
/// `ovsdb`, its files in `dir`, restarted after a crash (see
/// `procs::start_ovs`), and the central's TLS files.
pub fn ovn_controller_args(dir: &str, ovsdb: &str, tls: Option<&crate::ovn::Tls>) -> Vec<String> {
    let mut a = vec![
        format!("unix:{ovsdb}"),
        format!("--pidfile={dir}/ovn-controller.pid"),
        format!("--log-file={dir}/ovn-controller.log"),
        "--detach".to_string(),
        "--monitor".to_string(),
    ];
    if let Some(t) = tls {
        a.extend([
            format!("--private-key={}", t.private_key),
            format!("--certificate={}", t.certificate),
            format!("--ca-cert={}", t.ca_certificate),
        ]);
    }
    a
}

/// The `Open_vSwitch` `external_ids` an OVN chassis is configured by.
pub fn ovn_external_ids(ch: &OvnChassis) -> Vec<(String, String)> {
    let c = &ch.chassis;
    let mut o = vec![
        ("system-id", c.system_id.clone()),
        ("ovn-remote", ch.remote.clone()),
        ("ovn-encap-type", c.encap_type.clone()),
        ("ovn-encap-ip", c.encap_ip.to_string()),
        ("ovn-bridge", ch.bridge.clone()),
        ("ovn-bridge-datapath-type", ch.datapath.clone()),
    ];
    if !c.bridge_mappings.is_empty() {
        o.push(("ovn-bridge-mappings", c.bridge_mappings_text()));
    }
    o.into_iter().map(|(k, val)| (k.to_string(), val)).collect()
}

/// The commands of an OvnCentral step: the northbound and southbound
/// databases and `ovn-northd`, each with its files in `dir`.
fn ovn_central(del: bool, dir: &str) -> Vec<Vec<String>> {
    let ctl = |what: &str| v(&["ovs-appctl", "-t", &format!("{dir}/{what}.ctl"), "exit"]);
    if del {
        return vec![ctl("northd"), ctl("sb"), ctl("nb"), v(&["rm", "-rf", dir])];
    }
    let mut c = vec![v(&["mkdir", "-p", dir])];
    for (db, schema) in [("nb", "ovn-nb"), ("sb", "ovn-sb")] {
        c.push(v(&[
            "ovsdb-tool",
            "create",
            &format!("{dir}/{db}.db"),
            &format!("/usr/share/ovn/{schema}.ovsschema"),
        ]));
        c.push(v(&[
            "ovsdb-server",
            &format!("{dir}/{db}.db"),
            &format!("--remote=punix:{dir}/{db}.sock"),
            &format!("--pidfile={dir}/{db}.pid"),
            &format!("--unixctl={dir}/{db}.ctl"),
            &format!("--log-file={dir}/{db}.log"),
            "--detach",
        ]));
    }
    c.push(v(&[
        "ovn-nbctl",
        &format!("--db=unix:{dir}/nb.sock"),
        "init",
    ]));
    c.push(v(&[
        "ovn-sbctl",
        &format!("--db=unix:{dir}/sb.sock"),
        "init",
    ]));
    c.push(v(&[
        "ovn-northd",
        &format!("--ovnnb-db=unix:{dir}/nb.sock"),
        &format!("--ovnsb-db=unix:{dir}/sb.sock"),
        &format!("--pidfile={dir}/northd.pid"),
        &format!("--unixctl={dir}/northd.ctl"),
        &format!("--log-file={dir}/northd.log"),
        "--detach",
    ]));
    c
}

/// The commands of an OvsPort step.
fn ovs_port(
    step: &Step,
    target: &TargetInfo,
    topology: &str,
    bridge: &str,
    name: &str,
    tag: &Option<u16>,
    iface: &OvsIface,
) -> Vec<Vec<String>> {
    let mut set_iface: Vec<String> = Vec::new();
    if !iface.ovs_type().is_empty() {
        set_iface.push(format!("type={}", iface.ovs_type()));
    }
    for (k, val) in iface.options() {
        set_iface.push(format!("options:{k}={val}"));
    }
    for (k, val) in iface.external_ids() {
        set_iface.push(format!("external_ids:{k}={val}"));
    }
    match step.action {
        Action::Delete => vec![vsctl(target, v(&["--if-exists", "del-port", bridge, name]))],
        Action::Create => {
            let mut a = v(&["add-port", bridge, name]);
            if let Some(t) = tag {
                a.push(format!("tag={t}"));
            }
            // Marked as netloom's own ports are, so `netloom destroy` removes them.
            a.push(format!("external_ids:{OVS_OWNER_KEY}={topology}"));
            if !set_iface.is_empty() {
                a.extend(v(&["--", "set", "interface", name]));
                a.extend(set_iface);
            }
            vec![vsctl(target, a)]
        }
        Action::Update => {
            let mut o = vec![match tag {
                Some(t) => vsctl(target, v(&["set", "port", name, &format!("tag={t}")])),
                None => vsctl(target, v(&["clear", "port", name, "tag"])),
            }];
            if !set_iface.is_empty() {
                let mut a = v(&["set", "interface", name]);
                a.extend(set_iface);
                o.push(vsctl(target, a));
            }
            o
        }
    }
}

fn v(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// `argv` run inside namespace `ns` (`""`: the current one).
fn inns(ns: &str, argv: Vec<String>) -> Vec<String> {
    if ns.is_empty() {
        argv
    } else {
        let mut o = v(&["ip", "netns", "exec", ns]);
        o.extend(argv);
        o
    }
}

/// `ovs-vsctl` on the target's OVSDB, in its host namespace.
fn vsctl(target: &TargetInfo, args: Vec<String>) -> Vec<String> {
    let mut o = v(&["ovs-vsctl", &format!("--db=unix:{}", target.ovsdb)]);
    o.extend(args);
    inns(&target.netns, o)
}

/// `ip`'s namespace option.
fn nsarg(ns: &str) -> Vec<String> {
    if ns.is_empty() {
        vec![]
    } else {
        v(&["-n", ns])
    }
}

fn ip(ns: &str, args: &[&str]) -> Vec<String> {
    let mut o = v(&["ip"]);
    o.extend(nsarg(ns));
    o.extend(v(args));
    o
}

/// Pidfile of a DHCP client the model predicts no lease for, which keeps
/// running (see [`background_dhcp_client`]); its lease file would be the same path without `.pid`.
pub fn dhcp_client_pidfile(topology: &str, netns: &str, dev: &str) -> String {
    format!("{}/leases/{netns}.{dev}.pid", names::run_dir(topology))
}

/// busybox `udhcpc` for a client the model predicts no lease for, run
/// inside its namespace: one DISCOVER and one second's wait for an offer
/// (`-t 1 -T 1`), then it goes to the background (`-b`: its own session, `pidfile`)
/// and asks again every few seconds (`-A 5`) for as long as it runs. If a
/// server answers after all, it takes the lease (runs `script`) and goes to
/// the background then. Either way the command returns within about a second.
pub fn background_dhcp_client(dev: &str, script: &str, pidfile: &str) -> Vec<String> {
    [
        "busybox", "udhcpc", "-i", dev, "-b", "-t", "1", "-T", "1", "-A", "5", "-s", script, "-p",
        pidfile,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The lease script of the exported shell script: address and default route from the lease.
const EXPORT_UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in bound|renew)
  ip addr add "$ip/$mask" dev "$interface"
  [ -n "$router" ] && ip route replace default via "${router%% *}";;
esac
exit 0"#;

/// The plan as a plain shell script (`netloom export --shell`).
pub fn shell_script(plan: &Plan) -> String {
    let mut out = format!(
        "#!/bin/sh\n# netloom plan of topology {} as plain commands\nset -e\n",
        plan.topology
    );
    let Passes { passes, clients } = passes(plan);
    let steps = |pass: &Pass| -> Vec<(usize, usize)> {
        pass.iter()
            .flat_map(|(&ti, sis)| sis.iter().map(move |&si| (ti, si)))
            .collect()
    };
    for (ti, si) in passes.iter().flat_map(steps) {
        out.push_str(&step_script(plan, ti, si));
    }
    if let Some(nb) = &plan.northbound {
        out.push_str(&northbound_script(&plan.topology, nb));
    }
    // As apply does; a remote that does not answer is verify's to report.
    for (ns, argv) in tunnel_warmups(plan) {
        let line: Vec<String> = inns(&ns, argv).iter().map(|a| sh_quote(a)).collect();
        out.push_str(&format!("{} >/dev/null || true\n", line.join(" ")));
    }
    // Clients in the order the model predicts their leases in.
    let mut dhcp: Vec<(usize, String)> = steps(&clients)
        .into_iter()
        .filter_map(|(ti, si)| match &plan.targets[ti].steps[si].resource {
            Resource::DhcpClient { order, .. } => Some((*order, step_script(plan, ti, si))),
            _ => None,
        })
        .collect();
    dhcp.sort();
    for (_, t) in dhcp {
        out.push_str(&t);
    }
    out
}

/// What apply and the shell export run, once the switches are built and
/// before the DHCP clients start, so that each emulated host's OVS knows its
/// tunnel remotes' underlay neighbours: one `arping` from the host's underlay
/// bridge per remote ([`tunnel_remotes`]), as (host namespace, argv), at
/// most two requests, a second apart, until the first reply. The userspace
/// datapath drops the packet that makes it look a remote up, and learns the
/// remote only from an ARP reply to that bridge's own address; a ping
/// would not do, as it may use a neighbour entry the kernel took from the
/// remote's own ARP request, and then no reply passes through OVS.
///
/// None when no packet would wait on it: were a tunnel's first packet a
/// DHCP DISCOVER, the client would wait a second to retry; under OVN nothing
/// revalidates the flow that dropped it, so a first ping after apply would
/// be lost for as long as pings keep that flow alive. Otherwise MAC learning
/// revalidates it with the next packet.
pub fn tunnel_warmups(plan: &Plan) -> Vec<(String, Vec<String>)> {
    if passes(plan).clients.is_empty() && plan.northbound.is_none() {
        return Vec::new();
    }
    let phy = names::phy_bridge(&names::topology_tag(&plan.topology));
    (tunnel_remotes(plan).into_iter())
        .map(|(ns, ip)| {
            let ip = ip.to_string();
            let argv = v(&[
                "busybox", "arping", "-f", "-c", "2", "-w", "2", "-I", &phy, &ip,
            ]);
            (ns, argv)
        })
        .collect()
}

/// The remotes whose underlay neighbour each emulated host's OVS must learn
/// before its tunnels carry anything, as (host namespace, remote address):
/// the GRE and VXLAN ports the plan creates, and every pair of OVN chassis
/// it starts (Geneve joins them all).
fn tunnel_remotes(plan: &Plan) -> Vec<(String, Ipv4Addr)> {
    let mut pairs: Vec<(String, Ipv4Addr)> = Vec::new();
    for tp in (plan.targets.iter()).filter(|t| t.target.emulated && !t.target.netns.is_empty()) {
        for s in tp.steps.iter().filter(|s| s.action == Action::Create) {
            if let Resource::OvsPort {
                iface: OvsIface::Gre { remote_ip, .. } | OvsIface::Vxlan { remote_ip, .. },
                ..
            } = &s.resource
            {
                pairs.push((tp.target.netns.clone(), *remote_ip));
            }
        }
    }
    let chassis: Vec<(&str, Ipv4Addr)> = (plan.targets.iter())
        .flat_map(|tp| tp.steps.iter())
        .filter(|s| s.action == Action::Create)
        .filter_map(|s| match &s.resource {
            Resource::OvsDaemons {
                netns,
                ovn: Some(ch),
                ..
            } => Some((netns.as_str(), ch.chassis.encap_ip)),
            _ => None,
        })
        .collect();
    for (ns, _) in &chassis {
        let others = chassis.iter().filter(|(n, _)| n != ns);
        pairs.extend(others.map(|(_, ip)| (ns.to_string(), *ip)));
    }
    pairs
}

/// The northbound transaction as `ovsdb-client transact`, then, as apply
/// does, a wait until each chassis of the design reports the new `nb_cfg`
/// (`Chassis_Private`): not `ovn-nbctl --wait=hv`, whose `hv_cfg` counts
/// only the chassis registered so far, and on a shared central every other.
fn northbound_script(topology: &str, nb: &Northbound) -> String {
    let (db, sb, tls) = match &nb.central {
        Some(c) => (
            c.northbound.to_string(),
            c.southbound.to_string(),
            c.tls.as_ref(),
        ),
        None => {
            let dir = names::ovn_dir(topology);
            (
                format!("unix:{dir}/nb.sock"),
                format!("unix:{dir}/sb.sock"),
                None,
            )
        }
    };
    // The tools take OVS's TLS options (`-p`, `-c`, `-C`) before the command.
    let tls: Vec<String> = tls.map_or(Vec::new(), |t| {
        vec![
            format!("--private-key={}", t.private_key),
            format!("--certificate={}", t.certificate),
            format!("--ca-cert={}", t.ca_certificate),
        ]
    });
    let mut txn = vec![serde_json::Value::from("OVN_Northbound")];
    // Sent again (by each host's script, or the script run again), it would
    // fail on the port names already there, unique in OVN_Northbound, and
    // stop that script: the guard makes it once and lets the others go on.
    txn.extend(crate::ovn::nb::none_yet(topology));
    txn.extend(nb.ops.iter().cloned());
    let txn = serde_json::Value::Array(txn).to_string();
    let line = |a: Vec<String>| a.iter().map(|x| sh_quote(x)).collect::<Vec<_>>().join(" ");
    let tool = |name: &str, db: &str| {
        let mut a = v(&[name, &format!("--db={db}")]);
        a.extend(tls.iter().cloned());
        line(a)
    };
    let client = |txn: String| {
        let mut a = v(&["ovsdb-client"]);
        a.extend(tls.iter().cloned());
        a.extend([String::from("transact"), db.clone(), txn]);
        line(a)
    };
    // ovsdb-client exits 0 when an operation fails (the whole transaction
    // is then undone): the result says so, as `"error":` in its array; a
    // first or second result that is a guard's timeout means rows were there.
    let there = r#"{"details":"\"where\" clause test failed","error":"timed out"}"#;
    let mut text = format!(
        "# the northbound transaction (OVN), made once: the first script to get here makes it\n\
         out=$({})\n\
         case $out in\n  \
         '[{there}'*|'[{{}},{there}'*)\n    \
         echo \"the northbound rows of topology {topology} are there already: kept as they are\" >&2;;\n  \
         *'\"error\":'*) echo \"northbound transaction failed: $out\" >&2; exit 1;;\n\
         esac\n",
        client(txn)
    );
    // A destroy names no chassis: nothing to wait for.
    if !nb.chassis.is_empty() {
        let names: Vec<String> = nb.chassis.iter().map(|c| sh_quote(c)).collect();
        let bump = serde_json::json!(["OVN_Northbound", crate::ovn::nb::bump()]);
        // As apply does (`deploy::northbound`): after 20 s without it,
        // `nb_cfg` once more; an ovn-controller may never report the first.
        text.push_str(&format!(
            "want=$({nbctl} get NB_Global . nb_cfg)\n\
             for c in {}; do\n  i=0\n  \
             until [ \"$({} --bare --columns=nb_cfg find Chassis_Private name=\"$c\")\" -ge \"$want\" ] 2>/dev/null; do\n    \
             i=$((i + 1)); [ $i -le 900 ] || {{ echo \"chassis $c did not apply nb_cfg $want\" >&2; exit 1; }}\n    \
             if [ $((i % 200)) -eq 0 ]; then {} >/dev/null; want=$({nbctl} get NB_Global . nb_cfg); fi\n    \
             sleep 0.1\n  \
             done\ndone\n",
            names.join(" "),
            tool("ovn-sbctl", &sb),
            client(bump.to_string()),
            nbctl = tool("ovn-nbctl", &db),
        ));
    }
    text
}

/// One step of a plan as shell text.
fn step_script(plan: &Plan, ti: usize, si: usize) -> String {
    let tp = &plan.targets[ti];
    let step = &tp.steps[si];
    let cmds = commands(step, &tp.target, &plan.topology);
    let mut text = String::new();
    let mut i = 0;
    while i < cmds.len() {
        let line: Vec<String> = cmds[i].iter().map(|a| sh_quote(a)).collect();
        if cmds
            .get(i + 1)
            .is_some_and(|n| n.first().map(String::as_str) == Some("<<"))
        {
            text.push_str(&format!(
                "{} <<'NETLOOM_EOF'\n{}\nNETLOOM_EOF\n",
                line.join(" "),
                cmds[i + 1][1]
            ));
            i += 2;
        } else {
            text.push_str(&line.join(" "));
            text.push('\n');
            i += 1;
        }
    }
    text
}
