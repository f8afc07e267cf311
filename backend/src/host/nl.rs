//! rtnetlink inside one namespace: links, addresses, routes; plus the two
//! non-netlink knobs the plan needs there (sysctl, TX checksum offload).
//!
//! [`with_netlink`] runs a closure on a fresh OS thread that has entered the
//! namespace, with a netlink connection opened there and driven by a
//! current-thread runtime owned by that thread (never a shared tokio worker).

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoVeth, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, VxlanDf,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteProtocol};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVxlan, RouteMessageBuilder,
};

use netloom_core::topology::Mac;

use super::netns;

/// Errors of this layer: the OS error (or netlink's) of one request.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Netlink(#[from] rtnetlink::Error),
    #[error("no interface named {0}")]
    NoLink(String),
}

/// A link as observed.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `veth`, `bridge`, `tun`, ... (empty for plain devices like `lo`).
    pub kind: String,
    pub mac: Option<Mac>,
    pub master: Option<u32>,
    pub up: bool,
    /// `ip link set NAME alias A`: netloom marks the links it makes in a shared namespace.
    pub alias: Option<String>,
    /// A VXLAN device's settings.
    pub vxlan: Option<Vxlan>,
}

/// What a VXLAN device is, as the kernel reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vxlan {
    pub vni: u32,
    pub local: Option<Ipv4Addr>,
    pub remote: Option<Ipv4Addr>,
    pub mtu: u32,
    /// `df set`: outer packets are never fragmented.
    pub df_set: bool,
}

/// A netlink session inside one namespace.
pub struct Nl {
    rt: tokio::runtime::Runtime,
    handle: Handle,
}

/// Run `f` inside namespace `ns` (`""`: our own) with a netlink session there.
pub fn with_netlink<R: Send + 'static>(
    ns: &str,
    f: impl FnOnce(&Nl) -> Result<R, NlError> + Send + 'static,
) -> Result<R, NlError> {
    netns::run_in(ns, move || Nl::open().and_then(|nl| f(&nl)))?
}

/// Create namespace `ns`, turn IPv6 off in it, bring its `lo` up, then run `f` inside it.
pub fn create_netns_then<R: Send + 'static>(
    ns: &str,
    f: impl FnOnce(&Nl) -> Result<R, NlError> + Send + 'static,
) -> Result<R, NlError> {
    netns::create_then(ns, move || {
        no_ipv6()?;
        let nl = Nl::open()?;
        nl.set_up("lo")?;
        f(&nl)
    })?
}

fn mac_of(bytes: &[u8]) -> Option<Mac> {
    <[u8; 6]>::try_from(bytes).ok().map(Mac)
}

