//! The editor's view of a design: element identities, canvas geometry, the
//! layout id scheme, and every edit as a function on the raw
//! [`TopologySpec`] (the file is the single source of truth; the canvas and the
//! YAML panel are two views of it).
//!
//! Layout ids (the keys of the file's `layout` map): a host is `<host>`; a
//! bridge, vm, dhcp server or router is `<host>/<name>`; an external network
//! is `ext:<name>`. Positions are element centres, except an empty host's,
//! which is its top-left corner (a host with elements is drawn around them).

use std::collections::BTreeMap;

use netloom_core::spec::*;

/// One thing on the canvas, by index into the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Elem {
    Host(usize),
    Bridge(usize, usize),
    Vm(usize, usize),
    Dhcp(usize, usize),
    Router(usize, usize),
    Ext(usize),
    Tunnel(usize),
    /// nic `n` of vm `v` on host `h`.
    Nic(usize, usize, usize),
    /// interface `i` of router `r` on host `h`.
    RIface(usize, usize, usize),
    /// the attachment of dhcp server `d` to its bridge.
    DhcpLink(usize, usize),
    /// the uplink of bridge `b` to its external network.
    Uplink(usize, usize),
}

/// What the palette can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Host,
    Bridge,
    Vm,
    Dhcp,
    Router,
    Ext,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Host,
        Kind::Bridge,
        Kind::Vm,
        Kind::Dhcp,
        Kind::Router,
        Kind::Ext,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Kind::Host => "host",
            Kind::Bridge => "bridge",
            Kind::Vm => "vm",
            Kind::Dhcp => "dhcp",
            Kind::Router => "router",
            Kind::Ext => "external",
        }
    }

    /// Half width and half height of the node's shape.
    pub fn half(self) -> (f64, f64) {
        match self {
            Kind::Host => (130.0, 85.0),
            Kind::Bridge => (75.0, 14.0),
            Kind::Vm | Kind::Dhcp | Kind::Router => (46.0, 20.0),
            Kind::Ext => (65.0, 32.0),
        }
    }

    pub fn inside_host(self) -> bool {
        !matches!(self, Kind::Host | Kind::Ext)
    }
}

impl Elem {
    /// The node kind, for nodes (not links).
    pub fn kind(self) -> Option<Kind> {
        Some(match self {
            Elem::Host(_) => Kind::Host,
            Elem::Bridge(..) => Kind::Bridge,
            Elem::Vm(..) => Kind::Vm,
            Elem::Dhcp(..) => Kind::Dhcp,
            Elem::Router(..) => Kind::Router,
            Elem::Ext(_) => Kind::Ext,
            _ => return None,
        })
    }

    pub fn host(self) -> Option<usize> {
        match self {
            Elem::Host(h)
            | Elem::Bridge(h, _)
            | Elem::Vm(h, _)
            | Elem::Dhcp(h, _)
            | Elem::Router(h, _)
            | Elem::Nic(h, _, _)
            | Elem::RIface(h, _, _)
            | Elem::DhcpLink(h, _)
            | Elem::Uplink(h, _) => Some(h),
            Elem::Ext(_) | Elem::Tunnel(_) => None,
        }
    }

    /// The node a link belongs to (a nic's vm, ...); a node is its own owner.
    pub fn owner(self) -> Elem {
        match self {
            Elem::Nic(h, v, _) => Elem::Vm(h, v),
            Elem::RIface(h, r, _) => Elem::Router(h, r),
            Elem::DhcpLink(h, d) => Elem::Dhcp(h, d),
            Elem::Uplink(h, b) => Elem::Bridge(h, b),
            e => e,
        }
    }

    /// The layout id (see the module docs), for nodes that still exist.
    pub fn key(self, s: &TopologySpec) -> Option<String> {
        let host = |h: usize| s.hosts.get(h);
        Some(match self {
            Elem::Host(h) => host(h)?.name.clone(),
            Elem::Bridge(h, i) => format!("{}/{}", host(h)?.name, host(h)?.bridges.get(i)?.name),
            Elem::Vm(h, i) => format!("{}/{}", host(h)?.name, host(h)?.vms.get(i)?.name),
            Elem::Dhcp(h, i) => format!("{}/{}", host(h)?.name, host(h)?.dhcp.get(i)?.name),
            Elem::Router(h, i) => format!("{}/{}", host(h)?.name, host(h)?.routers.get(i)?.name),
            Elem::Ext(e) => format!("ext:{}", s.externals.get(e)?.name),
            _ => return None,
        })
    }

    /// The element's place in the file, as problem paths write it.
    pub fn path(self) -> String {
        match self {
            Elem::Host(h) => format!("hosts[{h}]"),
            Elem::Bridge(h, i) => format!("hosts[{h}].bridges[{i}]"),
            Elem::Vm(h, i) => format!("hosts[{h}].vms[{i}]"),
            Elem::Dhcp(h, i) => format!("hosts[{h}].dhcp[{i}]"),
            Elem::Router(h, i) => format!("hosts[{h}].routers[{i}]"),
            Elem::Ext(e) => format!("externals[{e}]"),
            Elem::Tunnel(t) => format!("tunnels[{t}]"),
            Elem::Nic(h, v, n) => format!("hosts[{h}].vms[{v}].nics[{n}]"),
            Elem::RIface(h, r, i) => format!("hosts[{h}].routers[{r}].interfaces[{i}]"),
            Elem::DhcpLink(h, d) => format!("hosts[{h}].dhcp[{d}].bridge"),
            Elem::Uplink(h, b) => format!("hosts[{h}].bridges[{b}].uplink"),
        }
    }

    /// A stable DOM id for tests and for the problems panel.
    pub fn dom_id(self) -> String {
        self.path().replace(['[', '.'], "-").replace(']', "")
    }

    /// Name shown to people.
    pub fn label(self, s: &TopologySpec) -> String {
        match self {
            Elem::Tunnel(t) => s
                .tunnels
                .get(t)
                .map(|t| format!("{} {}", t.kind, t.between.join(" ↔ ")))
                .unwrap_or_default(),
            e if e.kind().is_some() => e.key(s).unwrap_or_default(),
            e => e.path(),
        }
    }
}

/// The node a problem path points into: the innermost host-level element.
pub fn elem_of_path(path: &str) -> Option<Elem> {
    let mut parts = path.split('.').map(|seg| match seg.split_once('[') {
        Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
        None => (seg, None),
    });
    match parts.next()? {
        ("externals", Some(e)) => Some(Elem::Ext(e)),
        ("tunnels", Some(t)) => Some(Elem::Tunnel(t)),
        ("hosts", Some(h)) => match parts.next() {
            Some(("bridges", Some(i))) => Some(Elem::Bridge(h, i)),
            Some(("vms", Some(i))) => Some(Elem::Vm(h, i)),
            Some(("dhcp", Some(i))) => Some(Elem::Dhcp(h, i)),
            Some(("routers", Some(i))) => Some(Elem::Router(h, i)),
            _ => Some(Elem::Host(h)),
        },
        _ => None,
    }
}

/// What validation says of one element, for its mark on the canvas.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mark {
    /// At least one problem is an error (else they are all warnings).
    pub error: bool,
    /// Each problem's reason, severity first, in the validator's order.
    pub reasons: Vec<String>,
}

