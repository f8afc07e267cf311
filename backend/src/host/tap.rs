//! What an agent may read for a [`HostLink`] a controller asks it to
//! capture: the link checked on this host, against its own OVSDB and
//! devices, then turned into the [`Tap`] to open. The request's fields are
//! claims; what the agent reads comes from what it finds.
//!
//! - A guest's nic: a device inside one of the topology's namespaces.
//! - A tunnel: its port has the topology's name and mark in the host's OVSDB
//!   and is a tunnel with exactly the claimed remote and key (or VNI): an OVS
//!   GRE or VXLAN interface, or a kernel VXLAN device carrying the
//!   topology's mark on a plain port. `local` is an address of this host (the
//!   tunnel's own local address when it has one). The tap reads the device
//!   holding `local` and keeps only packets between `local` and `remote`
//!   with that key: nothing else of the underlay reaches the controller.
//! - A whole bridge: a name of the topology's, marked as the topology's; the
//!   mirror's devices are named from it ([`names::mirror_port`]), and
//!   [`super::capture::Mirror::make`] checks the mark again in the very
//!   transaction that adds the mirror.

use std::net::Ipv4Addr;

use netloom_core::capture::{HostLink, MirrorOn, Tap, TunnelFilter};
use netloom_core::names;
use netloom_core::plan::OVS_OWNER_KEY;
use netloom_core::topology::TunnelKind;
use serde_json::Value;

use super::confine::{self, refuse, Refusal, TopologyName};
use super::nl;
use super::ovsdb::{self, Ovsdb};

/// Where this host shows `link`, or why the agent will not read it.
pub fn confine(t: &TopologyName, link: HostLink, ovsdb: &str) -> Result<Tap, Refusal> {
    match link {
        HostLink::Nic { netns, device } => {
            confine::device_in(t, &netns, &device)?;
            Ok(Tap {
                netns,
                device,
                tunnel: None,
                mirror: None,
            })
        }
        HostLink::Tunnel {
            port,
            local,
            remote,
            kind,
        } => {
            confine::own_device(t, &port)?;
            let mut db = open(ovsdb)?;
            let p = row(&mut db, "Port", &port, &["name", "external_ids"])?;
            if !marked(&p, t) {
                return refuse(format!("port {port} is not marked as topology {t}'s"));
            }
            let iface = row(&mut db, "Interface", &port, &["name", "type", "options"])?;
            tunnel_is(t, &port, &iface, local, remote, kind)?;
            Ok(Tap {
                netns: String::new(),
                device: holding(local)?,
                // A real host's tunnel is the design's own (no OVN on real hosts yet).
                tunnel: Some(TunnelFilter {
                    ends: [local, remote],
                    kind,
                    geneve: false,
                }),
                mirror: None,
            })
        }
        HostLink::Bridge { bridge } => {
            confine::own_device(t, &bridge)?;
            let b = row(
                &mut open(ovsdb)?,
                "Bridge",
                &bridge,
                &["name", "external_ids"],
            )?;
            if !marked(&b, t) {
                return refuse(format!("bridge {bridge} is not marked as topology {t}'s"));
            }
            let tag = names::topology_tag(t.as_str());
            Ok(Tap {
                netns: String::new(),
                device: names::mirror_peer(&tag, &bridge),
                tunnel: None,
                mirror: Some(MirrorOn {
                    ovsdb: ovsdb.to_string(),
                    port: names::mirror_port(&tag, &bridge),
                    bridge,
                }),
            })
        }
    }
}

fn open(ovsdb: &str) -> Result<Ovsdb, Refusal> {
    Ovsdb::connect(ovsdb).map_err(|e| Refusal(format!("the host's OVSDB: {e}")))
}

