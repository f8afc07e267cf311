//! The names netloom gives to what it creates.
//!
//! Interface names must fit the kernel's 15 bytes, never collide, and stay
//! the same when unrelated parts of the file change (so that adding a vm
//! renames nothing else and the planner touches nothing else). So they are
//! `nl` + a 4-hex tag of the topology name + a kind letter + a hash of the
//! element's identity (host, kind, name, interface), not of its position.
//! [`assign`] gives them out, salting the rare hash collision in file order.
//! The tag keeps two topologies apart on one real host; namespaces have no
//! length limit and so carry readable names. `.` and `_` never occur in file
//! names, which keeps every namespace name below unambiguous.

use std::collections::HashSet;

use crate::topology::{GuestId, Mac, Topology};

/// A name as the format allows it for a topology, host, bridge or guest:
/// `[a-z][a-z0-9-]{0,11}` (so never a path, and short enough for every name built from it).
pub fn name_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 12
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A short, stable tag of a topology name: 4 hex digits of its FNV-1a hash.
pub fn topology_tag(topology: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in topology.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{:04x}", (h ^ (h >> 16)) & 0xffff)
}

/// Prefix of every namespace of a topology: `nl-<topology>.`
pub fn netns_prefix(topology: &str) -> String {
    format!("nl-{topology}.")
}

/// Namespace emulating a host: `nl-<topology>.<host>`.
pub fn host_netns(topology: &str, host: &str) -> String {
    format!("nl-{topology}.{host}")
}

/// Namespace of a guest: `nl-T.H.V` for a vm, `nl-T.H.dhcp.N` / `nl-T.H.router.N` otherwise.
pub fn guest_netns(topology: &str, host: &str, kind: &str, name: &str) -> String {
    if kind == "vm" {
        format!("nl-{topology}.{host}.{name}")
    } else {
        format!("nl-{topology}.{host}.{kind}.{name}")
    }
}

/// Namespace of an external network's segment and upstream router.
pub fn external_netns(topology: &str, external: &str) -> String {
    format!("nl-{topology}._ext.{external}")
}

/// Namespace of the underlay segment joining the emulated hosts.
pub fn underlay_netns(topology: &str) -> String {
    format!("nl-{topology}._underlay")
}

/// Directory of a topology's pidfiles, sockets, logs and leases on a machine.
pub fn run_dir(topology: &str) -> String {
    format!("/run/netloom/{topology}")
}

/// The token file of a topology's sandbox agents: `TOKEN TOPOLOGY`, made with its run directory.
pub fn sandbox_token_path(topology: &str) -> String {
    format!("{}/agent.token", run_dir(topology))
}

/// Linux bridge forming a segment (underlay, external network) in its namespace: `nl<tag>seg`.
pub fn segment(tag: &str) -> String {
    format!("nl{tag}seg")
}

/// OVS bridge of an emulated host holding its underlay NIC and address: `nl<tag>phy`.
pub fn phy_bridge(tag: &str) -> String {
    format!("nl{tag}phy")
}

/// OVS integration bridge of an OVN chassis (engine `ovn`): `nl<tag>int`.
pub fn ovn_bridge(tag: &str) -> String {
    format!("nl{tag}int")
}

/// Directory of a topology's OVN central in the sandbox: its databases' files and sockets.
pub fn ovn_dir(topology: &str) -> String {
    format!("{}/_ovn", run_dir(topology))
}

/// Directory of a real host's `ovn-controller` (engine `ovn`, an existing
/// central): its pidfile, log and control socket.
pub fn ovn_controller_dir(topology: &str) -> String {
    format!("{}/_ovn-controller", run_dir(topology))
}

/// An emulated host's underlay NIC (a veth end, port of the phy bridge): `nl<tag>up`.
pub fn underlay_port(tag: &str) -> String {
    format!("nl{tag}up")
}

/// The OVS port (a veth end) a capture of the bridge named `bridge` in OVS
/// mirrors it to: `nl<tag>m` and 7 hex digits of the bridge name's hash.
/// Fixed per bridge, and found from the bridge's name alone (a real host's
/// agent has nothing else): a capture killed before it cleaned up is found
/// and removed by the next one.
pub fn mirror_port(tag: &str, bridge: &str) -> String {
    let h = identity_hash(&[bridge], 0) & 0xfff_ffff;
    format!("nl{tag}m{h:07x}")
}

/// The mirror port's peer, where the capture reads: the port's name and `r`.
pub fn mirror_peer(tag: &str, bridge: &str) -> String {
    format!("{}r", mirror_port(tag, bridge))
}