/// The marks of a design: each problem on the element its path points into
/// (a nic's or a NAT rule's on its guest, a tunnel's on its line).
pub fn marks(problems: &[netloom_core::Problem]) -> BTreeMap<Elem, Mark> {
    let mut out: BTreeMap<Elem, Mark> = BTreeMap::new();
    for p in problems {
        let Some(e) = elem_of_path(&p.path) else {
            continue;
        };
        let m = out.entry(e).or_default();
        m.error |= p.is_error();
        let sev = if p.is_error() { "error" } else { "warning" };
        m.reasons.push(format!("{sev}: {}", p.message));
    }
    out
}

/// The engines the design's properties offer, as (the file's word, label).
pub const ENGINES: [(&str, &str); 2] = [("ovs", "Open vSwitch"), ("ovn", "OVN")];

/// The `engine` key for a choice of [`ENGINES`]: absent for the default
/// (`ovs`), so a design that never named an engine is saved as it was.
pub fn engine_of(word: &str) -> Option<Engine> {
    (word == Engine::Ovn.word()).then_some(Engine::Ovn)
}

/// Every node of a design, hosts first, then what they hold, then externals.
pub fn nodes(s: &TopologySpec) -> Vec<Elem> {
    let mut out = Vec::new();
    for (h, host) in s.hosts.iter().enumerate() {
        out.push(Elem::Host(h));
        out.extend((0..host.bridges.len()).map(|i| Elem::Bridge(h, i)));
        out.extend((0..host.vms.len()).map(|i| Elem::Vm(h, i)));
        out.extend((0..host.dhcp.len()).map(|i| Elem::Dhcp(h, i)));
        out.extend((0..host.routers.len()).map(|i| Elem::Router(h, i)));
    }
    out.extend((0..s.externals.len()).map(Elem::Ext));
    out
}

/// The elements inside a host.
pub fn children(s: &TopologySpec, h: usize) -> Vec<Elem> {
    nodes(s)
        .into_iter()
        .filter(|e| !matches!(e, Elem::Host(_)) && e.host() == Some(h))
        .collect()
}

/// A link drawn between two nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    pub elem: Elem,
    pub a: Elem,
    pub b: Elem,
    pub vlan: Option<i64>,
    pub label: String,
    /// The address configured on the guest's end, as written.
    pub addr: Option<String>,
    pub tunnel: bool,
}

fn bridge_index(s: &TopologySpec, h: usize, name: &str) -> Option<usize> {
    s.hosts[h].bridges.iter().position(|b| b.name == name)
}

/// `host/bridge` → the bridge element.
pub fn find_bridge(s: &TopologySpec, end: &str) -> Option<Elem> {
    let (hn, bn) = end.split_once('/')?;
    let h = s.hosts.iter().position(|x| x.name == hn)?;
    Some(Elem::Bridge(h, bridge_index(s, h, bn)?))
}

/// Every link whose two ends exist.
pub fn links(s: &TopologySpec) -> Vec<Link> {
    let mut out = Vec::new();
    for h in 0..s.hosts.len() {
        host_links(s, h, &mut out);
    }
    for (t, tun) in s.tunnels.iter().enumerate() {
        let ends: Vec<Elem> = tun
            .between
            .iter()
            .filter_map(|e| find_bridge(s, e))
            .collect();
        if let [a, b] = ends[..] {
            out.push(Link {
                elem: Elem::Tunnel(t),
                a,
                b,
                vlan: None,
                label: tunnel_label(tun),
                addr: None,
                tunnel: true,
            });
        }
    }
    out
}

/// The links of host `h`'s guests and bridges, onto `out`.
fn host_links(s: &TopologySpec, h: usize, out: &mut Vec<Link>) {
    let host = &s.hosts[h];
    for (v, vm) in host.vms.iter().enumerate() {
        for (n, nic) in vm.nics.iter().enumerate() {
            if let Some(b) = bridge_index(s, h, &nic.bridge) {
                out.push(Link {
                    elem: Elem::Nic(h, v, n),
                    a: Elem::Vm(h, v),
                    b: Elem::Bridge(h, b),
                    vlan: nic.vlan,
                    label: format!("eth{n}"),
                    addr: nic.ip.clone(),
                    tunnel: false,
                });
            }
        }
    }
    for (d, dh) in host.dhcp.iter().enumerate() {
        if let Some(b) = bridge_index(s, h, &dh.bridge) {
            out.push(Link {
                elem: Elem::DhcpLink(h, d),
                a: Elem::Dhcp(h, d),
                b: Elem::Bridge(h, b),
                vlan: dh.vlan,
                label: "eth0".into(),
                addr: opt(&dh.ip),
                tunnel: false,
            });
        }
    }
    for (r, rt) in host.routers.iter().enumerate() {
        for (i, ifc) in rt.interfaces.iter().enumerate() {
            if let Some(b) = bridge_index(s, h, &ifc.bridge) {
                out.push(Link {
                    elem: Elem::RIface(h, r, i),
                    a: Elem::Router(h, r),
                    b: Elem::Bridge(h, b),
                    vlan: ifc.vlan,
                    label: ifc.name.clone(),
                    addr: opt(&ifc.ip),
                    tunnel: false,
                });
            }
        }
    }
    for (b, br) in host.bridges.iter().enumerate() {
        if let Some(e) = br
            .uplink
            .as_ref()
            .and_then(|u| s.externals.iter().position(|x| &x.name == u))
        {
            out.push(Link {
                elem: Elem::Uplink(h, b),
                a: Elem::Bridge(h, b),
                b: Elem::Ext(e),
                vlan: None,
                label: "uplink".into(),
                addr: None,
                tunnel: false,
            });
        }
    }
}

/// What a node's tooltip says: its kind, name, and each interface's
/// address, bridge and VLAN.
pub fn tooltip(s: &TopologySpec, e: Elem) -> String {
    let port = |name: &str, ip: Option<&str>, bridge: &str, vlan: Option<i64>| {
        let vlan = vlan.map(|v| format!(", VLAN {v}")).unwrap_or_default();
        format!(
            "\n{name}: {} on {bridge}{vlan}",
            ip.filter(|i| !i.is_empty()).unwrap_or("no address")
        )
    };
    let Some(host) = e.host().and_then(|h| s.hosts.get(h)) else {
        return match e {
            Elem::Ext(x) => s
                .externals
                .get(x)
                .map(|x| format!("external network {}\ngateway {}", x.name, x.gateway))
                .unwrap_or_default(),
            _ => String::new(),
        };
    };
    let on = format!(" (host {})", host.name);
    match e {
        Elem::Host(_) => format!(
            "host {}{}",
            host.name,
            host.underlay_ip
                .as_ref()
                .map(|i| format!("\nunderlay {i}"))
                .unwrap_or_default()
        ),
        Elem::Bridge(_, b) => host.bridges.get(b).map_or_else(String::new, |b| {
            let up = b.uplink.as_ref().map(|u| format!("\nuplink to {u}"));
            format!("OVS bridge {}{on}{}", b.name, up.unwrap_or_default())
        }),
        Elem::Vm(_, v) => host.vms.get(v).map_or_else(String::new, |vm| {
            let nics: String = vm
                .nics
                .iter()
                .enumerate()
                .map(|(n, x)| port(&format!("eth{n}"), x.ip.as_deref(), &x.bridge, x.vlan))
                .collect();
            format!("vm {}{on}{nics}", vm.name)
        }),
        Elem::Router(_, r) => host.routers.get(r).map_or_else(String::new, |r| {
            let ifs: String = r
                .interfaces
                .iter()
                .map(|i| port(&i.name, Some(&i.ip), &i.bridge, i.vlan))
                .collect();
            format!("router {}{on}{ifs}", r.name)
        }),
        Elem::Dhcp(_, d) => host.dhcp.get(d).map_or_else(String::new, |d| {
            format!(
                "dhcp {}{on}{}\nleases {}",
                d.name,
                port("eth0", Some(&d.ip), &d.bridge, d.vlan),
                d.range.join(" – ")
            )
        }),
        _ => String::new(),
    }
}