/// The row of `table` named `name`, with `columns`.
fn row(db: &mut Ovsdb, table: &str, name: &str, columns: &[&str]) -> Result<Value, Refusal> {
    db.select(table, columns)
        .map_err(|e| Refusal(format!("the host's OVSDB: {e}")))?
        .into_iter()
        .find(|r| r["name"] == name)
        .map_or_else(
            || {
                refuse(format!(
                    "no {} {name} in the host's OVSDB",
                    table.to_lowercase()
                ))
            },
            Ok,
        )
}

fn marked(row: &Value, t: &TopologyName) -> bool {
    ovsdb::read_map(&row["external_ids"])
        .iter()
        .any(|(k, v)| k == OVS_OWNER_KEY && v == t.as_str())
}

/// `iface` (a port of the topology's) is the claimed tunnel, exactly.
fn tunnel_is(
    t: &TopologyName,
    port: &str,
    iface: &Value,
    local: Ipv4Addr,
    remote: Ipv4Addr,
    kind: TunnelKind,
) -> Result<(), Refusal> {
    let opts = ovsdb::read_map(&iface["options"]);
    let opt = |k: &str| opts.iter().find(|(o, _)| o == k).map(|(_, v)| v.as_str());
    let (ty, key) = match kind {
        TunnelKind::Gre { key } => ("gre", key.unwrap_or(0)),
        TunnelKind::Vxlan { vni } => ("vxlan", vni),
    };
    let got = iface["type"].as_str().unwrap_or_default();
    if got.is_empty() {
        return kernel_vxlan(t, port, local, remote, kind);
    }
    if got != ty {
        return refuse(format!("port {port} is of type {got:?}, not a {ty} tunnel"));
    }
    // An absent key is 0 in OVS; "flow" (any key, any remote) is no one tunnel.
    let claims = [
        ("remote_ip", Some(remote.to_string())),
        ("key", Some(key.to_string())),
        ("local_ip", opt("local_ip").map(|_| local.to_string())),
    ];
    for (o, want) in claims {
        let have = opt(o).or((o == "key").then_some("0"));
        if let Some(want) = want {
            if have != Some(want.as_str()) {
                return refuse(format!(
                    "tunnel port {port} has {o} {}, not {want}",
                    have.unwrap_or("none")
                ));
            }
        }
    }
    Ok(())
}

/// A kernel VXLAN device on a plain port (what a userspace real host's VXLAN
/// end is): it carries the topology's mark and the claimed VNI and ends.
fn kernel_vxlan(
    t: &TopologyName,
    port: &str,
    local: Ipv4Addr,
    remote: Ipv4Addr,
    kind: TunnelKind,
) -> Result<(), Refusal> {
    let name = port.to_string();
    let link = nl::with_netlink("", move |n| {
        Ok(n.links()?.into_iter().find(|l| l.name == name))
    })
    .map_err(|e| Refusal(format!("the host's devices: {e}")))?;
    let Some(link) = link else {
        return refuse(format!("port {port} is not a tunnel"));
    };
    if link.alias != Some(super::link_mark(t.as_str())) {
        return refuse(format!("device {port} is not marked as topology {t}'s"));
    }
    let (TunnelKind::Vxlan { vni }, Some(x)) = (kind, link.vxlan) else {
        return refuse(format!("port {port} is not a {kind:?} tunnel"));
    };
    if x.vni != vni || x.remote != Some(remote) || x.local.is_some_and(|l| l != local) {
        return refuse(format!(
            "tunnel device {port} has VNI {} between {:?} and {:?}, not VNI {vni} between {local} and {remote}",
            x.vni, x.local, x.remote
        ));
    }
    Ok(())
}

/// The device of this host's own namespace that holds `local`.
fn holding(local: Ipv4Addr) -> Result<String, Refusal> {
    nl::with_netlink("", |n| n.addrs())
        .map_err(|e| Refusal(format!("the host's addresses: {e}")))?
        .into_iter()
        .find(|(_, net)| net.addr() == local)
        .map(|(dev, _)| dev)
        .map_or_else(
            || refuse(format!("{local} is not an address of this host")),
            Ok,
        )
}