/// FNV-1a (64 bit) over the parts, each followed by a byte no name contains.
fn identity_hash(parts: &[&str], salt: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let salt = salt.to_le_bytes();
    for b in parts
        .iter()
        .flat_map(|p| p.bytes().chain([0xff]))
        .chain(salt)
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Hands out interface names and MACs that are unique within a topology.
struct Allocator {
    tag: String,
    names: HashSet<String>,
    macs: HashSet<Mac>,
}

impl Allocator {
    /// `nl<tag><letter>` + `digits` hex digits of the identity's hash.
    fn name(&mut self, letter: char, digits: usize, suffix: &str, parts: &[&str]) -> String {
        (0..)
            .map(|salt| {
                let h = identity_hash(parts, salt) & ((1u64 << (4 * digits)) - 1);
                format!("nl{}{letter}{h:0digits$x}{suffix}", self.tag)
            })
            .find(|n| self.names.insert(n.clone()))
            .unwrap_or_default()
    }

    /// A locally administered unicast MAC (`02:` + 40 bits of the identity's hash).
    fn mac(&mut self, parts: &[&str]) -> Mac {
        (0..)
            .map(|salt| {
                let h = identity_hash(parts, salt).to_be_bytes();
                Mac([0x02, h[3], h[4], h[5], h[6], h[7]])
            })
            .find(|m| self.macs.insert(*m))
            .unwrap_or(Mac([0x02, 0, 0, 0, 0, 1]))
    }
}

/// Give every interface, port and bridge of a validated topology its Linux/OVS
/// name, and every interface without a MAC in the file its MAC. `generated`
/// lists the guest interfaces (guest, iface) whose MAC the file leaves out.
/// Elements are visited in file order, so a salted collision is deterministic.
pub(crate) fn assign(topo: &mut Topology, generated: &[(GuestId, usize)]) {
    let mut a = Allocator {
        tag: topology_tag(&topo.name),
        names: HashSet::new(),
        macs: HashSet::new(),
    };
    // MACs the file gives are taken first, whatever their position.
    let generated: HashSet<(GuestId, usize)> = generated.iter().copied().collect();
    for (g, guest) in topo.guests.iter().enumerate() {
        for (i, iface) in guest.ifaces.iter().enumerate() {
            if !generated.contains(&(g, i)) {
                a.macs.insert(iface.mac);
            }
        }
    }
    let topology = topo.name.clone();
    for host in &mut topo.hosts {
        host.underlay_peer = a.name('h', 8, "", &[&host.name]);
    }
    for br in &mut topo.bridges {
        let host = topo.hosts[br.host].name.as_str();
        br.ovs_name = a.name('b', 8, "", &[host, &br.name]);
        if br.uplink.is_some() {
            br.uplink_port = Some(a.name('u', 8, "", &[host, &br.name]));
            br.uplink_peer = Some(a.name('x', 8, "", &[host, &br.name]));
        }
    }
    for (g, guest) in topo.guests.iter_mut().enumerate() {
        let host = topo.hosts[guest.host].name.as_str();
        let kind = guest.kind_word();
        for (i, iface) in guest.ifaces.iter_mut().enumerate() {
            let id = [host, kind, &guest.name, &iface.name];
            iface.port = a.name('p', 8, "", &id);
            if generated.contains(&(g, i)) {
                iface.mac = a.mac(&[&topology, host, kind, &guest.name, &iface.name]);
            }
        }
    }
    for ext in &mut topo.externals {
        ext.mac = a.mac(&[&topology, "_ext", &ext.name]);
    }
    // A tunnel is identified by its two ends (two tunnels between the same
    // bridges would be a loop), so changing its key updates it in place.
    for t in &mut topo.tunnels {
        let ends: Vec<String> = t
            .ends
            .iter()
            .map(|&b| {
                let br = &topo.bridges[b];
                format!("{}/{}", topo.hosts[br.host].name, br.name)
            })
            .collect();
        let id = [ends[0].as_str(), ends[1].as_str()];
        let stem = a.name('t', 7, "a", &id);
        t.ports = [stem.clone(), format!("{}b", &stem[..stem.len() - 1])];
        a.names.insert(t.ports[1].clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_names_fit_the_kernel_limit() {
        let tag = topology_tag("abcdefghijkl");
        assert_eq!(tag.len(), 4);
        for name in [segment(&tag), phy_bridge(&tag), underlay_port(&tag)] {
            assert!(name.len() <= 15, "{name} is {} bytes", name.len());
        }
    }

    #[test]
    fn colliding_hashes_are_salted_apart() {
        let mut a = Allocator {
            tag: "abcd".into(),
            names: HashSet::new(),
            macs: HashSet::new(),
        };
        // One hex digit: 17 names cannot all be distinct without salting.
        let names: HashSet<String> = (0..16)
            .map(|i| a.name('p', 1, "", &[&i.to_string()]))
            .collect();
        assert_eq!(names.len(), 16);
        assert!(names.iter().all(|n| n.len() == "nlabcdp0".len()));
    }

    #[test]
    fn tags_are_stable_and_differ_between_names() {
        assert_eq!(topology_tag("seedlab"), topology_tag("seedlab"));
        assert_ne!(topology_tag("seedlab"), topology_tag("seedlab2"));
    }

    #[test]
    fn namespace_kinds_never_collide() {
        let vm = guest_netns("t", "h", "vm", "dhcp");
        let dhcp = guest_netns("t", "h", "dhcp", "x");
        let host = host_netns("t", "h");
        assert_ne!(vm, dhcp);
        assert_ne!(vm, host);
        assert_ne!(external_netns("t", "h"), host);
    }
}