/// `GRE key 5`, `GRE`, `VXLAN 100`.
pub fn tunnel_label(t: &TunnelSpec) -> String {
    match (t.kind.as_str(), t.key, t.vni) {
        ("gre", Some(k), _) => format!("GRE key {k}"),
        ("gre", None, _) => "GRE".into(),
        ("vxlan", _, Some(v)) => format!("VXLAN {v}"),
        (k, _, _) => k.to_uppercase(),
    }
}

/// A colour per VLAN, stable across sessions (untagged: grey).
pub fn vlan_color(vlan: Option<i64>) -> &'static str {
    const PALETTE: [&str; 8] = [
        "#2f7ed8", "#d9822b", "#2e9e5b", "#8e44ad", "#c0392b", "#16a2a2", "#b58b00", "#d6336c",
    ];
    match vlan {
        None => "#7a8794",
        Some(v) => {
            PALETTE[(v.unsigned_abs() as usize / 10 + v.unsigned_abs() as usize) % PALETTE.len()]
        }
    }
}

pub type Layout = BTreeMap<String, (f64, f64)>;

const PAD: f64 = 24.0;
const TITLE: f64 = 30.0;

/// Positions for every node: the file's layout where it has one, an automatic
/// one elsewhere.
pub fn effective_layout(s: &TopologySpec) -> Layout {
    let mut out = auto_layout(s);
    for (k, p) in &s.layout {
        if let Some(slot) = out.get_mut(k) {
            *slot = (p.x, p.y);
        }
    }
    out
}

/// A tidy arrangement that reads at any size: each host laid out on its own
/// (a column per bridge with its guests above and below it), the hosts
/// placed by the tunnel graph, externals above the bridges they serve.
pub fn auto_layout(s: &TopologySpec) -> Layout {
    let n = s.hosts.len();
    // Each host at the origin first: its own layout and its size.
    let mut local: Vec<Layout> = Vec::with_capacity(n);
    let mut sizes = Vec::with_capacity(n);
    for h in 0..n {
        let lay = host_layout(s, h);
        let pos = |k: &str| lay.get(k).copied().unwrap_or_default();
        let r = host_rect(s, h, &pos);
        sizes.push((r.r - r.l, r.b - r.t));
        local.push(lay);
    }
    let corners = place_hosts(&tunnel_graph(s), &sizes);
    // Shifted so the hosts start at (40, 170), below the externals' row.
    let (x0, y0) = corners
        .iter()
        .fold((f64::INFINITY, f64::INFINITY), |(x, y), c| {
            (x.min(c.0), y.min(c.1))
        });
    let mut out = Layout::new();
    let mut uplinked: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut free: f64 = 40.0;
    for (h, &(cx, cy)) in corners.iter().enumerate() {
        let (dx, dy) = (cx - x0 + 40.0, cy - y0 + 170.0);
        free = free.max(dx + sizes[h].0);
        for (k, &(x, y)) in &local[h] {
            out.insert(k.clone(), (x + dx, y + dy));
        }
        for b in &s.hosts[h].bridges {
            if let (Some(u), Some(&(x, _))) = (
                &b.uplink,
                out.get(&format!("{}/{}", s.hosts[h].name, b.name)),
            ) {
                uplinked.entry(u.as_str()).or_default().push(x);
            }
        }
    }
    for ext in &s.externals {
        let ex = match uplinked.get(ext.name.as_str()) {
            Some(xs) => xs.iter().sum::<f64>() / xs.len() as f64,
            None => {
                free += 150.0;
                free - 80.0
            }
        };
        out.insert(format!("ext:{}", ext.name), (ex, 60.0));
    }
    out
}

/// Room between hosts.
const GAP: (f64, f64) = (70.0, 80.0);

/// One host's elements relative to its top-left corner at (0, 0).
fn host_layout(s: &TopologySpec, h: usize) -> Layout {
    let host = &s.hosts[h];
    // Guests go to the column of the first bridge they plug into.
    let ncols = host.bridges.len() + 1;
    let mut cols: Vec<Vec<Elem>> = vec![Vec::new(); ncols];
    let col_of = |bridge: Option<&str>| {
        bridge
            .and_then(|b| bridge_index(s, h, b))
            .unwrap_or(host.bridges.len())
    };
    for (i, vm) in host.vms.iter().enumerate() {
        cols[col_of(vm.nics.first().map(|n| n.bridge.as_str()))].push(Elem::Vm(h, i));
    }
    for (i, d) in host.dhcp.iter().enumerate() {
        cols[col_of(Some(&d.bridge))].push(Elem::Dhcp(h, i));
    }
    for (i, r) in host.routers.iter().enumerate() {
        cols[col_of(r.interfaces.first().map(|f| f.bridge.as_str()))].push(Elem::Router(h, i));
    }
    let mut out = Layout::new();
    out.insert(host.name.clone(), (0.0, 0.0));
    let mut cx = PAD;
    for (c, guests) in cols.iter().enumerate() {
        let is_bridge = c < host.bridges.len();
        if !is_bridge && guests.is_empty() {
            continue;
        }
        let per_row = guests.len().div_ceil(2).max(1);
        let width = (per_row as f64 * 112.0).max(170.0);
        let mid = cx + width / 2.0;
        if is_bridge {
            let key = format!("{}/{}", host.name, host.bridges[c].name);
            out.insert(key, (mid, TITLE + 110.0));
        }
        for (i, g) in guests.iter().enumerate() {
            let (row, idx) = if i < per_row {
                (0, i)
            } else {
                (1, i - per_row)
            };
            let in_row = if row == 0 {
                per_row
            } else {
                guests.len() - per_row
            };
            let gx = mid + (idx as f64 - (in_row as f64 - 1.0) / 2.0) * 112.0;
            let gy = TITLE + 40.0 + row as f64 * 140.0;
            if let Some(k) = g.key(s) {
                out.insert(k, (gx, gy));
            }
        }
        cx += width;
    }
    out
}

