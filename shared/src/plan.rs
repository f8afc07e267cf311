//! The planner: desired topology + observed state → ordered operations per target.
//!
//! Everything a deployment consists of is a [`Resource`] with a stable key
//! (a namespace, a veth pair, an OVS port, an address, a dnsmasq process...).
//! [`desired`] says which resources a [`Topology`] needs; the executor
//! observes which exist (the same type, [`State`]); [`plan`] diffs the two into
//! [`Step`]s: create, update (in place: an OVS port's tag, a ruleset, a
//! process's arguments) or delete, in dependency order. A step's inverse is
//! [`Step::inverse`]. Applying a plan and observing again gives a state whose
//! plan is empty — that is what makes apply idempotent.
//!
//! A *target* is where steps run: `""` is the sandbox machine itself (the
//! underlay and external segments, the namespaces emulating hosts), any other
//! value is a host name whose agent runs its steps. Pure: no IO here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::names;
use crate::topology::{GuestKind, IfaceAddr, Mac, Topology, TunnelKind};

fn is_false(b: &bool) -> bool {
    !*b
}

/// Target of the sandbox machine's own steps (segments, host namespaces).
pub const SANDBOX: &str = "";

/// `external_ids` key marking every OVS row netloom creates.
pub const OVS_OWNER_KEY: &str = "netloom-topology";

/// How an OVS port's interface is made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OvsIface {
    /// An existing Linux device (a veth end).
    System,
    /// The bridge's own internal device.
    Internal,
    Gre {
        remote_ip: Ipv4Addr,
        key: Option<u32>,
    },
    Vxlan {
        remote_ip: Ipv4Addr,
        vni: u32,
    },
}

impl OvsIface {
    /// OVS `Interface.type`.
    pub fn ovs_type(&self) -> &'static str {
        match self {
            OvsIface::System => "",
            OvsIface::Internal => "internal",
            OvsIface::Gre { .. } => "gre",
            OvsIface::Vxlan { .. } => "vxlan",
        }
    }

    /// OVS `Interface.options`.
    pub fn options(&self) -> Vec<(String, String)> {
        match self {
            OvsIface::Gre { remote_ip, key } => {
                let mut o = vec![("remote_ip".to_string(), remote_ip.to_string())];
                if let Some(k) = key {
                    o.push(("key".to_string(), k.to_string()));
                }
                o
            }
            OvsIface::Vxlan { remote_ip, vni } => vec![
                ("key".to_string(), vni.to_string()),
                ("remote_ip".to_string(), remote_ip.to_string()),
            ],
            _ => Vec::new(),
        }
    }
}

/// The sysctls that turn IPv6 off in a namespace netloom makes, before any
/// device is in it. Topologies are IPv4; with IPv6 on, every interface that
/// comes up sends router solicitations, duplicate address probes and
/// multicast listener reports, which a sandbox's userspace switches flood to
/// every vm of the VLAN: at 100 hosts x 10 vms, both cores for 20 s after apply.
pub const NO_IPV6: [&str; 2] = [
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
];

/// One thing a deployment consists of. `netns` `""` is the target's own namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    /// netloom's directory of pidfiles, sockets, logs and leases of a topology.
    RunDir { path: String },
    /// `ip netns add NAME`, IPv6 off in it ([`NO_IPV6`]), `lo` up.
    Netns { name: String },
    /// The netloom agent of an emulated host, in its namespace, on `dir/agent.sock`.
    Agent { netns: String, dir: String },
    /// One ovsdb-server + ovs-vswitchd emulating a host's Open vSwitch, in `netns`, files in `dir`.
    OvsDaemons { netns: String, dir: String },
    /// A Linux bridge as a layer-2 segment: `ip -n NS link add NAME [address MAC] type bridge`.
    Segment {
        netns: String,
        name: String,
        mac: Option<Mac>,
    },
    /// `ip -n NS link add NAME type veth peer name PEER netns PEER_NS [address MAC]`, both ends up,
    /// the peer optionally enslaved to a segment (`master`).
    Veth {
        netns: String,
        name: String,
        peer_netns: String,
        peer: String,
        peer_mac: Option<Mac>,
        peer_master: Option<String>,
    },
    /// A kernel VXLAN device (`ip link add NAME mtu 1450 type vxlan id VNI
    /// local LOCAL remote REMOTE dstport 4789 nolearning df set`), plugged
    /// into OVS as a plain port: a real host's VXLAN tunnel under the
    /// userspace datapath, which can send its own tunnel packets only from an
    /// address on an OVS bridge. MTU and `df set` make it drop, never
    /// fragment, what does not fit a 1500-byte underlay, tagged frames included.
    VxlanLink {
        netns: String,
        name: String,
        vni: u32,
        local: Ipv4Addr,
        remote: Ipv4Addr,
    },
    /// `ovs-vsctl add-br NAME -- set bridge NAME datapath_type=DP`.
    OvsBridge { name: String, datapath: String },
    /// `ovs-vsctl add-port BRIDGE NAME [tag=N] [-- set interface NAME type=T options:...]`.
    OvsPort {
        bridge: String,
        name: String,
        tag: Option<u16>,
        iface: OvsIface,
    },
    /// `ethtool -K DEV tx off` inside NS (userspace datapath + veth checksum offload drop UDP/TCP).
    TxOffloadOff { netns: String, dev: String },
    /// `sysctl -w KEY=VALUE` inside NS.
    Sysctl {
        netns: String,
        key: String,
        value: String,
    },
    /// `ip -n NS addr add CIDR dev DEV` (and `link set DEV up`).
    Addr {
        netns: String,
        dev: String,
        cidr: Ipv4Net,
    },
    /// `ip -n NS route replace TO via VIA` (`to` absent: the default route).
    Route {
        netns: String,
        to: Option<Ipv4Net>,
        via: Ipv4Addr,
    },
    /// `nft -j -f -` inside NS: table `ip netloom`, replaced as a whole. `ruleset` is JSON text.
    Nft { netns: String, ruleset: String },
    /// A DHCP server's reservation for one client: the file `path` (in the
    /// server's `--dhcp-hostsdir`) holding `MAC,IP`. The address is the lease
    /// the format predicts, so clients may ask in any order, at once.
    DhcpHost {
        path: String,
        mac: Mac,
        ip: Ipv4Addr,
    },
    /// A supervised dnsmasq in NS; `name` names its files, `args` its options.
    Dnsmasq {
        netns: String,
        name: String,
        args: Vec<String>,
    },
    /// `udhcpc -i DEV` inside NS; the lease becomes DEV's address and default route.
    /// `order` is the client's place in file order: the exported script asks
    /// in it (apply's clients ask at once; their servers' reservations make
    /// the leases predictable).
    DhcpClient {
        netns: String,
        dev: String,
        order: usize,
        /// The model predicts no lease (no server in its layer-2 domain, or
        /// its server's range used up): the client runs in the background
        /// ([`background_dhcp_client`]) and nobody waits for a lease. Absent
        /// from the JSON when false, so other plans read as before.
        #[serde(default, skip_serializing_if = "is_false")]
        no_lease: bool,
    },
}

