//! The names netloom gives to what it creates.
//!
//! Interface names must fit the kernel's 15 bytes and never collide, so they
//! are built from indices, not from the (up to 12-byte) names in the file:
//! `nl` + a 4-hex tag of the topology name + a kind letter + numbers. The tag
//! keeps two topologies apart on one real host; namespaces have no length
//! limit and so carry readable names. `.` and `_` never occur in file names,
//! which keeps every namespace name below unambiguous.

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

/// OVS bridge name: `nl<tag>b<n>` (n: the bridge's index on its host).
pub fn bridge(tag: &str, n: usize) -> String {
    format!("nl{tag}b{n}")
}

/// Bridge-side veth of a guest interface: `nl<tag>g<guest>i<iface>`.
pub fn guest_port(tag: &str, guest: usize, iface: usize) -> String {
    format!("nl{tag}g{guest}i{iface}")
}

/// OVS tunnel port of tunnel `n`, end `end` (0 or 1): `nl<tag>t<n>a` / `b`.
pub fn tunnel_port(tag: &str, n: usize, end: usize) -> String {
    format!("nl{tag}t{n}{}", if end == 0 { 'a' } else { 'b' })
}

/// Uplink veth on a bridge (global bridge index `n`): `nl<tag>u<n>`.
pub fn uplink_port(tag: &str, n: usize) -> String {
    format!("nl{tag}u{n}")
}

/// Directory of a topology's pidfiles, sockets, logs and leases on a machine.
pub fn run_dir(topology: &str) -> String {
    format!("/run/netloom/{topology}")
}

/// Linux bridge forming a segment (underlay, external network) in its namespace: `nl<tag>seg`.
pub fn segment(tag: &str) -> String {
    format!("nl{tag}seg")
}

/// OVS bridge of an emulated host holding its underlay NIC and address: `nl<tag>phy`.
pub fn phy_bridge(tag: &str) -> String {
    format!("nl{tag}phy")
}

/// An emulated host's underlay NIC (a veth end, port of the phy bridge): `nl<tag>up`.
pub fn underlay_port(tag: &str) -> String {
    format!("nl{tag}up")
}

/// Segment end of host `n`'s underlay veth, in the underlay namespace: `nl<tag>h<n>`.
pub fn underlay_peer(tag: &str, n: usize) -> String {
    format!("nl{tag}h{n}")
}

/// Segment end of bridge `n`'s uplink veth, in the external's namespace: `nl<tag>x<n>`.
pub fn uplink_peer(tag: &str, n: usize) -> String {
    format!("nl{tag}x{n}")
}

/// Largest indices that keep every name above within 15 bytes.
pub const MAX_GUESTS: usize = 99_999;
pub const MAX_IFACES_PER_GUEST: usize = 99;
pub const MAX_TUNNELS: usize = 999_999;
pub const MAX_BRIDGES: usize = 999_999;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernel_limit_at_the_largest_indices() {
        let tag = topology_tag("abcdefghijkl");
        assert_eq!(tag.len(), 4);
        for name in [
            bridge(&tag, MAX_BRIDGES),
            guest_port(&tag, MAX_GUESTS, MAX_IFACES_PER_GUEST),
            tunnel_port(&tag, MAX_TUNNELS, 1),
            uplink_port(&tag, MAX_BRIDGES),
            uplink_peer(&tag, MAX_BRIDGES),
            underlay_peer(&tag, MAX_GUESTS),
            segment(&tag),
            phy_bridge(&tag),
            underlay_port(&tag),
        ] {
            assert!(name.len() <= 15, "{name} is {} bytes", name.len());
        }
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