/// Each host's top-left corner. With a hub (a host with tunnels to three
/// or more, and every host it reaches at most two tunnels away), its hosts
/// go on rings around it by their distance in tunnels, so every tunnel of a
/// star leaves the hub its own way. The other hosts (all of them in deeper
/// graphs, where rings would make hosts tiny) go in a grid whose rows read
/// alternately left to right and back, so a chain stays a chain.
fn place_hosts(adj: &[Vec<usize>], sizes: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let n = adj.len();
    let mut corners = vec![(0.0, 0.0); n];
    let mut placed = vec![false; n];
    let mut bottom = 0.0f64;
    let hub = (0..n).max_by_key(|&h| (adj[h].len(), std::cmp::Reverse(h)));
    let rings = hub
        .filter(|&h| adj[h].len() > 2)
        .map(|h| rings_from(adj, h))
        .filter(|r| r.len() <= 3);
    if let Some(rings) = rings {
        // Far enough apart for the largest host in any direction.
        let (w, h) = sizes
            .iter()
            .fold((0.0f64, 0.0f64), |a, s| (a.0.max(s.0), a.1.max(s.1)));
        let step = (w + GAP.0).hypot(h + GAP.1);
        let mut radius = 0.0;
        for (d, ring) in rings.iter().enumerate() {
            let count = ring.len() as f64;
            if d > 0 {
                let around = if ring.len() > 1 {
                    step / (2.0 * (std::f64::consts::PI / count).sin())
                } else {
                    0.0
                };
                radius = (radius + step).max(around);
            }
            for (i, &x) in ring.iter().enumerate() {
                // Starting at the top, clockwise; a second ring's hosts in the
                // order of their first rings', so they lie behind them.
                let a = -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * i as f64 / count;
                let c = (radius * a.cos(), radius * a.sin());
                corners[x] = (c.0 - sizes[x].0 / 2.0, c.1 - sizes[x].1 / 2.0);
                placed[x] = true;
                bottom = bottom.max(corners[x].1 + sizes[x].1 + GAP.1);
            }
        }
    }
    let rest = snake_order(adj, &placed);
    let side = (rest.len() as f64).sqrt().ceil().max(1.0) as usize;
    let (mut widths, mut heights) = (vec![0.0f64; side], vec![0.0f64; rest.len().div_ceil(side)]);
    let cell = |i: usize| {
        let (r, c) = (i / side, i % side);
        (if r % 2 == 0 { c } else { side - 1 - c }, r)
    };
    for (i, &h) in rest.iter().enumerate() {
        let (c, r) = cell(i);
        widths[c] = widths[c].max(sizes[h].0);
        heights[r] = heights[r].max(sizes[h].1);
    }
    let starts = |sizes: &[f64], from: f64, gap: f64| {
        sizes
            .iter()
            .scan(from, |at, w| {
                let here = *at;
                *at += w + gap;
                Some(here)
            })
            .collect::<Vec<f64>>()
    };
    let left = corners
        .iter()
        .zip(&placed)
        .filter(|(_, p)| **p)
        .map(|(c, _)| c.0)
        .fold(f64::INFINITY, f64::min);
    let left = if left.is_finite() { left } else { 0.0 };
    let (xs, ys) = (
        starts(&widths, left, GAP.0),
        starts(&heights, bottom, GAP.1),
    );
    for (i, &h) in rest.iter().enumerate() {
        let (c, r) = cell(i);
        // Centred in its column, so a column of hosts of different widths lines up.
        corners[h] = (xs[c] + (widths[c] - sizes[h].0) / 2.0, ys[r]);
    }
    corners
}

/// Hosts joined by tunnels, as adjacency lists by host index.
fn tunnel_graph(s: &TopologySpec) -> Vec<Vec<usize>> {
    let mut adj = vec![Vec::new(); s.hosts.len()];
    for t in &s.tunnels {
        let ends: Vec<usize> = t
            .between
            .iter()
            .filter_map(|e| {
                let host = e.split('/').next()?;
                s.hosts.iter().position(|h| h.name == host)
            })
            .collect();
        if let [a, b] = ends[..] {
            if a != b && !adj[a].contains(&b) {
                adj[a].push(b);
                adj[b].push(a);
            }
        }
    }
    adj
}

/// Hosts by their distance in tunnels from `start`, breadth first.
fn rings_from(adj: &[Vec<usize>], start: usize) -> Vec<Vec<usize>> {
    let mut seen = vec![false; adj.len()];
    seen[start] = true;
    let mut rings = vec![vec![start]];
    loop {
        let next: Vec<usize> = rings[rings.len() - 1]
            .iter()
            .flat_map(|&h| adj[h].iter().copied())
            .filter(|&x| !std::mem::replace(&mut seen[x], true))
            .collect();
        if next.is_empty() {
            return rings;
        }
        rings.push(next);
    }
}

/// The hosts not yet placed, breadth first through the tunnel graph from an
/// end of each chain (the file's order otherwise), so hosts joined by a
/// tunnel land next to each other.
fn snake_order(adj: &[Vec<usize>], placed: &[bool]) -> Vec<usize> {
    let mut starts: Vec<usize> = (0..adj.len()).filter(|&h| !placed[h]).collect();
    // Stable: ties keep the file's order; hosts without tunnels last.
    starts.sort_by_key(|&h| (adj[h].is_empty(), adj[h].len()));
    let mut seen = placed.to_vec();
    let mut order = Vec::new();
    for start in starts {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(h) = queue.pop_front() {
            order.push(h);
            for &x in &adj[h] {
                if !seen[x] {
                    seen[x] = true;
                    queue.push_back(x);
                }
            }
        }
    }
    order
}

/// An axis-aligned box: left, top, right, bottom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub l: f64,
    pub t: f64,
    pub r: f64,
    pub b: f64,
}

impl Rect {
    pub fn around(c: (f64, f64), half: (f64, f64)) -> Rect {
        Rect {
            l: c.0 - half.0,
            t: c.1 - half.1,
            r: c.0 + half.0,
            b: c.1 + half.1,
        }
    }

    pub fn contains(&self, p: (f64, f64)) -> bool {
        p.0 >= self.l && p.0 <= self.r && p.1 >= self.t && p.1 <= self.b
    }

    pub fn union(self, o: Rect) -> Rect {
        Rect {
            l: self.l.min(o.l),
            t: self.t.min(o.t),
            r: self.r.max(o.r),
            b: self.b.max(o.b),
        }
    }

    pub fn intersects(&self, o: &Rect) -> bool {
        self.l <= o.r && o.l <= self.r && self.t <= o.b && o.t <= self.b
    }
}

/// A host's box: its own place (where it was dropped or laid out), grown to
/// hold every element inside it.
pub fn host_rect(s: &TopologySpec, h: usize, pos: &dyn Fn(&str) -> (f64, f64)) -> Rect {
    let (x, y) = pos(&s.hosts[h].name);
    let (hw, hh) = Kind::Host.half();
    let mut r = Rect {
        l: x,
        t: y,
        r: x + 2.0 * hw,
        b: y + 2.0 * hh,
    };
    for c in children(s, h) {
        if let (Some(k), Some(kind)) = (c.key(s), c.kind()) {
            let cr = Rect::around(pos(&k), kind.half());
            r = r.union(Rect {
                l: cr.l - PAD,
                t: cr.t - PAD - TITLE,
                r: cr.r + PAD,
                b: cr.b + PAD,
            });
        }
    }
    r
}

/// The box around everything drawn: hosts, their elements, externals.
pub fn design_bounds(s: &TopologySpec, pos: &dyn Fn(&str) -> (f64, f64)) -> Option<Rect> {
    nodes(s)
        .into_iter()
        .filter_map(|e| match e {
            Elem::Host(h) => Some(host_rect(s, h, pos)),
            _ => Some(Rect::around(pos(&e.key(s)?), e.kind()?.half())),
        })
        .reduce(Rect::union)
}