impl Resource {
    /// Stable identity: two resources with the same key are the same thing, maybe changed.
    pub fn key(&self) -> String {
        match self {
            Resource::RunDir { path } => format!("dir {path}"),
            Resource::Netns { name } => format!("netns {name}"),
            Resource::Agent { netns, .. } => format!("agent {netns}"),
            Resource::OvsDaemons { netns, .. } => format!("ovs-daemons {netns}"),
            Resource::Segment { netns, name, .. }
            | Resource::Veth { netns, name, .. }
            | Resource::VxlanLink { netns, name, .. } => format!("link {netns}/{name}"),
            Resource::OvsBridge { name, .. } => format!("ovs-bridge {name}"),
            Resource::OvsPort { name, .. } => format!("ovs-port {name}"),
            Resource::TxOffloadOff { netns, dev } => format!("offload {netns}/{dev}"),
            Resource::Sysctl { netns, key, .. } => format!("sysctl {netns}/{key}"),
            Resource::Addr { netns, dev, cidr } => format!("addr {netns}/{dev}/{cidr}"),
            Resource::Route { netns, to, .. } => match to {
                Some(t) => format!("route {netns}/{t}"),
                None => format!("route {netns}/default"),
            },
            Resource::Nft { netns, .. } => format!("nft {netns}"),
            Resource::DhcpHost { path, .. } => format!("dhcp-host {path}"),
            Resource::Dnsmasq { netns, name, .. } => format!("dnsmasq {netns}/{name}"),
            Resource::DhcpClient { netns, dev, .. } => format!("dhcp-client {netns}/{dev}"),
        }
    }

    /// Creation order: a resource is created after every lower rank, deleted before.
    pub fn rank(&self) -> u8 {
        match self {
            Resource::RunDir { .. } => 0,
            Resource::Netns { .. } => 1,
            Resource::Agent { .. } | Resource::OvsDaemons { .. } => 2,
            // OVS rows come before the devices they name: ovs-vswitchd picks a
            // port's device up when it appears, and meanwhile calibrates its
            // userspace datapath (about 0.1 s) while the links are made.
            Resource::OvsBridge { .. } => 3,
            Resource::OvsPort { .. } => 4,
            Resource::Segment { .. } | Resource::VxlanLink { .. } => 5,
            Resource::Veth { .. } => 6,
            Resource::TxOffloadOff { .. } | Resource::Sysctl { .. } => 7,
            Resource::Addr { .. } => 8,
            Resource::Route { .. } => 9,
            Resource::Nft { .. } => 10,
            // A server reads its reservations when it starts.
            Resource::DhcpHost { .. } => 11,
            Resource::Dnsmasq { .. } => 12,
            Resource::DhcpClient { .. } => 13,
        }
    }

    /// Keys of what this resource lives in or on: when one of them is deleted or
    /// re-created, this one is gone too (kernel objects) and must be re-created.
    pub fn deps(&self) -> Vec<String> {
        let ns = |n: &str| format!("netns {n}");
        let link = |n: &str, d: &str| format!("link {n}/{d}");
        match self {
            Resource::RunDir { .. } | Resource::Netns { .. } => vec![],
            Resource::Agent { netns, .. } | Resource::OvsDaemons { netns, .. } => vec![ns(netns)],
            Resource::Segment { netns, .. } | Resource::VxlanLink { netns, .. } => vec![ns(netns)],
            Resource::Veth {
                netns,
                peer_netns,
                peer_master,
                ..
            } => {
                let mut d = vec![ns(netns), ns(peer_netns)];
                if let Some(m) = peer_master {
                    d.push(link(peer_netns, m));
                }
                d
            }
            // OVS rows live in the database; they only vanish with the daemons' files.
            Resource::OvsBridge { .. } | Resource::OvsPort { .. } => vec![],
            Resource::TxOffloadOff { netns, dev } | Resource::Addr { netns, dev, .. } => {
                vec![ns(netns), link(netns, dev)]
            }
            // Routes go when the address they lean on goes.
            Resource::Route { netns, .. } => vec![ns(netns), format!("addrs {netns}")],
            Resource::Sysctl { netns, .. } | Resource::Nft { netns, .. } => vec![ns(netns)],
            Resource::Dnsmasq { netns, .. } => vec![ns(netns)],
            Resource::DhcpHost { .. } => vec![],
            Resource::DhcpClient { netns, dev, .. } => vec![ns(netns), link(netns, dev)],
        }
    }