impl Nl {
    fn open() -> Result<Nl, NlError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let (conn, handle, _) = {
            let _g = rt.enter();
            rtnetlink::new_connection()?
        };
        rt.spawn(conn);
        Ok(Nl { rt, handle })
    }

    /// `ip -o link show`
    pub fn links(&self) -> Result<Vec<Link>, NlError> {
        let msgs: Vec<_> = self
            .rt
            .block_on(self.handle.link().get().execute().try_collect())?;
        Ok(msgs
            .into_iter()
            .map(|m| {
                let mut l = Link {
                    index: m.header.index,
                    name: String::new(),
                    kind: String::new(),
                    mac: None,
                    master: None,
                    alias: None,
                    vxlan: None,
                    up: m.header.flags.contains(LinkFlags::Up),
                };
                let mut mtu = 0;
                for a in m.attributes {
                    match a {
                        LinkAttribute::IfName(n) => l.name = n,
                        LinkAttribute::Address(b) => l.mac = mac_of(&b),
                        LinkAttribute::Controller(c) => l.master = Some(c),
                        LinkAttribute::IfAlias(a) => l.alias = Some(a),
                        LinkAttribute::Mtu(m) => mtu = m,
                        LinkAttribute::LinkInfo(infos) => {
                            for i in infos {
                                match i {
                                    LinkInfo::Kind(k) => l.kind = format!("{k:?}").to_lowercase(),
                                    LinkInfo::Data(InfoData::Vxlan(v)) => {
                                        let mut x = Vxlan::default();
                                        for a in v {
                                            match a {
                                                InfoVxlan::Id(id) => x.vni = id,
                                                InfoVxlan::Local(ip) => x.local = Some(ip),
                                                InfoVxlan::Group(ip) => x.remote = Some(ip),
                                                InfoVxlan::Df(VxlanDf::Set) => x.df_set = true,
                                                _ => {}
                                            }
                                        }
                                        l.vxlan = Some(x);
                                    }
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(x) = &mut l.vxlan {
                    x.mtu = mtu;
                }
                l
            })
            .collect())
    }

    /// Index of a link, if it exists (`ip link show NAME`).
    pub fn index(&self, name: &str) -> Result<Option<u32>, NlError> {
        Ok(self
            .links()?
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.index))
    }

    fn must_index(&self, name: &str) -> Result<u32, NlError> {
        self.index(name)?
            .ok_or_else(|| NlError::NoLink(name.to_string()))
    }

    /// `ip link set NAME up`
    pub fn set_up(&self, name: &str) -> Result<(), NlError> {
        let idx = self.must_index(name)?;
        let msg = LinkUnspec::new_with_index(idx).up().build();
        Ok(self.rt.block_on(self.handle.link().set(msg).execute())?)
    }

    /// `ip link add NAME [address MAC] type bridge && ip link set NAME up`
    pub fn add_bridge(&self, name: &str, mac: Option<Mac>) -> Result<(), NlError> {
        let mut b = LinkBridge::new(name).up();
        if let Some(m) = mac {
            b = b.address(m.0.to_vec());
        }
        Ok(self
            .rt
            .block_on(self.handle.link().add(b.build()).execute())?)
    }

    /// `ip link add NAME up type veth peer name PEER netns PEER_NS [address MAC]`:
    /// one request, NAME up from its first moment (a userspace ovs-vswitchd
    /// adding it as a port meanwhile rewrites its flags from what it read:
    /// an end that came down and went up in between would end down). The
    /// peer, made directly in its namespace, stays down: the kernel refuses
    /// to open a veth end before the pair is linked.
    pub fn add_veth(
        &self,
        name: &str,
        peer: &str,
        peer_mac: Option<Mac>,
        peer_ns_fd: RawFd,
    ) -> Result<(), NlError> {
        let mut p = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_string())
            .setns_by_fd(peer_ns_fd);
        if let Some(m) = peer_mac {
            p = p.address(m.0.to_vec());
        }
        let b = LinkVeth::new(name, peer)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(p.build())))
            .up();
        Ok(self
            .rt
            .block_on(self.handle.link().add(b.build()).execute())?)
    }

    /// `ip link set NAME alias ALIAS` (the kernel ignores an alias given at
    /// creation); the flags stay as they are.
    pub fn mark(&self, name: &str, alias: &str) -> Result<(), NlError> {
        let idx = self.must_index(name)?;
        let msg = LinkUnspec::new_with_index(idx).alias(alias).build();
        Ok(self.rt.block_on(self.handle.link().set(msg).execute())?)
    }

    /// `ip link set NAME [master M] up`.
    pub fn set_up_in(&self, name: &str, master: Option<&str>) -> Result<(), NlError> {
        let idx = self.must_index(name)?;
        let mut b = LinkUnspec::new_with_index(idx).up();
        if let Some(m) = master {
            b = b.controller(self.must_index(m)?);
        }
        Ok(self
            .rt
            .block_on(self.handle.link().set(b.build()).execute())?)
    }

    /// `ip link add NAME mtu MTU type vxlan id VNI local L remote R dstport 4789 nolearning df set`.
    pub fn add_vxlan(
        &self,
        name: &str,
        vni: u32,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        mtu: u32,
    ) -> Result<(), NlError> {
        // Up from its first moment, as a veth end (see add_veth).
        let b = LinkVxlan::new(name, vni)
            .up()
            .local(local)
            .remote(remote)
            .port(4789)
            .learning(false)
            .df(VxlanDf::Set)
            .mtu(mtu);
        Ok(self
            .rt
            .block_on(self.handle.link().add(b.build()).execute())?)
    }

    /// `ip link del NAME` (quiet when it is already gone).
    pub fn del_link(&self, name: &str) -> Result<(), NlError> {
        match self.index(name)? {
            Some(idx) => Ok(self.rt.block_on(self.handle.link().del(idx).execute())?),
            None => Ok(()),
        }
    }

    /// `ip -4 -o addr show`: (device, address/prefix) pairs.
    pub fn addrs(&self) -> Result<Vec<(String, Ipv4Net)>, NlError> {
        let links = self.links()?;
        let msgs: Vec<_> = self
            .rt
            .block_on(self.handle.address().get().execute().try_collect())?;
        let mut out = Vec::new();
        for m in msgs {
            let dev = links
                .iter()
                .find(|l| l.index == m.header.index)
                .map(|l| l.name.clone());
            for a in &m.attributes {
                if let (AddressAttribute::Address(IpAddr::V4(ip)), Some(dev)) = (a, &dev) {
                    if let Ok(n) = Ipv4Net::new(*ip, m.header.prefix_len) {
                        out.push((dev.clone(), n));
                    }
                }
            }
        }
        Ok(out)
    }

    /// `ip addr add CIDR dev DEV && ip link set DEV up` (an existing address is fine).
    pub fn add_addr(&self, dev: &str, cidr: Ipv4Net) -> Result<(), NlError> {
        let idx = self.must_index(dev)?;
        let r = self.rt.block_on(
            self.handle
                .address()
                .add(idx, IpAddr::V4(cidr.addr()), cidr.prefix_len())
                .replace()
                .execute(),
        );
        r?;
        self.set_up(dev)
    }

    /// `ip addr del CIDR dev DEV` (quiet when absent).
    pub fn del_addr(&self, dev: &str, cidr: Ipv4Net) -> Result<(), NlError> {
        let Some(idx) = self.index(dev)? else {
            return Ok(());
        };
        let msgs: Vec<_> = self.rt.block_on(
            self.handle
                .address()
                .get()
                .set_link_index_filter(idx)
                .execute()
                .try_collect(),
        )?;
        for m in msgs {
            let hit = m.header.prefix_len == cidr.prefix_len()
                && m.attributes.iter().any(|a| matches!(a, AddressAttribute::Address(IpAddr::V4(ip)) if *ip == cidr.addr()));
            if hit {
                self.rt.block_on(self.handle.address().del(m).execute())?;
            }
        }
        Ok(())
    }

    /// Gateway routes of the main table that an admin (or netloom) added:
    /// `ip route show proto boot|static` as (destination, via); `None` is the default route.
    pub fn routes(&self) -> Result<Vec<(Option<Ipv4Net>, Ipv4Addr)>, NlError> {
        let req = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let msgs: Vec<_> = self
            .rt
            .block_on(self.handle.route().get(req).execute().try_collect())?;
        let mut out = Vec::new();
        for m in msgs {
            if m.header.table != 254
                || !matches!(
                    m.header.protocol,
                    RouteProtocol::Boot | RouteProtocol::Static
                )
            {
                continue;
            }
            let mut dst = None;
            let mut via = None;
            for a in &m.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = Some(*d),
                    RouteAttribute::Gateway(RouteAddress::Inet(g)) => via = Some(*g),
                    _ => {}
                }
            }
            if let Some(via) = via {
                let to = match (m.header.destination_prefix_length, dst) {
                    (0, _) => None,
                    (len, Some(d)) => Ipv4Net::new(d, len).ok(),
                    _ => None,
                };
                out.push((to, via));
            }
        }
        Ok(out)
    }

    /// `ip route replace TO|default via VIA`
    pub fn route_replace(&self, to: Option<Ipv4Net>, via: Ipv4Addr) -> Result<(), NlError> {
        Ok(self
            .rt
            .block_on(self.handle.route().add(route(to, via)).replace().execute())?)
    }

    /// `ip route del TO|default` (quiet when absent).
    pub fn route_del(&self, to: Option<Ipv4Net>) -> Result<(), NlError> {
        for (t, via) in self.routes()? {
            if t == to {
                self.rt
                    .block_on(self.handle.route().del(route(to, via)).execute())?;
            }
        }
        Ok(())
    }
}