/// Move a guest (vm, dhcp server, router) to another host, dropped at `at`.
/// Its nics keep their bridge names: on the new host they plug into the
/// bridge of that name (the validator names any that is missing). Returns
/// the guest's new identity.
pub fn move_guest(s: &mut TopologySpec, e: Elem, to: usize, at: (f64, f64)) -> Option<Elem> {
    let old = e.key(s)?;
    if e.host() == Some(to) || to >= s.hosts.len() {
        return None;
    }
    let moved = match e {
        Elem::Vm(h, i) => {
            let vm = s.hosts[h].vms.remove(i);
            s.hosts[to].vms.push(vm);
            Elem::Vm(to, s.hosts[to].vms.len() - 1)
        }
        Elem::Dhcp(h, i) => {
            let d = s.hosts[h].dhcp.remove(i);
            s.hosts[to].dhcp.push(d);
            Elem::Dhcp(to, s.hosts[to].dhcp.len() - 1)
        }
        Elem::Router(h, i) => {
            let r = s.hosts[h].routers.remove(i);
            s.hosts[to].routers.push(r);
            Elem::Router(to, s.hosts[to].routers.len() - 1)
        }
        _ => return None,
    };
    s.layout.remove(&old);
    s.layout.insert(
        moved.key(s)?,
        Position {
            x: at.0.round(),
            y: at.1.round(),
        },
    );
    Some(moved)
}

fn unique(base: &str, taken: &[&str]) -> String {
    (1..)
        .map(|n| format!("{base}{n}"))
        .find(|c| !taken.contains(&c.as_str()))
        .unwrap_or_default()
}

fn all_guest_names(s: &TopologySpec) -> Vec<&str> {
    s.hosts
        .iter()
        .flat_map(|h| {
            h.vms
                .iter()
                .map(|v| v.name.as_str())
                .chain(h.dhcp.iter().map(|d| d.name.as_str()))
                .chain(h.routers.iter().map(|r| r.name.as_str()))
        })
        .collect()
}

/// Add a node at a canvas point; guests and bridges go into host `host`.
/// Returns the new element.
pub fn add(s: &mut TopologySpec, kind: Kind, host: Option<usize>, at: (f64, f64)) -> Option<Elem> {
    let elem = new_node(s, kind, host)?;
    let key = elem.key(s)?;
    let at = if kind == Kind::Host {
        (at.0 - Kind::Host.half().0, at.1 - Kind::Host.half().1)
    } else {
        at
    };
    s.layout.insert(
        key,
        Position {
            x: at.0.round(),
            y: at.1.round(),
        },
    );
    Some(elem)
}

/// A new, empty `kind` with a name of its own (in host `host` for what lives
/// in one); `None` for such a kind without a host.
fn new_node(s: &mut TopologySpec, kind: Kind, host: Option<usize>) -> Option<Elem> {
    Some(match (kind, host) {
        (Kind::Host, _) => {
            let taken: Vec<&str> = s.hosts.iter().map(|h| h.name.as_str()).collect();
            let name = unique("node", &taken);
            s.hosts.push(HostSpec {
                name,
                underlay_ip: None,
                agent: None,
                bridges: vec![],
                vms: vec![],
                dhcp: vec![],
                routers: vec![],
            });
            Elem::Host(s.hosts.len() - 1)
        }
        (Kind::Ext, _) => {
            let taken: Vec<&str> = s.externals.iter().map(|e| e.name.as_str()).collect();
            let name = unique("ext", &taken);
            s.externals.push(ExternalSpec {
                name,
                gateway: String::new(),
            });
            Elem::Ext(s.externals.len() - 1)
        }
        (Kind::Bridge, Some(h)) => {
            let taken: Vec<&str> = s.hosts[h].bridges.iter().map(|b| b.name.as_str()).collect();
            let name = unique("br", &taken);
            s.hosts[h].bridges.push(BridgeSpec { name, uplink: None });
            Elem::Bridge(h, s.hosts[h].bridges.len() - 1)
        }
        (Kind::Vm, Some(h)) => {
            let name = unique("vm", &all_guest_names(s));
            s.hosts[h].vms.push(VmSpec {
                name,
                nics: vec![],
                gateway: None,
                routes: vec![],
            });
            Elem::Vm(h, s.hosts[h].vms.len() - 1)
        }
        (Kind::Dhcp, Some(h)) => {
            let name = unique("dhcp", &all_guest_names(s));
            s.hosts[h].dhcp.push(DhcpSpec {
                name,
                bridge: String::new(),
                vlan: None,
                ip: String::new(),
                range: vec![String::new(), String::new()],
                gateway: None,
            });
            Elem::Dhcp(h, s.hosts[h].dhcp.len() - 1)
        }
        (Kind::Router, Some(h)) => {
            let name = unique("r", &all_guest_names(s));
            s.hosts[h].routers.push(RouterSpec {
                name,
                interfaces: vec![],
                gateway: None,
                routes: vec![],
                snat: vec![],
                dnat: vec![],
            });
            Elem::Router(h, s.hosts[h].routers.len() - 1)
        }
        _ => return None,
    })
}

/// What connecting `from` to `to` would do, or why it cannot.
pub enum Connection {
    /// A nic, router interface or DHCP attachment.
    Attach,
    Uplink,
    /// A tunnel: the user picks GRE or VXLAN.
    Tunnel,
}

pub fn connection(s: &TopologySpec, from: Elem, to: Elem) -> Result<Connection, String> {
    let (from, to) = match (from, to) {
        (Elem::Bridge(..), Elem::Vm(..) | Elem::Dhcp(..) | Elem::Router(..)) => (to, from),
        (Elem::Ext(_), Elem::Bridge(..)) => (to, from),
        p => p,
    };
    match (from, to) {
        (Elem::Vm(h, _) | Elem::Dhcp(h, _) | Elem::Router(h, _), Elem::Bridge(hb, _)) => {
            if h == hb {
                Ok(Connection::Attach)
            } else {
                Err("a guest plugs only into a bridge of its own host; join bridges of different hosts with a tunnel".into())
            }
        }
        (Elem::Bridge(h1, _), Elem::Bridge(h2, _)) => {
            if h1 != h2 {
                Ok(Connection::Tunnel)
            } else {
                Err("a tunnel joins bridges of two different hosts".into())
            }
        }
        (Elem::Bridge(h, b), Elem::Ext(_)) => {
            if s.hosts[h].bridges[b].uplink.is_some() {
                Err("this bridge already has an uplink".into())
            } else {
                Ok(Connection::Uplink)
            }
        }
        _ => Err("connect a guest to a bridge, a bridge to a bridge on another host, or a bridge to an external network".into()),
    }
}