    /// Extra keys that a deletion or re-creation of this resource touches (see [`Resource::deps`]).
    fn touches(&self) -> Vec<String> {
        match self {
            Resource::Addr { netns, .. } => vec![format!("addrs {netns}")],
            _ => vec![],
        }
    }

    /// True when deleting what it depends on takes it away by itself (a kernel
    /// object inside a namespace); false for OVS rows, processes and files,
    /// which need their own delete step.
    fn goes_with_deps(&self) -> bool {
        !matches!(
            self,
            Resource::OvsBridge { .. }
                | Resource::OvsPort { .. }
                | Resource::OvsDaemons { .. }
                | Resource::Agent { .. }
                | Resource::Dnsmasq { .. }
                | Resource::DhcpHost { .. }
                | Resource::RunDir { .. }
        )
    }

    /// True when a changed value is applied in place rather than by delete + create.
    fn updates_in_place(&self) -> bool {
        matches!(
            self,
            Resource::OvsBridge { .. }
                | Resource::OvsPort { .. }
                | Resource::Sysctl { .. }
                | Resource::Route { .. }
                | Resource::Nft { .. }
                | Resource::Dnsmasq { .. }
                | Resource::DhcpHost { .. }
        )
    }

    /// True for OVS rows, which the executor batches into one transaction per host.
    pub fn is_ovs_row(&self) -> bool {
        matches!(self, Resource::OvsBridge { .. } | Resource::OvsPort { .. })
    }

    /// The namespace this resource is in, when it is in one.
    pub fn netns(&self) -> Option<&str> {
        match self {
            Resource::RunDir { .. }
            | Resource::OvsBridge { .. }
            | Resource::OvsPort { .. }
            | Resource::DhcpHost { .. } => None,
            Resource::Netns { name } => Some(name),
            Resource::OvsDaemons { netns, .. }
            | Resource::Agent { netns, .. }
            | Resource::Segment { netns, .. }
            | Resource::VxlanLink { netns, .. }
            | Resource::Veth { netns, .. }
            | Resource::TxOffloadOff { netns, .. }
            | Resource::Sysctl { netns, .. }
            | Resource::Addr { netns, .. }
            | Resource::Route { netns, .. }
            | Resource::Nft { netns, .. }
            | Resource::Dnsmasq { netns, .. }
            | Resource::DhcpClient { netns, .. } => Some(netns),
        }
    }
}

/// A set of resources per target: what a topology needs, or what exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// target → key → resource.
    pub targets: BTreeMap<String, BTreeMap<String, Resource>>,
}

impl State {
    pub fn insert(&mut self, target: &str, r: Resource) {
        self.targets
            .entry(target.to_string())
            .or_default()
            .insert(r.key(), r);
    }

    pub fn len(&self) -> usize {
        self.targets.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every resource with its target.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Resource)> {
        self.targets
            .iter()
            .flat_map(|(t, m)| m.values().map(move |r| (t.as_str(), r)))
    }
}

/// How a target is reached and what its Open vSwitch is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `""` for the sandbox machine, else the host name.
    pub name: String,
    /// Where its agent listens: a real host's URL, an emulated host's unix
    /// socket (`unix:PATH`); `None` for the sandbox machine itself.
    pub agent: Option<String>,
    /// Emulated on this machine (sandbox) rather than a real host.
    pub emulated: bool,
    /// The namespace the host's own devices live in (`""`: the agent's own).
    pub netns: String,
    /// Path of the host's OVSDB unix socket.
    pub ovsdb: String,
    /// `netdev` (userspace) or `system` (kernel datapath).
    pub datapath: String,
}

/// What an observation found out about a real host, which changes the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Hosts whose kernel has the Open vSwitch datapath (the plan uses `system` there).
    pub kernel_datapath: BTreeSet<String>,
    /// Real hosts' OVSDB socket paths, as their agents report them (`--ovsdb`);
    /// a host absent here (an older agent) uses [`SYSTEM_OVSDB`].
    #[serde(default)]
    pub ovsdb: BTreeMap<String, String>,
}

/// MTU of a kernel VXLAN device: a 1500-byte underlay less VXLAN's 50 bytes.
pub const VXLAN_INNER_MTU: u32 = 1450;

/// System OVSDB socket of a real host.
pub const SYSTEM_OVSDB: &str = "/var/run/openvswitch/db.sock";

/// The sysctls bounding the machine's IPv4 neighbour (ARP) table: the kernel
/// keeps one table for every namespace, at most 1,024 entries by default
/// (`gc_thresh3`), and above `gc_thresh2` (512) it evicts entries older than
/// 5 s whenever it makes a new one, which a full mesh of probes never survives.
pub const NEIGH_TABLE_SYSCTLS: [&str; 2] = [
    "net/ipv4/neigh/default/gc_thresh2",
    "net/ipv4/neigh/default/gc_thresh3",
];

/// Neighbour entries the sandbox may need at once: every sender that talks
/// to every address of its segment (verify does) holds one entry per peer,
/// so at most the square of the interfaces on this machine, rounded up to a
/// power of two (the value changes rarely as a lab grows); `None` while the
/// kernel's default suffices.
pub fn neigh_table_size(topo: &Topology) -> Option<u64> {
    let ifaces = topo
        .guests
        .iter()
        .filter(|g| topo.hosts[g.host].agent.is_none())
        .map(|g| g.ifaces.len() as u64)
        .sum::<u64>()
        + topo.externals.len() as u64;
    let need = (ifaces * ifaces).next_power_of_two().min(1 << 24);
    (need > 1024).then_some(need)
}