/// `sysctl KEY` of the calling thread's namespace.
pub fn sysctl_get(key: super::confine::SysctlKey) -> io::Result<String> {
    Ok(std::fs::read_to_string(key.path())?.trim().to_string())
}

/// Turn IPv6 off in the calling thread's new namespace, for the devices made
/// or moved there later ([`netloom_core::plan::NO_IPV6`]).
fn no_ipv6() -> io::Result<()> {
    for setting in netloom_core::plan::NO_IPV6 {
        let (key, value) = setting.split_once('=').unwrap_or((setting, ""));
        match std::fs::write(format!("/proc/sys/{}", key.replace('.', "/")), value) {
            // A kernel without IPv6 has nothing to turn off.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            r => r?,
        }
    }
    Ok(())
}

/// `sysctl -w KEY=VALUE` in the calling thread's namespace.
pub fn sysctl_set(key: super::confine::SysctlKey, value: &str) -> io::Result<()> {
    std::fs::write(key.path(), value)
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GTXCSUM: u32 = 0x16;
const ETHTOOL_STXCSUM: u32 = 0x17;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: *mut EthtoolValue,
    _pad: [u8; 16],
}

fn ethtool(dev: &str, cmd: u32, data: u32) -> io::Result<u32> {
    if dev.len() >= 16 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    let mut val = EthtoolValue { cmd, data };
    let mut req = IfReq {
        name: [0; 16],
        data: &mut val,
        _pad: [0; 16],
    };
    req.name[..dev.len()].copy_from_slice(dev.as_bytes());
    // SAFETY: a datagram socket only used for this ioctl, closed below; req points to live memory.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let rc = libc::ioctl(fd, SIOCETHTOOL as _, &mut req as *mut IfReq);
        let err = io::Error::last_os_error();
        libc::close(fd);
        if rc < 0 {
            return Err(err);
        }
    }
    Ok(val.data)
}

/// `ethtool -k DEV | grep tx-checksumming`: true when TX checksum offload is on.
pub fn tx_csum(dev: &str) -> io::Result<bool> {
    ethtool(dev, ETHTOOL_GTXCSUM, 0).map(|d| d != 0)
}

/// `ethtool -K DEV tx off`
pub fn tx_csum_off(dev: &str) -> io::Result<()> {
    ethtool(dev, ETHTOOL_STXCSUM, 0).map(|_| ())
}

/// The route to `to` (`None`: the default route) via `via`, as a netlink message.
fn route(to: Option<Ipv4Net>, via: Ipv4Addr) -> rtnetlink::packet_route::route::RouteMessage {
    let (dst, len) = to.map_or((Ipv4Addr::UNSPECIFIED, 0), |t| {
        (t.network(), t.prefix_len())
    });
    RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dst, len)
        .gateway(via)
        .build()
}