/// Make the connection (after [`connection`] said it is possible); `tunnel`
/// is `gre` or `vxlan` for bridge-to-bridge.
pub fn connect(s: &mut TopologySpec, from: Elem, to: Elem, tunnel: &str) -> Option<Elem> {
    let (from, to) = match (from, to) {
        (Elem::Bridge(..), Elem::Vm(..) | Elem::Dhcp(..) | Elem::Router(..)) => (to, from),
        (Elem::Ext(_), Elem::Bridge(..)) => (to, from),
        p => p,
    };
    match (from, to) {
        (Elem::Vm(h, v), Elem::Bridge(_, b)) => {
            let bridge = s.hosts[h].bridges[b].name.clone();
            let nics = &mut s.hosts[h].vms[v].nics;
            nics.push(NicSpec {
                bridge,
                vlan: None,
                ip: None,
                mac: None,
            });
            Some(Elem::Nic(h, v, nics.len() - 1))
        }
        (Elem::Dhcp(h, d), Elem::Bridge(_, b)) => {
            s.hosts[h].dhcp[d].bridge = s.hosts[h].bridges[b].name.clone();
            Some(Elem::DhcpLink(h, d))
        }
        (Elem::Router(h, r), Elem::Bridge(_, b)) => {
            let bridge = s.hosts[h].bridges[b].name.clone();
            let ifs = &mut s.hosts[h].routers[r].interfaces;
            let taken: Vec<&str> = ifs.iter().map(|i| i.name.as_str()).collect();
            let name = (0..)
                .map(|n| format!("if{n}"))
                .find(|c| !taken.contains(&c.as_str()))?;
            ifs.push(RouterIfaceSpec {
                name,
                bridge,
                vlan: None,
                ip: String::new(),
            });
            Some(Elem::RIface(h, r, ifs.len() - 1))
        }
        (Elem::Bridge(h, b), Elem::Ext(e)) => {
            s.hosts[h].bridges[b].uplink = Some(s.externals[e].name.clone());
            Some(Elem::Uplink(h, b))
        }
        (Elem::Bridge(h1, b1), Elem::Bridge(h2, b2)) => {
            let ends = vec![
                format!("{}/{}", s.hosts[h1].name, s.hosts[h1].bridges[b1].name),
                format!("{}/{}", s.hosts[h2].name, s.hosts[h2].bridges[b2].name),
            ];
            // The first key/VNI no other tunnel uses, so OVS accepts the port.
            let used = |f: &dyn Fn(&TunnelSpec) -> Option<i64>| -> Vec<i64> {
                s.tunnels
                    .iter()
                    .filter(|t| t.kind == tunnel)
                    .filter_map(f)
                    .collect()
            };
            let (key, vni) = if tunnel == "vxlan" {
                let u = used(&|t| t.vni);
                (None, (100..).find(|n| !u.contains(n)))
            } else {
                let u = used(&|t| t.key);
                ((1..).find(|n| !u.contains(n)), None)
            };
            s.tunnels.push(TunnelSpec {
                kind: tunnel.to_string(),
                between: ends,
                key,
                vni,
            });
            Some(Elem::Tunnel(s.tunnels.len() - 1))
        }
        _ => None,
    }
}

/// Remove elements (links and nodes). Nodes take their links with them;
/// indices are removed from the highest down so the others stay valid.
pub fn delete(s: &mut TopologySpec, elems: &[Elem]) {
    let mut elems = elems.to_vec();
    elems.sort();
    elems.dedup();
    // Links first (they index into nodes), highest index first.
    for e in elems.iter().rev() {
        delete_link(s, *e);
    }
    for e in elems.iter().rev() {
        let key = e.key(s);
        if delete_node(s, *e) {
            if let Some(k) = key {
                s.layout.remove(&k);
            }
        }
    }
}

/// Remove link `e` (a nic, a router's interface, a dhcp server's or an
/// uplink's connection, a tunnel); anything else stays.
fn delete_link(s: &mut TopologySpec, e: Elem) {
    match e {
        Elem::Nic(h, v, n) => {
            if let Some(vm) = s.hosts.get_mut(h).and_then(|x| x.vms.get_mut(v)) {
                if n < vm.nics.len() {
                    vm.nics.remove(n);
                }
            }
        }
        Elem::RIface(h, r, i) => {
            if let Some(rt) = s.hosts.get_mut(h).and_then(|x| x.routers.get_mut(r)) {
                if i < rt.interfaces.len() {
                    rt.interfaces.remove(i);
                }
            }
        }
        Elem::DhcpLink(h, d) => {
            if let Some(dh) = s.hosts.get_mut(h).and_then(|x| x.dhcp.get_mut(d)) {
                dh.bridge.clear();
            }
        }
        Elem::Uplink(h, b) => {
            if let Some(br) = s.hosts.get_mut(h).and_then(|x| x.bridges.get_mut(b)) {
                br.uplink = None;
            }
        }
        Elem::Tunnel(t) if t < s.tunnels.len() => {
            s.tunnels.remove(t);
        }
        _ => {}
    }
}

/// Remove node `e` with its links and what names it; false when `e` is not a node.
fn delete_node(s: &mut TopologySpec, e: Elem) -> bool {
    match e {
        Elem::Host(h) => {
            let name = s.hosts[h].name.clone();
            s.tunnels.retain(|t| {
                !t.between
                    .iter()
                    .any(|x| x.split('/').next() == Some(name.as_str()))
            });
            let prefix = format!("{name}/");
            s.layout.retain(|k, _| !k.starts_with(&prefix));
            s.hosts.remove(h);
        }
        Elem::Bridge(h, b) => {
            let host = &mut s.hosts[h];
            let name = host.bridges.remove(b).name;
            for vm in &mut host.vms {
                vm.nics.retain(|n| n.bridge != name);
            }
            for r in &mut host.routers {
                r.interfaces.retain(|i| i.bridge != name);
            }
            for d in &mut host.dhcp {
                if d.bridge == name {
                    d.bridge.clear();
                }
            }
            let end = format!("{}/{name}", host.name);
            s.tunnels.retain(|t| !t.between.contains(&end));
        }
        Elem::Vm(h, i) => {
            s.hosts[h].vms.remove(i);
        }
        Elem::Dhcp(h, i) => {
            s.hosts[h].dhcp.remove(i);
        }
        Elem::Router(h, i) => {
            s.hosts[h].routers.remove(i);
        }
        Elem::Ext(e) => {
            let name = s.externals.remove(e).name;
            for h in &mut s.hosts {
                for b in &mut h.bridges {
                    if b.uplink.as_deref() == Some(name.as_str()) {
                        b.uplink = None;
                    }
                }
            }
        }
        _ => return false,
    }
    true
}