/// The unix socket of an emulated host's agent.
pub fn agent_socket(topology: &str, host: &str) -> String {
    format!("{}/{host}/agent.sock", names::run_dir(topology))
}

/// The targets of a topology, sandbox first.
pub fn targets(topo: &Topology, facts: &Facts) -> Vec<TargetInfo> {
    let run = names::run_dir(&topo.name);
    let mut out = vec![TargetInfo {
        name: SANDBOX.to_string(),
        agent: None,
        emulated: true,
        netns: String::new(),
        ovsdb: String::new(),
        datapath: String::new(),
    }];
    for h in &topo.hosts {
        out.push(match &h.agent {
            None => TargetInfo {
                name: h.name.clone(),
                agent: Some(format!("unix:{}", agent_socket(&topo.name, &h.name))),
                emulated: true,
                netns: h.netns.clone(),
                ovsdb: format!("{run}/{}/db.sock", h.name),
                datapath: "netdev".into(),
            },
            Some(url) => TargetInfo {
                name: h.name.clone(),
                agent: Some(url.clone()),
                emulated: false,
                netns: String::new(),
                ovsdb: facts
                    .ovsdb
                    .get(&h.name)
                    .cloned()
                    .unwrap_or_else(|| SYSTEM_OVSDB.into()),
                datapath: if facts.kernel_datapath.contains(&h.name) {
                    "system".into()
                } else {
                    "netdev".into()
                },
            },
        });
    }
    out
}

/// Whether a target's VXLAN tunnels are kernel devices rather than OVS
/// tunnel ports: a real host under the userspace datapath. Its OVS could
/// send tunnel packets only from an address on an OVS bridge, and netloom
/// does not move a real host's own address off its NIC (emulated hosts get
/// such a bridge, see [`desired`]).
pub fn kernel_vxlan(t: &TargetInfo) -> bool {
    !t.emulated && t.datapath == "netdev"
}

/// What the plan cannot make work on these hosts, as `(host, message)`: a
/// tunnel between an emulated and a real host (the emulated hosts' underlay
/// is a segment on this machine, which reaches no real network), and a GRE
/// tunnel end on a real host under the userspace datapath (VXLAN goes through
/// a kernel device there; GRE would need a kernel `gretap` device, which
/// netloom does not make).
pub fn unsupported(topo: &Topology, facts: &Facts) -> Vec<(String, String)> {
    let tinfo = targets(topo, facts);
    let mut out = Vec::new();
    for (i, tun) in topo.tunnels.iter().enumerate() {
        let [a, b] = tun.ends.map(|e| &topo.hosts[topo.bridges[e].host]);
        if a.agent.is_some() != b.agent.is_some() {
            let (real, emulated) = if a.agent.is_some() { (a, b) } else { (b, a) };
            out.push((
                real.name.clone(),
                format!(
                    "tunnels[{i}]: emulated host {} cannot reach real host {}: the emulated hosts' underlay is a segment on this machine",
                    emulated.name, real.name
                ),
            ));
            continue;
        }
        if !matches!(tun.kind, TunnelKind::Gre { .. }) {
            continue;
        }
        for &b in &tun.ends {
            let h = topo.bridges[b].host;
            if kernel_vxlan(&tinfo[h + 1]) {
                out.push((
                    topo.hosts[h].name.clone(),
                    format!(
                        "tunnels[{i}]: a GRE tunnel cannot end on real host {} without the kernel Open vSwitch datapath (its agent reports the userspace one); use vxlan",
                        topo.hosts[h].name
                    ),
                ));
            }
        }
    }
    out
}

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

