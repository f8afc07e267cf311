//! What a deployment is made of: every [`Resource`] kind, its key, rank,
//! dependencies and namespace.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::topology::Mac;

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
    /// An existing Linux device bound to an OVN logical switch port:
    /// `external_ids:iface-id` names the port (engine `ovn`).
    Vif {
        iface_id: String,
    },
}

impl OvsIface {
    /// OVS `Interface.type`.
    pub fn ovs_type(&self) -> &'static str {
        match self {
            OvsIface::System | OvsIface::Vif { .. } => "",
            OvsIface::Internal => "internal",
            OvsIface::Gre { .. } => "gre",
            OvsIface::Vxlan { .. } => "vxlan",
        }
    }

    /// OVS `Interface.external_ids`: a VIF's `iface-id`.
    pub fn external_ids(&self) -> Vec<(String, String)> {
        match self {
            OvsIface::Vif { iface_id } => vec![("iface-id".to_string(), iface_id.clone())],
            _ => Vec::new(),
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

/// The `Open_vSwitch` `external_ids` key that marks a real host's chassis
/// keys as a topology's (its value is the topology's name).
pub const OVN_CHASSIS_MARK: &str = "netloom-ovn";

/// How a host's `ovn-controller` joins its topology's OVN central (engine
/// `ovn`): the `Open_vSwitch` row's `external_ids` it reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OvnChassis {
    /// `system-id`, `ovn-encap-type`, `ovn-encap-ip`, `ovn-bridge-mappings`:
    /// the design's, from [`crate::ovn::chassis`].
    #[serde(flatten)]
    pub chassis: crate::ovn::Chassis,
    /// `ovn-remote`: the southbound database.
    pub remote: String,
    /// `ovn-bridge`: the integration bridge, which netloom makes.
    pub bridge: String,
    /// `ovn-bridge-datapath-type`: the host's datapath (`netdev`, `system`).
    pub datapath: String,
}

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
    /// One ovsdb-server + ovs-vswitchd emulating a host's Open vSwitch, in `netns`, files in `dir`;
    /// with `ovn`, also its integration bridge and `ovn-controller`.
    OvsDaemons {
        netns: String,
        dir: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ovn: Option<OvnChassis>,
    },
    /// A topology's own OVN central on this machine (engine `ovn`): the
    /// northbound and southbound ovsdb-servers and `ovn-northd`, files and
    /// sockets in `dir`.
    OvnCentral { dir: String },
    /// A real host as a chassis of an existing central (engine `ovn`): the
    /// keys of its `Open_vSwitch` row that `ovn-controller` reads
    /// (`ovs-vsctl set open . external_ids:system-id=...`), marked as the
    /// topology's with [`OVN_CHASSIS_MARK`]. A `system-id` the host had is kept
    /// aside and put back when the chassis goes.
    OvnChassis { chassis: OvnChassis },
    /// A real host's `ovn-controller`, its pidfile, log and control socket in
    /// `dir`; with an `ssl:` central, the PEM files it presents and checks.
    OvnController {
        dir: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls: Option<crate::ovn::Tls>,
    },
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
        /// ([`background_dhcp_client`](super::background_dhcp_client)) and nobody waits for a lease. Absent
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
            Resource::OvnCentral { dir } => format!("ovn-central {dir}"),
            Resource::OvnChassis { .. } => "ovn-chassis".to_string(),
            Resource::OvnController { dir, .. } => format!("ovn-controller {dir}"),
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
            Resource::Agent { .. } | Resource::OvsDaemons { .. } | Resource::OvnCentral { .. } => 2,
            // OVS rows come before the devices they name: ovs-vswitchd picks a
            // port's device up when it appears, and meanwhile calibrates its
            // userspace datapath (about 0.1 s) while the links are made.
            Resource::OvsBridge { .. } => 3,
            // A chassis names its integration bridge, which must be there
            // first: ovn-controller would make one of its own, unmarked.
            Resource::OvsPort { .. } | Resource::OvnChassis { .. } => 4,
            Resource::Segment { .. }
            | Resource::VxlanLink { .. }
            | Resource::OvnController { .. } => 5,
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
            Resource::RunDir { .. }
            | Resource::Netns { .. }
            | Resource::OvnCentral { .. }
            | Resource::OvnChassis { .. }
            | Resource::OvnController { .. } => vec![],
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
    pub(super) fn touches(&self) -> Vec<String> {
        match self {
            Resource::Addr { netns, .. } => vec![format!("addrs {netns}")],
            _ => vec![],
        }
    }

    /// True when deleting what it depends on takes it away by itself (a kernel
    /// object inside a namespace); false for OVS rows, processes and files,
    /// which need their own delete step.
    pub(super) fn goes_with_deps(&self) -> bool {
        !matches!(
            self,
            Resource::OvsBridge { .. }
                | Resource::OvsPort { .. }
                | Resource::OvsDaemons { .. }
                | Resource::OvnCentral { .. }
                | Resource::OvnChassis { .. }
                | Resource::OvnController { .. }
                | Resource::Agent { .. }
                | Resource::Dnsmasq { .. }
                | Resource::DhcpHost { .. }
                | Resource::RunDir { .. }
        )
    }

    /// True when a changed value is applied in place rather than by delete + create.
    pub(super) fn updates_in_place(&self) -> bool {
        matches!(
            self,
            Resource::OvsBridge { .. }
                | Resource::OvsPort { .. }
                | Resource::OvnChassis { .. }
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
            | Resource::OvnCentral { .. }
            | Resource::OvnChassis { .. }
            | Resource::OvnController { .. }
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