/// Rename a node and every reference to it (tunnel ends, nics, uplinks, NAT
/// rules, layout ids).
pub fn rename(s: &mut TopologySpec, e: Elem, new: &str) {
    let Some(old_key) = e.key(s) else { return };
    let new = new.trim().to_string();
    match e {
        Elem::Host(h) => {
            let old = std::mem::replace(&mut s.hosts[h].name, new.clone());
            for t in &mut s.tunnels {
                for end in &mut t.between {
                    if let Some(rest) = end.strip_prefix(&format!("{old}/")) {
                        *end = format!("{new}/{rest}");
                    }
                }
            }
            let moved: Vec<String> = s
                .layout
                .keys()
                .filter(|k| k.starts_with(&format!("{old}/")))
                .cloned()
                .collect();
            for k in moved {
                if let Some(p) = s.layout.remove(&k) {
                    s.layout.insert(format!("{new}/{}", &k[old.len() + 1..]), p);
                }
            }
        }
        Elem::Bridge(h, b) => {
            let host = &mut s.hosts[h];
            let old = std::mem::replace(&mut host.bridges[b].name, new.clone());
            for vm in &mut host.vms {
                for n in &mut vm.nics {
                    if n.bridge == old {
                        n.bridge = new.clone();
                    }
                }
            }
            for r in &mut host.routers {
                for i in &mut r.interfaces {
                    if i.bridge == old {
                        i.bridge = new.clone();
                    }
                }
            }
            for d in &mut host.dhcp {
                if d.bridge == old {
                    d.bridge = new.clone();
                }
            }
            let (oe, ne) = (
                format!("{}/{old}", host.name),
                format!("{}/{new}", host.name),
            );
            for t in &mut s.tunnels {
                for end in &mut t.between {
                    if *end == oe {
                        *end = ne.clone();
                    }
                }
            }
        }
        Elem::Vm(h, i) => s.hosts[h].vms[i].name = new,
        Elem::Dhcp(h, i) => s.hosts[h].dhcp[i].name = new,
        Elem::Router(h, i) => s.hosts[h].routers[i].name = new,
        Elem::Ext(x) => {
            let old = std::mem::replace(&mut s.externals[x].name, new.clone());
            for h in &mut s.hosts {
                for b in &mut h.bridges {
                    if b.uplink.as_deref() == Some(old.as_str()) {
                        b.uplink = Some(new.clone());
                    }
                }
            }
        }
        _ => return,
    }
    if let (Some(p), Some(k)) = (s.layout.remove(&old_key), e.key(s)) {
        s.layout.insert(k, p);
    }
}

/// Rename a router interface and the NAT rules that name it.
pub fn rename_iface(s: &mut TopologySpec, h: usize, r: usize, i: usize, new: &str) {
    let rt = &mut s.hosts[h].routers[r];
    let old = std::mem::replace(&mut rt.interfaces[i].name, new.trim().to_string());
    for sn in &mut rt.snat {
        if sn.out == old {
            sn.out = new.trim().to_string();
        }
    }
    for dn in &mut rt.dnat {
        if dn.in_ == old {
            dn.in_ = new.trim().to_string();
        }
    }
}