/// Everything a topology needs, per target.
pub fn desired(topo: &Topology, facts: &Facts) -> State {
    let mut s = State::default();
    let tag = names::topology_tag(&topo.name);
    let run = names::run_dir(&topo.name);
    let tinfo = targets(topo, facts);
    let sandbox_hosts: Vec<bool> = topo.hosts.iter().map(|h| h.agent.is_none()).collect();
    s.insert(SANDBOX, Resource::RunDir { path: run.clone() });

    // The underlay segment joining emulated hosts (real hosts have their own network).
    let underlay_ns = names::underlay_netns(&topo.name);
    if sandbox_hosts.iter().any(|&b| b) {
        s.insert(
            SANDBOX,
            Resource::Netns {
                name: underlay_ns.clone(),
            },
        );
        s.insert(
            SANDBOX,
            Resource::Segment {
                netns: underlay_ns.clone(),
                name: names::segment(&tag),
                mac: None,
            },
        );
    }
    // Many guests on one machine share its one neighbour table: make room
    // (never less than the machine has: see the executor and observation).
    if let Some(n) = neigh_table_size(topo) {
        for key in NEIGH_TABLE_SYSCTLS {
            s.insert(
                SANDBOX,
                Resource::Sysctl {
                    netns: String::new(),
                    key: key.into(),
                    value: n.to_string(),
                },
            );
        }
    }
    for e in &topo.externals {
        s.insert(
            SANDBOX,
            Resource::Netns {
                name: e.netns.clone(),
            },
        );
        s.insert(
            SANDBOX,
            Resource::Segment {
                netns: e.netns.clone(),
                name: names::segment(&tag),
                mac: Some(e.mac),
            },
        );
        s.insert(
            SANDBOX,
            Resource::Addr {
                netns: e.netns.clone(),
                dev: names::segment(&tag),
                cidr: e.gateway,
            },
        );
    }

    for (hi, h) in topo.hosts.iter().enumerate() {
        let t = &tinfo[hi + 1];
        let hns = t.netns.clone();
        if h.agent.is_some() {
            // A real host keeps its own files (dnsmasq's, leases, rulesets, the lease script).
            s.insert(&h.name, Resource::RunDir { path: run.clone() });
        }
        if h.agent.is_none() {
            s.insert(
                SANDBOX,
                Resource::Netns {
                    name: h.netns.clone(),
                },
            );
            s.insert(
                SANDBOX,
                Resource::Veth {
                    netns: hns.clone(),
                    name: names::underlay_port(&tag),
                    peer_netns: underlay_ns.clone(),
                    peer: h.underlay_peer.clone(),
                    peer_mac: None,
                    peer_master: Some(names::segment(&tag)),
                },
            );
            s.insert(
                SANDBOX,
                Resource::Agent {
                    netns: hns.clone(),
                    dir: format!("{run}/{}", h.name),
                },
            );
            // Started by the sandbox with the host's agent, so the host's own
            // steps find its Open vSwitch running.
            s.insert(
                SANDBOX,
                Resource::OvsDaemons {
                    netns: hns.clone(),
                    dir: format!("{run}/{}", h.name),
                },
            );
            // Only the underlay bridge's port, which holds the address, answers
            // ARP for it: the underlay veth is an OVS port but also a kernel
            // device here, and its answer (its own MAC) would make a remote's
            // tunnel send to a MAC this host's OVS does not take tunnel packets for.
            s.insert(
                SANDBOX,
                Resource::Sysctl {
                    netns: hns.clone(),
                    key: "net/ipv4/conf/all/arp_ignore".into(),
                    value: "1".into(),
                },
            );
            let phy = names::phy_bridge(&tag);
            s.insert(
                &h.name,
                Resource::OvsBridge {
                    name: phy.clone(),
                    datapath: t.datapath.clone(),
                },
            );
            s.insert(
                &h.name,
                Resource::OvsPort {
                    bridge: phy.clone(),
                    name: names::underlay_port(&tag),
                    tag: None,
                    iface: OvsIface::System,
                },
            );
            s.insert(
                &h.name,
                Resource::Addr {
                    netns: hns.clone(),
                    dev: phy,
                    cidr: Ipv4Net::new(h.underlay_ip, topo.underlay.prefix_len())
                        .unwrap_or(topo.underlay),
                },
            );
        }
        for &b in &h.bridges {
            let br = &topo.bridges[b];
            s.insert(
                &h.name,
                Resource::OvsBridge {
                    name: br.ovs_name.clone(),
                    datapath: t.datapath.clone(),
                },
            );
            if let (Some(x), Some(port), Some(peer)) = (br.uplink, &br.uplink_port, &br.uplink_peer)
            {
                // The segment end lives on this machine: uplinks exist in sandbox mode only.
                s.insert(
                    SANDBOX,
                    Resource::Veth {
                        netns: hns.clone(),
                        name: port.clone(),
                        peer_netns: topo.externals[x].netns.clone(),
                        peer: peer.clone(),
                        peer_mac: None,
                        peer_master: Some(names::segment(&tag)),
                    },
                );
                // The upstream router's own TCP/UDP leaves by this end into a userspace datapath.
                s.insert(
                    SANDBOX,
                    Resource::TxOffloadOff {
                        netns: topo.externals[x].netns.clone(),
                        dev: peer.clone(),
                    },
                );
                s.insert(
                    &h.name,
                    Resource::OvsPort {
                        bridge: br.ovs_name.clone(),
                        name: port.clone(),
                        tag: None,
                        iface: OvsIface::System,
                    },
                );
            }
        }
    }

    for tun in &topo.tunnels {
        for end in 0..2 {
            let br = &topo.bridges[tun.ends[end]];
            let here = &topo.hosts[br.host];
            let other = &topo.hosts[topo.bridges[tun.ends[1 - end]].host];
            let t = &tinfo[br.host + 1];
            if let (TunnelKind::Vxlan { vni }, true) = (tun.kind, kernel_vxlan(t)) {
                s.insert(
                    &here.name,
                    Resource::VxlanLink {
                        netns: t.netns.clone(),
                        name: tun.ports[end].clone(),
                        vni,
                        local: here.underlay_ip,
                        remote: other.underlay_ip,
                    },
                );
                s.insert(
                    &here.name,
                    Resource::OvsPort {
                        bridge: br.ovs_name.clone(),
                        name: tun.ports[end].clone(),
                        tag: None,
                        iface: OvsIface::System,
                    },
                );
                continue;
            }
            let iface = match tun.kind {
                TunnelKind::Gre { key } => OvsIface::Gre {
                    remote_ip: other.underlay_ip,
                    key,
                },
                TunnelKind::Vxlan { vni } => OvsIface::Vxlan {
                    remote_ip: other.underlay_ip,
                    vni,
                },
            };
            s.insert(
                &topo.hosts[br.host].name,
                Resource::OvsPort {
                    bridge: br.ovs_name.clone(),
                    name: tun.ports[end].clone(),
                    tag: None,
                    iface,
                },
            );
        }
    }

    let mut dhcp_order = 0;
    let leases = crate::sim::dhcp::leases(topo);
    for (gi, g) in topo.guests.iter().enumerate() {
        let host = &topo.hosts[g.host];
        let t = &tinfo[g.host + 1];
        let target = host.name.as_str();
        s.insert(
            target,
            Resource::Netns {
                name: g.netns.clone(),
            },
        );
        s.insert(
            target,
            Resource::Sysctl {
                netns: g.netns.clone(),
                key: "net/ipv4/ip_forward".into(),
                value: if g.is_router() { "1" } else { "0" }.into(),
            },
        );
        for (ii, iface) in g.ifaces.iter().enumerate() {
            s.insert(
                target,
                Resource::Veth {
                    netns: t.netns.clone(),
                    name: iface.port.clone(),
                    peer_netns: g.netns.clone(),
                    peer: iface.name.clone(),
                    peer_mac: Some(iface.mac),
                    peer_master: None,
                },
            );
            s.insert(
                target,
                Resource::OvsPort {
                    bridge: topo.bridges[iface.bridge].ovs_name.clone(),
                    name: iface.port.clone(),
                    tag: iface.vlan,
                    iface: OvsIface::System,
                },
            );
            s.insert(
                target,
                Resource::TxOffloadOff {
                    netns: g.netns.clone(),
                    dev: iface.name.clone(),
                },
            );
            match iface.addr {
                IfaceAddr::Static(cidr) => {
                    s.insert(
                        target,
                        Resource::Addr {
                            netns: g.netns.clone(),
                            dev: iface.name.clone(),
                            cidr,
                        },
                    );
                }
                IfaceAddr::Dhcp => {
                    s.insert(
                        target,
                        Resource::DhcpClient {
                            netns: g.netns.clone(),
                            dev: iface.name.clone(),
                            order: dhcp_order,
                            no_lease: !leases.iter().any(|l| l.client == gi && l.iface == ii),
                        },
                    );
                    dhcp_order += 1;
                }
                IfaceAddr::None => {}
            }
        }
        if let Some(gw) = g.gateway {
            s.insert(
                target,
                Resource::Route {
                    netns: g.netns.clone(),
                    to: None,
                    via: gw,
                },
            );
        }
        for r in &g.routes {
            s.insert(
                target,
                Resource::Route {
                    netns: g.netns.clone(),
                    to: Some(r.to),
                    via: r.via,
                },
            );
        }
        if let Some(rules) = nft_ruleset(topo, gi) {
            s.insert(
                target,
                Resource::Nft {
                    netns: g.netns.clone(),
                    ruleset: rules,
                },
            );
        }
        if matches!(g.kind, GuestKind::Dhcp(_)) {
            let dir = format!("{run}/{}", host.name);
            let name = format!("dhcp-{}", g.name);
            for l in leases.iter().filter(|l| l.server == gi) {
                let client = &topo.guests[l.client];
                let iface = &client.ifaces[l.iface];
                s.insert(
                    target,
                    Resource::DhcpHost {
                        path: format!(
                            "{}/{}.{}",
                            dhcp_hosts_dir(&dir, &name),
                            client.netns,
                            iface.name
                        ),
                        mac: iface.mac,
                        ip: l.addr.addr(),
                    },
                );
            }
            s.insert(
                target,
                Resource::Dnsmasq {
                    netns: g.netns.clone(),
                    args: dnsmasq_args(topo, gi, &dir, &name),
                    name,
                },
            );
        }
    }
    s
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// One operation of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub action: Action,
    pub resource: Resource,
    /// For an update: the value it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<Resource>,
}

