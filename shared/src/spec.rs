//! The raw topology file, exactly as written (`../shared/spec/topology-v1.md`).
//!
//! These types only check shape: every key is known and every value has the
//! right JSON type. Names, addresses and references stay strings here so that
//! [`crate::validate`] can report every problem with its path instead of the
//! first one serde meets. The extensions are the optional `layout` key
//! (canvas positions) and `expect` (the design's intent), documented in
//! `docs/topology-format.md`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits;

/// A whole topology file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    /// Format version; only 1 exists.
    pub version: u32,
    /// `[a-z][a-z0-9-]{0,11}`: prefixes everything netloom creates.
    pub name: String,
    /// Tunnel network; default `172.31.0.0/24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay: Option<String>,
    /// netloom extension: what builds the network on the hosts; default `ovs`
    /// (OVS bridges and tunnels netloom makes itself), or `ovn` (OVN logical
    /// switches and routers, docs/topology-format.md, "Engines").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
    /// netloom extension, engine `ovn` on real hosts: the OVN central they
    /// join (docs/topology-format.md, "An existing central"). Without it the
    /// sandbox starts a central of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovn: Option<OvnSpec>,
    /// Networks outside the topology ("the internet").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_EXTERNALS))]
    pub externals: Vec<ExternalSpec>,
    /// Physical machines; sandbox mode emulates each one. All hosts together
    /// have at most 10,000 bridges, 20,000 guests (vms, dhcp servers and
    /// routers) and 1,000 dhcp servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_HOSTS))]
    pub hosts: Vec<HostSpec>,
    /// GRE and VXLAN tunnels; each entry makes both ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_TUNNELS))]
    pub tunnels: Vec<TunnelSpec>,
    /// netloom extension: canvas positions of elements, keyed by element id
    /// (`node1`, `node1/vm1`, `ext:internet`, ...). Ignored by everything but the editor.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layout: BTreeMap<String, Position>,
    /// netloom extension: the design's intent, pairs that must answer ping
    /// and pairs that must not; `validate`, `reach` and `verify` check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectSpec>,
}

/// What builds a design's network on its hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Open vSwitch bridges, ports and tunnels, made by netloom on each host.
    #[default]
    Ovs,
    /// OVN: logical switches and routers in a northbound database, built on
    /// each host by its `ovn-controller`.
    Ovn,
}

/// An existing OVN central, given by address (`ovn:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OvnSpec {
    /// The northbound database as netloom reaches it: `ssl:IP:PORT` or `tcp:IP:PORT`.
    pub northbound: String,
    /// The southbound database as netloom and every host's `ovn-controller`
    /// reach it: `ssl:IP:PORT` or `tcp:IP:PORT`.
    pub southbound: String,
    /// With `ssl:`: the PEM private key, at this absolute path on the machine
    /// that runs netloom and on every host (each its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// With `ssl:`: the PEM certificate of that key, signed by the central's CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// With `ssl:`: the PEM certificate of the CA that signed the central's certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}

impl Engine {
    pub fn is_ovs(&self) -> bool {
        *self == Engine::Ovs
    }

    pub fn word(self) -> &'static str {
        match self {
            Engine::Ovs => "ovs",
            Engine::Ovn => "ovn",
        }
    }
}

/// The intent: pings that must be answered, and pings that must not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Pairs whose ping must be answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_EXPECTATIONS))]
    pub reach: Vec<PairSpec>,
    /// Pairs whose ping must not be answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_EXPECTATIONS))]
    pub isolate: Vec<PairSpec>,
}

/// One ping: a sender and a destination, written as for `netloom simulate`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PairSpec {
    /// A vm (`vm1`, or `host/vm`), a router or dhcp server (`host/name`), or an external network.
    pub from: String,
    /// An IPv4 address, or a node as for `from` (its first address).
    pub to: String,
}

/// A point on the editor's canvas.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub x: f64,
    pub y: f64,
}

/// An external network: a segment with one upstream router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalSpec {
    pub name: String,
    /// The upstream router's address with the segment's prefix, e.g. `198.51.100.1/24`.
    pub gateway: String,
}

/// A physical (or emulated) machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub name: String,
    /// Default: the (index+1)-th address of `underlay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_ip: Option<String>,
    /// URL of the netloom agent of a real host (`https://HOST:PORT`, or `ssh://[USER@]HOST[:PORT]` to run it over SSH); absent: emulated here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<BridgeSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<VmSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dhcp: Vec<DhcpSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routers: Vec<RouterSpec>,
}

/// An Open vSwitch bridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeSpec {
    pub name: String,
    /// Name of an external network this bridge is plugged into, untagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
}

/// A guest machine (a network namespace in sandbox mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    pub name: String,
    /// eth0, eth1, ... in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_INTERFACES))]
    pub nics: Vec<NicSpec>,
    /// Default route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_ROUTES))]
    pub routes: Vec<RouteSpec>,
}

/// One network interface of a vm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NicSpec {
    pub bridge: String,
    /// Access tag 1..4094; absent: untagged (native VLAN, carries every VLAN tagged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
    /// An IPv4 CIDR, or the word `dhcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// `52:54:00:00:00:01`; quote it in YAML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// A static route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Destination prefix, e.g. `10.9.0.0/24`.
    pub to: String,
    /// Next hop, in a subnet of one of the guest's interfaces.
    pub via: String,
}

/// A DHCP server (dnsmasq) on one bridge/VLAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpSpec {
    pub name: String,
    pub bridge: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
    /// The server's own address; defines the served subnet.
    pub ip: String,
    /// First and last address handed out.
    pub range: Vec<String>,
    /// Router option handed to clients (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// A virtual router: a namespace that forwards IPv4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_INTERFACES))]
    pub interfaces: Vec<RouterIfaceSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_ROUTES))]
    pub routes: Vec<RouteSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snat: Vec<SnatSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnat: Vec<DnatSpec>,
}

/// One interface of a router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterIfaceSpec {
    pub name: String,
    pub bridge: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
    pub ip: String,
}

/// Masquerade traffic from `source` leaving by interface `out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnatSpec {
    pub source: String,
    pub out: String,
}

/// Port forward: arriving on `in` for `proto`/`port` goes to `to`:`to_port`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnatSpec {
    #[serde(rename = "in")]
    pub in_: String,
    /// `tcp` or `udp`.
    pub proto: String,
    pub port: i64,
    pub to: String,
    pub to_port: i64,
}

/// A tunnel between bridges of two different hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TunnelSpec {
    /// `gre` or `vxlan`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Two ends, each `host/bridge`.
    pub between: Vec<String>,
    /// GRE key 0..4294967295 (absent: 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<i64>,
    /// VXLAN network identifier 0..16777215 (required for vxlan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<i64>,
}