/// Empty text → `None`.
pub fn opt(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A VLAN field: empty → untagged; anything else must be a number (the
/// validator then checks the range).
pub fn parse_vlan(text: &str) -> Result<Option<i64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<i64>().map(Some).map_err(|_| {
        format!("{t:?} is not a VLAN number (1..4094), or leave it empty for untagged")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A design of `n` hosts with one bridge and two vms each, and tunnels between the given pairs.
    fn design(n: usize, tunnels: &[(usize, usize)]) -> TopologySpec {
        let mut y = String::from("version: 1\nname: t\nhosts:\n");
        for h in 0..n {
            y += &format!(
                "- name: h{h}\n  bridges: [{{name: br}}]\n  vms:\n  - {{name: a{h}, nics: [{{bridge: br}}]}}\n  - {{name: b{h}, nics: [{{bridge: br}}]}}\n"
            );
        }
        if !tunnels.is_empty() {
            y += "tunnels:\n";
        }
        for (k, (a, b)) in tunnels.iter().enumerate() {
            y += &format!(
                "- {{type: gre, between: [h{a}/br, h{b}/br], key: {}}}\n",
                k + 1
            );
        }
        netloom_core::parse(&y).unwrap()
    }

    fn host_boxes(s: &TopologySpec) -> Vec<Rect> {
        let lay = auto_layout(s);
        let pos = |k: &str| lay.get(k).copied().unwrap_or_default();
        (0..s.hosts.len()).map(|h| host_rect(s, h, &pos)).collect()
    }

    fn assert_apart(s: &TopologySpec) {
        let boxes = host_boxes(s);
        for (i, a) in boxes.iter().enumerate() {
            for (j, b) in boxes.iter().enumerate().skip(i + 1) {
                assert!(!a.intersects(b), "hosts {i} and {j} overlap: {a:?} {b:?}");
            }
        }
    }

    #[test]
    fn chains_go_in_rows_read_back_and_forth() {
        let chain: Vec<_> = (0..19).map(|h| (h, h + 1)).collect();
        let s = design(20, &chain);
        assert_apart(&s);
        let boxes = host_boxes(&s);
        let rows: std::collections::BTreeSet<i64> = boxes.iter().map(|r| r.t as i64).collect();
        assert_eq!(rows.len(), 4, "20 hosts in rows of 5");
        // Neighbours in the chain are neighbours on the canvas.
        for (a, b) in chain {
            let (ra, rb) = (boxes[a], boxes[b]);
            let far = (ra.l - rb.l).abs() + (ra.t - rb.t).abs();
            assert!(far < 800.0, "h{a} and h{b} are {far} apart");
        }
    }

    #[test]
    fn a_star_goes_round_its_hub() {
        let star: Vec<_> = (1..20).map(|h| (0, h)).collect();
        let s = design(20, &star);
        assert_apart(&s);
        let boxes = host_boxes(&s);
        let centre = |r: &Rect| ((r.l + r.r) / 2.0, (r.t + r.b) / 2.0);
        let hub = centre(&boxes[0]);
        let mut angles: Vec<f64> = boxes[1..]
            .iter()
            .map(|r| {
                let c = centre(r);
                (c.1 - hub.1).atan2(c.0 - hub.0)
            })
            .collect();
        angles.sort_by(f64::total_cmp);
        for w in angles.windows(2) {
            assert!(
                w[1] - w[0] > 0.2,
                "two spokes point the same way: {angles:?}"
            );
        }
    }

    #[test]
    fn deep_trees_and_loose_hosts_stay_apart() {
        let tree: Vec<_> = (1..40).map(|h| ((h - 1) / 2, h)).collect();
        assert_apart(&design(45, &tree));
        assert_apart(&design(7, &[(0, 1), (0, 2), (0, 3)]));
        assert_apart(&design(3, &[]));
    }

    /// Two hosts: h0 with a vm (a nic on br, one on a bridge that is gone),
    /// a dhcp server and a router on br, br uplinked to ext; h1 with br; a
    /// tunnel h0/br ↔ h1/br.
    fn wired() -> TopologySpec {
        let mut s = netloom_core::parse(
            "version: 1\nname: t\n\
             externals: [{name: ext, gateway: 198.51.100.1/24}]\n\
             hosts:\n\
             - name: h0\n  bridges: [{name: br, uplink: ext}]\n\
             \x20 vms: [{name: vm, nics: [{bridge: br, ip: 10.0.0.1/24, vlan: 10}, {bridge: gone}]}]\n\
             \x20 dhcp: [{name: dh, bridge: br, ip: 10.0.0.2/24, range: [10.0.0.10, 10.0.0.20]}]\n\
             \x20 routers: [{name: r, interfaces: [{name: qr0, bridge: br, ip: 10.0.0.254/24}]}]\n\
             - name: h1\n  bridges: [{name: br}]\n\
             tunnels: [{type: gre, between: [h0/br, h1/br], key: 7}]\n",
        )
        .unwrap();
        s.layout = effective_layout(&s)
            .into_iter()
            .map(|(k, (x, y))| (k, Position { x, y }))
            .collect();
        s
    }

    #[test]
    fn links_are_the_connections_whose_ends_exist() {
        let s = wired();
        // Its element, ends, VLAN, label and address.
        type Row = (Elem, Elem, Elem, Option<i64>, String, Option<String>);
        let got: Vec<Row> = links(&s)
            .into_iter()
            .map(|l| (l.elem, l.a, l.b, l.vlan, l.label, l.addr))
            .collect();
        let br = Elem::Bridge(0, 0);
        assert_eq!(
            got,
            vec![
                (
                    Elem::Nic(0, 0, 0),
                    Elem::Vm(0, 0),
                    br,
                    Some(10),
                    "eth0".into(),
                    Some("10.0.0.1/24".into())
                ),
                (
                    Elem::DhcpLink(0, 0),
                    Elem::Dhcp(0, 0),
                    br,
                    None,
                    "eth0".into(),
                    Some("10.0.0.2/24".into())
                ),
                (
                    Elem::RIface(0, 0, 0),
                    Elem::Router(0, 0),
                    br,
                    None,
                    "qr0".into(),
                    Some("10.0.0.254/24".into())
                ),
                (
                    Elem::Uplink(0, 0),
                    br,
                    Elem::Ext(0),
                    None,
                    "uplink".into(),
                    None
                ),
                (
                    Elem::Tunnel(0),
                    br,
                    Elem::Bridge(1, 0),
                    None,
                    "GRE key 7".into(),
                    None
                ),
            ]
        );
    }

    #[test]
    fn added_nodes_get_a_free_name_and_a_place() {
        let mut s = wired();
        assert_eq!(
            add(&mut s, Kind::Vm, Some(1), (10.4, 20.6)),
            Some(Elem::Vm(1, 0))
        );
        // Guest names are unique across hosts: the first free of vm1, vm2…
        assert_eq!(s.hosts[1].vms[0].name, "vm1");
        assert_eq!(s.layout["h1/vm1"], Position { x: 10.0, y: 21.0 });
        assert_eq!(
            add(&mut s, Kind::Vm, Some(0), (0.0, 0.0)),
            Some(Elem::Vm(0, 1))
        );
        assert_eq!(s.hosts[0].vms[1].name, "vm2");
        // A host is placed by its corner, so the point is its middle.
        assert_eq!(
            add(&mut s, Kind::Host, None, (500.0, 500.0)),
            Some(Elem::Host(2))
        );
        assert_eq!(s.hosts[2].name, "node1");
        assert_eq!(s.layout["node1"], Position { x: 370.0, y: 415.0 });
        // What lives in a host needs one.
        let before = s.clone();
        assert_eq!(add(&mut s, Kind::Bridge, None, (0.0, 0.0)), None);
        assert_eq!(s, before);
    }

    #[test]
    fn a_deleted_bridge_takes_its_links_with_it() {
        let mut s = wired();
        delete(&mut s, &[Elem::Bridge(0, 0)]);
        let h0 = &s.hosts[0];
        assert!(h0.bridges.is_empty());
        // The nic on the bridge that was already gone stays, as written.
        assert_eq!(h0.vms[0].nics.len(), 1);
        assert_eq!(h0.vms[0].nics[0].bridge, "gone");
        assert!(h0.routers[0].interfaces.is_empty());
        assert_eq!(h0.dhcp[0].bridge, "");
        assert!(s.tunnels.is_empty());
        assert!(!s.layout.contains_key("h0/br"));
        assert!(s.layout.contains_key("h0/vm"));
    }

    #[test]
    fn links_go_before_the_nodes_they_index_into() {
        let mut s = wired();
        // The vm's first nic and the vm itself, and the tunnel with host h1.
        delete(
            &mut s,
            &[
                Elem::Vm(0, 0),
                Elem::Nic(0, 0, 0),
                Elem::Host(1),
                Elem::Tunnel(0),
            ],
        );
        assert!(s.hosts[0].vms.is_empty());
        assert_eq!(s.hosts.len(), 1);
        assert!(s.tunnels.is_empty());
        assert!(!s.layout.keys().any(|k| k == "h0/vm" || k.starts_with("h1")));
        // A link alone leaves its node and its place.
        let mut s = wired();
        delete(&mut s, &[Elem::Uplink(0, 0), Elem::DhcpLink(0, 0)]);
        assert_eq!(s.hosts[0].bridges[0].uplink, None);
        assert_eq!(s.hosts[0].dhcp[0].bridge, "");
        assert_eq!(s.externals.len(), 1);
        assert!(s.layout.contains_key("ext:ext"));
    }

    /// A design's marks, validated as the app does (errors or warnings).
    fn marks_of(s: &TopologySpec) -> BTreeMap<Elem, Mark> {
        let problems = match netloom_core::validate(s) {
            Ok(c) => c.warnings,
            Err(p) => p,
        };
        marks(&problems)
    }

    #[test]
    fn the_engine_choice_is_the_files_engine_key_absent_for_the_default() {
        let mut s = netloom_core::parse(include_str!("../../examples/seedlab-gre.yaml")).unwrap();
        assert!(marks_of(&s).is_empty());
        s.engine = engine_of("ovn");
        assert!(netloom_core::format::to_yaml(&s).contains("\nengine: ovn\n"));
        s.engine = engine_of("ovs");
        assert!(!netloom_core::format::to_yaml(&s).contains("engine"));
        // Every offered choice is a word the format reads.
        for (word, _) in ENGINES {
            let text = format!("version: 1\nname: t\nengine: {word}\n");
            assert_eq!(
                netloom_core::parse(&text).unwrap().engine.unwrap().word(),
                word
            );
        }
    }

    #[test]
    fn under_ovn_the_tunnel_is_marked_with_a_warning_and_a_third_snat_interface_with_an_error() {
        let mut s = netloom_core::parse(include_str!("../../examples/seedlab-gre.yaml")).unwrap();
        s.engine = Some(Engine::Ovn);
        let m = marks_of(&s);
        assert_eq!(m.keys().collect::<Vec<_>>(), [&Elem::Tunnel(0)]);
        let tunnel = &m[&Elem::Tunnel(0)];
        assert!(!tunnel.error);
        assert_eq!(tunnel.reasons.len(), 1);
        assert!(
            tunnel.reasons[0].starts_with("warning: under engine ovn this tunnel only makes node1/br-in and node2/br-in one segment"),
            "{tunnel:?}"
        );

        let mut s = netloom_core::parse(include_str!("../../examples/nat.yaml")).unwrap();
        s.engine = Some(Engine::Ovn);
        let r1 = &mut s.hosts[0].routers[0];
        r1.interfaces.push(RouterIfaceSpec {
            name: "qr1".into(),
            bridge: "br-in".into(),
            vlan: Some(20),
            ip: "10.0.20.254/24".into(),
        });
        let m = marks_of(&s);
        // The rule's path is the NAT rule's: the mark is on its router.
        assert_eq!(m.keys().collect::<Vec<_>>(), [&Elem::Router(0, 0)]);
        let router = &m[&Elem::Router(0, 0)];
        assert!(router.error);
        assert!(
            router.reasons[0].starts_with(
                "error: under engine ovn, a router with snat has two interfaces at most (r1 has 3)"
            ),
            "{router:?}"
        );
    }
}