impl Step {
    /// The step that undoes this one.
    pub fn inverse(&self) -> Step {
        match self.action {
            Action::Create => Step {
                action: Action::Delete,
                resource: self.resource.clone(),
                was: None,
            },
            Action::Delete => Step {
                action: Action::Create,
                resource: self.resource.clone(),
                was: None,
            },
            Action::Update => Step {
                action: Action::Update,
                resource: self.was.clone().unwrap_or_else(|| self.resource.clone()),
                was: Some(self.resource.clone()),
            },
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.action {
            Action::Create => '+',
            Action::Update => '~',
            Action::Delete => '-',
        };
        write!(f, "{sign} {}", self.resource.key())?;
        match (&self.resource, &self.was) {
            (
                Resource::OvsPort { tag, iface, .. },
                Some(Resource::OvsPort {
                    tag: old,
                    iface: oi,
                    ..
                }),
            ) => {
                if tag != old {
                    write!(f, " (tag {} → {})", show_tag(*old), show_tag(*tag))?;
                }
                if iface != oi {
                    write!(f, " (interface {:?} → {:?})", oi, iface)?;
                }
                Ok(())
            }
            (Resource::Route { via, .. }, Some(Resource::Route { via: old, .. })) => {
                write!(f, " (via {old} → {via})")
            }
            (Resource::Sysctl { value, .. }, Some(Resource::Sysctl { value: old, .. })) => {
                write!(f, " ({old} → {value})")
            }
            _ => Ok(()),
        }
    }
}

fn show_tag(t: Option<u16>) -> String {
    t.map_or_else(|| "none".to_string(), |t| t.to_string())
}

/// The steps of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetPlan {
    pub target: TargetInfo,
    /// Deletions first (reverse dependency order), then creations and updates.
    pub steps: Vec<Step>,
}

/// A whole plan. Executed as: targets' deletions (hosts, then the sandbox),
/// then creations (the sandbox, then hosts in parallel, DHCP clients last in `order`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub topology: String,
    pub targets: Vec<TargetPlan>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.targets.iter().all(|t| t.steps.is_empty())
    }

    pub fn len(&self) -> usize {
        self.targets.iter().map(|t| t.steps.len()).sum()
    }
}

/// Diff desired against observed. `targets` says how each target is reached;
/// targets only in `observed` (a host removed from the file) are planned for deletion.
pub fn plan(topology: &str, targets: &[TargetInfo], desired: &State, observed: &State) -> Plan {
    let empty = BTreeMap::new();
    // Keys deleted or re-created anywhere, with what they touch: their dependents go too.
    let mut gone: BTreeSet<String> = BTreeSet::new();
    let mut changed: Vec<(String, String)> = Vec::new();
    for (t, obs) in &observed.targets {
        let want = desired.targets.get(t).unwrap_or(&empty);
        for (k, r) in obs {
            match want.get(k) {
                None => {
                    gone.insert(k.clone());
                    gone.extend(r.touches());
                }
                Some(w) if w != r && !r.updates_in_place() => {
                    gone.insert(k.clone());
                    gone.extend(r.touches());
                    changed.push((t.clone(), k.clone()));
                }
                _ => {}
            }
        }
    }
    // Propagate: an existing resource that lives on a gone one is gone too.
    loop {
        let before = gone.len();
        for (_, r) in observed.iter() {
            if !gone.contains(&r.key()) && r.deps().iter().any(|d| gone.contains(d)) {
                gone.insert(r.key());
                gone.extend(r.touches());
            }
        }
        if gone.len() == before {
            break;
        }
    }

    let mut names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    for t in observed.targets.keys().chain(desired.targets.keys()) {
        if !names.contains(t) {
            names.push(t.clone());
        }
    }
    let mut out = Vec::new();
    for name in names {
        let want = desired.targets.get(&name).unwrap_or(&empty);
        let have = observed.targets.get(&name).unwrap_or(&empty);
        let mut deletes: Vec<&Resource> = Vec::new();
        let mut creates: Vec<Step> = Vec::new();
        for (k, r) in have {
            let wanted = want.get(k);
            let dep_gone = r.deps().iter().any(|d| gone.contains(d));
            let replaced = changed.iter().any(|(t, ck)| *t == name && ck == k);
            if (wanted.is_none() || replaced) && !(dep_gone && r.goes_with_deps()) {
                deletes.push(r);
            } else if wanted.is_some() && dep_gone && !r.goes_with_deps() && !replaced {
                // A process or row whose home is re-created: restart it.
                deletes.push(r);
            }
        }
        for (k, w) in want {
            match have.get(k) {
                None => creates.push(Step {
                    action: Action::Create,
                    resource: w.clone(),
                    was: None,
                }),
                Some(_) if gone.contains(k) => {
                    creates.push(Step {
                        action: Action::Create,
                        resource: w.clone(),
                        was: None,
                    });
                }
                Some(r) if r != w => creates.push(Step {
                    action: Action::Update,
                    resource: w.clone(),
                    was: Some(r.clone()),
                }),
                _ => {}
            }
        }
        deletes.sort_by_key(|r| std::cmp::Reverse(r.rank()));
        creates.sort_by_key(|s| s.resource.rank());
        let mut steps: Vec<Step> = deletes
            .into_iter()
            .map(|r| Step {
                action: Action::Delete,
                resource: r.clone(),
                was: None,
            })
            .collect();
        steps.extend(creates);
        let target = targets
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .unwrap_or(TargetInfo {
                name: name.clone(),
                agent: None,
                emulated: true,
                netns: String::new(),
                ovsdb: String::new(),
                datapath: String::new(),
            });
        out.push(TargetPlan { target, steps });
    }
    Plan {
        topology: topology.to_string(),
        targets: out,
    }
}

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
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let inns = |ns: &str, argv: Vec<String>| -> Vec<String> {
        if ns.is_empty() {
            argv
        } else {
            let mut o = v(&["ip", "netns", "exec", ns]);
            o.extend(argv);
            o
        }
    };
    let vsctl = |args: Vec<String>| -> Vec<String> {
        let mut o = v(&["ovs-vsctl", &format!("--db=unix:{}", target.ovsdb)]);
        o.extend(args);
        inns(&target.netns, o)
    };
    let nsarg = |ns: &str| -> Vec<String> {
        if ns.is_empty() {
            vec![]
        } else {
            v(&["-n", ns])
        }
    };
    let ip = |ns: &str, args: &[&str]| {
        let mut o = v(&["ip"]);
        o.extend(nsarg(ns));
        o.extend(v(args));
        o
    };
    let del = step.action == Action::Delete;
    match &step.resource {
        Resource::RunDir { path } => {
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
        Resource::Netns { name } => {
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
        // The script does the hosts' steps itself: no agent.
        Resource::Agent { .. } => vec![],
        Resource::OvsDaemons { netns, dir } => {
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
                    inns(
                        netns,
                        v(&["ovs-vsctl", &format!("--db={sock}"), "--no-wait", "init"]),
                    ),
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
        Resource::Segment { netns, name, mac } => {
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
        Resource::Veth {
            netns,
            name,
            peer_netns,
            peer,
            peer_mac,
            peer_master,
        } => {
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
        Resource::VxlanLink {
            netns,
            name,
            vni,
            local,
            remote,
        } => {
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
        Resource::OvsBridge { name, datapath } => match step.action {
            Action::Delete => vec![vsctl(v(&["--if-exists", "del-br", name]))],
            Action::Create => vec![vsctl(v(&[
                "add-br",
                name,
                "--",
                "set",
                "bridge",
                name,
                &format!("datapath_type={datapath}"),
                &format!("external_ids:{OVS_OWNER_KEY}={topology}"),
            ]))],
            Action::Update => vec![vsctl(v(&[
                "set",
                "bridge",
                name,
                &format!("datapath_type={datapath}"),
            ]))],
        },
        Resource::OvsPort {
            bridge,
            name,
            tag,
            iface,
        } => {
            let mut set_iface: Vec<String> = Vec::new();
            if !iface.ovs_type().is_empty() {
                set_iface.push(format!("type={}", iface.ovs_type()));
            }
            for (k, val) in iface.options() {
                set_iface.push(format!("options:{k}={val}"));
            }
            match step.action {
                Action::Delete => vec![vsctl(v(&["--if-exists", "del-port", bridge, name]))],
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
                    vec![vsctl(a)]
                }
                Action::Update => {
                    let mut o = vec![match tag {
                        Some(t) => vsctl(v(&["set", "port", name, &format!("tag={t}")])),
                        None => vsctl(v(&["clear", "port", name, "tag"])),
                    }];
                    if !set_iface.is_empty() {
                        let mut a = v(&["set", "interface", name]);
                        a.extend(set_iface);
                        o.push(vsctl(a));
                    }
                    o
                }
            }
        }
        Resource::TxOffloadOff { netns, dev } => {
            if del {
                vec![]
            } else {
                vec![inns(netns, v(&["ethtool", "-K", dev, "tx", "off"]))]
            }
        }
        Resource::Sysctl { netns, key, value } => {
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
        Resource::Addr { netns, dev, cidr } => {
            if del {
                vec![ip(netns, &["addr", "del", &cidr.to_string(), "dev", dev])]
            } else {
                vec![
                    ip(netns, &["addr", "add", &cidr.to_string(), "dev", dev]),
                    ip(netns, &["link", "set", dev, "up"]),
                ]
            }
        }
        Resource::Route { netns, to, via } => {
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
        Resource::Nft { netns, ruleset } => {
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
        Resource::Dnsmasq { netns, args, name } => {
            let dir = args
                .iter()
                .find_map(|a| a.strip_prefix("--pid-file="))
                .map(|p| p.trim_end_matches(&format!("/{name}.pid")).to_string())
                .unwrap_or_default();
            let stop = v(&["pkill", "-F", &format!("{dir}/{name}.pid")]);
            if del {
                vec![stop]
            } else {
                let mut a = v(&["dnsmasq"]);
                a.extend(args.iter().cloned());
                let mut o = Vec::new();
                if step.action == Action::Update {
                    o.push(stop);
                }
                if let Some(d) = dnsmasq_hosts_dir(args) {
                    o.push(v(&["mkdir", "-p", d]));
                }
                o.push(inns(netns, a));
                o
            }
        }
        Resource::DhcpHost { path, mac, ip } => {
            if del {
                vec![v(&["rm", "-f", path])]
            } else {
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                let mut o = vec![
                    v(&["mkdir", "-p", dir]),
                    v(&["dd", &format!("of={path}"), "status=none"]),
                    v(&["<<", &format!("{mac},{ip}")]),
                ];
                // dnsmasq reads new files by itself; a changed one only on SIGHUP.
                if let (Action::Update, Some(pid)) = (step.action, dhcp_host_pidfile(path)) {
                    o.push(v(&["pkill", "-HUP", "-F", &pid]));
                }
                o
            }
        }
        Resource::DhcpClient {
            netns,
            dev,
            no_lease,
            ..
        } => {
            let script = format!("{}/udhcpc.script", names::run_dir(topology));
            let pidfile = dhcp_client_pidfile(topology, netns, dev);
            if del {
                let mut o = Vec::new();
                if *no_lease {
                    o.push(v(&["pkill", "-F", &pidfile]));
                }
                o.push(ip(netns, &["addr", "flush", "dev", dev]));
                o
            } else if *no_lease {
                let dir = pidfile.rsplit_once('/').map_or("", |(d, _)| d);
                vec![
                    v(&["mkdir", "-p", dir]),
                    inns(netns, background_dhcp_client(dev, &script, &pidfile)),
                ]
            } else {
                vec![inns(
                    netns,
                    v(&[
                        "busybox", "udhcpc", "-i", dev, "-n", "-q", "-f", "-t", "6", "-T", "1",
                        "-s", &script,
                    ]),
                )]
            }
        }
    }
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
    let mut dhcp: Vec<(usize, String)> = Vec::new();
    let order = execution_order(plan);
    for (ti, si) in order {
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
        if let (Action::Create, Resource::DhcpClient { order, .. }) = (step.action, &step.resource)
        {
            dhcp.push((*order, text));
        } else {
            out.push_str(&text);
        }
    }
    dhcp.sort();
    for (_, t) in dhcp {
        out.push_str(&t);
    }
    out
}

/// The order steps run in, as (target index, step index): hosts' deletions,
/// the sandbox's deletions, the sandbox's creations, hosts' creations.
pub fn execution_order(plan: &Plan) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let is_sandbox = |t: &TargetPlan| t.target.name == SANDBOX;
    for pass in 0..4 {
        for (ti, tp) in plan.targets.iter().enumerate() {
            let want_sandbox = pass == 1 || pass == 2;
            if is_sandbox(tp) != want_sandbox {
                continue;
            }
            for (si, s) in tp.steps.iter().enumerate() {
                let del = s.action == Action::Delete;
                if del == (pass < 2) {
                    out.push((ti, si));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../examples/seedlab-gre.yaml");

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

    const DHCP: &str = include_str!("../../examples/dhcp.yaml");

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

    const NO_LEASE: &str = include_str!("../tests/labs/nolease.yaml");

    #[test]
    fn a_client_the_model_gives_no_lease_is_marked_and_a_server_for_it_re_creates_it() {
        let t = topo(NO_LEASE);
        let deployed = desired(&t, &Facts::default());
        let client = |vm: &str| {
            &deployed.targets["node1"][&format!("dhcp-client nl-nolease.node1.{vm}/eth0")]
        };
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
}
