//! Listening on one device inside a namespace, as libpcap does: an AF_PACKET
//! socket bound to the device, with the 802.1Q tag the kernel took out of a
//! received frame put back from `PACKET_AUXDATA` (on a veth's receiving end
//! the tag is never in the frame's bytes). A whole bridge is read through a
//! [`Mirror`] made for the capture.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netloom_core::capture::{decode, pcap, MirrorOn, Tap, TunnelFilter};
use netloom_core::plan::OVS_OWNER_KEY;
use serde_json::{json, Value};

use super::netns;
use super::ovsdb::{self, Ovsdb};

const ETH_P_ALL: u16 = libc::ETH_P_ALL as u16;
/// `struct tpacket_auxdata` of linux/if_packet.h.
#[repr(C)]
#[derive(Clone, Copy)]
struct AuxData {
    status: u32,
    len: u32,
    snaplen: u32,
    mac: u16,
    net: u16,
    vlan_tci: u16,
    vlan_tpid: u16,
}
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
/// The two MAC addresses ahead of where a tag goes back in.
const MACS: usize = 12;

/// An open capture on one device.
pub struct Socket {
    fd: OwnedFd,
    /// A whole bridge's mirror, removed after the socket is closed.
    _mirror: Option<Mirror>,
}

/// How [`Socket::read`] reads.
pub struct Reading {
    /// Bytes kept of each frame.
    pub snaplen: usize,
    /// `None`: until `on` says stop.
    pub until: Option<Instant>,
    pub count: Option<u64>,
    /// How long `on` waits, at most, to be asked again.
    pub tick: Duration,
    /// On a tunnel's underlay: which packets are the tunnel's.
    pub tunnel: Option<TunnelFilter>,
}

/// One frame as captured.
pub struct Frame {
    /// The frame's bytes, tag included, cut at the snap length.
    pub data: Vec<u8>,
    /// Its length on the wire, tag included.
    pub orig_len: u32,
    /// When it was read, in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
}

impl Frame {
    /// This frame as one pcap record.
    pub fn record(&self) -> Vec<u8> {
        let mut rec = Vec::with_capacity(self.data.len() + 16);
        let p = pcap::Packet {
            ts_ns: self.ts_ns,
            orig_len: self.orig_len,
            data: &self.data,
        };
        pcap::push_record(&mut rec, &p);
        rec
    }
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl Socket {
    /// `tcpdump -i DEVICE` inside namespace `ns`: sees what the device sends and receives.
    pub fn open(ns: &str, device: &str) -> io::Result<Socket> {
        let dev = CString::new(device).map_err(|_| io::Error::other("a device name with NUL"))?;
        let name = device.to_string();
        let fd = netns::run_in(ns, move || -> io::Result<OwnedFd> {
            // SAFETY: plain socket(2); the fd is owned from here on.
            let fd = check(unsafe {
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    i32::from(ETH_P_ALL.to_be()),
                )
            })?;
            // SAFETY: fd was just opened and nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: dev is a NUL-terminated string.
            let ifindex = unsafe { libc::if_nametoindex(dev.as_ptr()) };
            if ifindex == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no device {name} (is the topology applied?)"),
                ));
            }
            let on: libc::c_int = 1;
            // SAFETY: an int option of the right size.
            check(unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    libc::PACKET_AUXDATA,
                    (&on as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            })?;
            // SAFETY: an all-zero sockaddr_ll is valid; the fields set below make it ours.
            let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = ETH_P_ALL.to_be();
            sll.sll_ifindex = ifindex as i32;
            // SAFETY: sll is a sockaddr_ll of the size given.
            check(unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sll as *const libc::sockaddr_ll).cast(),
                    size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            })?;
            Ok(fd)
        })??;
        Ok(Socket { fd, _mirror: None })
    }

    /// A capture where `tap` shows its link: on a whole bridge, through a
    /// mirror made for it (and removed with the socket).
    pub fn open_tap(tap: &Tap, topology: &str) -> Result<Socket, String> {
        let mirror = match &tap.mirror {
            Some(on) => Some(Mirror::make(&tap.netns, on, &tap.device, topology)?),
            None => None,
        };
        let mut s = Socket::open(&tap.netns, &tap.device).map_err(|e| e.to_string())?;
        s._mirror = mirror;
        Ok(s)
    }

    /// Frames as they come, each kept one (for a tunnel: its own packets)
    /// handed to `on`; `on(None)` when none was kept for `r.tick`. Ends when
    /// `on` returns false, at `r.until`, or after `r.count` frames; the
    /// number of frames.
    pub fn read(&self, r: &Reading, mut on: impl FnMut(Option<&Frame>) -> bool) -> io::Result<u64> {
        let mut n = 0;
        let mut quiet_since = Instant::now();
        while r.count.is_none_or(|c| n < c) {
            let now = Instant::now();
            let left = match r.until.map(|u| u.checked_duration_since(now)) {
                Some(None) => break,
                Some(Some(left)) => left,
                None => r.tick,
            };
            let tick_in = (quiet_since + r.tick).saturating_duration_since(now);
            let frame = self.next(r.snaplen, left.min(tick_in))?;
            let kept = frame.filter(|f| r.tunnel.is_none_or(|t| t.keeps(&decode(&f.data))));
            let go_on = match kept {
                Some(f) => {
                    n += 1;
                    quiet_since = Instant::now();
                    on(Some(&f))
                }
                None if quiet_since.elapsed() >= r.tick => {
                    quiet_since = Instant::now();
                    on(None)
                }
                None => true,
            };
            if !go_on {
                break;
            }
        }
        Ok(n)
    }

    /// The next frame, or `None` when none came within `wait`.
    pub fn next(&self, snaplen: usize, wait: Duration) -> io::Result<Option<Frame>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one pollfd.
        match check(unsafe { libc::poll(&mut pfd, 1, ms) }) {
            Ok(0) => return Ok(None),
            // A signal: the caller decides whether it ends the capture.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        self.recv(snaplen).map(Some)
    }

    fn recv(&self, snaplen: usize) -> io::Result<Frame> {
        let mut data = vec![0u8; snaplen];
        // Room for one cmsg carrying AuxData (and alignment).
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: an all-zero msghdr is valid; it points at buffers that outlive the call.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 8]>() as _;
        // MSG_TRUNC: the frame's real length even when the snap length cut it.
        // SAFETY: msg describes valid buffers.
        let len = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
        if len < 0 {
            return Err(io::Error::last_os_error());
        }
        let wire = len as usize;
        data.truncate(wire.min(snaplen));
        let tag = aux_tag(&msg);
        let mut orig_len = wire;
        if let Some(tag) = tag {
            if data.len() >= MACS {
                data.splice(MACS..MACS, tag);
                data.truncate(snaplen);
            }
            orig_len += tag.len();
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Frame {
            data,
            orig_len: orig_len as u32,
            ts_ns: now.as_nanos() as u64,
        })
    }
}

/// The 802.1Q tag (TPID and TCI) the kernel moved out of the frame, if any.
fn aux_tag(msg: &libc::msghdr) -> Option<[u8; 4]> {
    // SAFETY: walking the control messages recvmsg filled in, within msg_controllen.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !c.is_null() {
        // SAFETY: c points at a complete cmsghdr inside the control buffer.
        let h = unsafe { &*c };
        if h.cmsg_level == libc::SOL_PACKET && h.cmsg_type == libc::PACKET_AUXDATA {
            // SAFETY: PACKET_AUXDATA carries a tpacket_auxdata; read unaligned to be safe.
            let aux: AuxData = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c).cast()) };
            if aux.status & TP_STATUS_VLAN_VALID == 0 {
                return None;
            }
            let tpid = if aux.status & TP_STATUS_VLAN_TPID_VALID != 0 {
                aux.vlan_tpid
            } else {
                0x8100
            };
            let [t0, t1] = tpid.to_be_bytes();
            let [c0, c1] = aux.vlan_tci.to_be_bytes();
            return Some([t0, t1, c0, c1]);
        }
        // SAFETY: as above.
        c = unsafe { libc::CMSG_NXTHDR(msg, c) };
    }
    None
}

/// An OVS mirror of a whole bridge to a veth made for one capture; removed
/// when dropped. Its rows carry the topology's mark: what a capture killed
/// before it cleaned up leaves goes with the next capture of that bridge or
/// with destroy (apply removes the port and the veth, which no plan wants;
/// the Mirror row is left, mirroring nowhere).
pub struct Mirror {
    netns: String,
    on: MirrorOn,
}

impl Mirror {
    /// `ip link add PORT type veth peer name PEER` in the host's namespace, and
    /// `ovs-vsctl add-port BRIDGE PORT -- --id=@m create Mirror select_all=true
    /// output-port=@p -- add Bridge BRIDGE mirrors @m`, applied before it returns.
    pub fn make(netns: &str, on: &MirrorOn, peer: &str, topology: &str) -> Result<Mirror, String> {
        let m = Mirror {
            netns: netns.to_string(),
            on: on.clone(),
        };
        m.remove();
        let up = |dev: &str| ["link", "set", dev, "up"].map(str::to_string);
        let add = [
            "link", "add", &on.port, "type", "veth", "peer", "name", peer,
        ]
        .map(str::to_string);
        for args in [add.to_vec(), up(&on.port).to_vec(), up(peer).to_vec()] {
            m.ip(&args)?;
        }
        let mut db = Ovsdb::connect(&on.ovsdb).map_err(|e| e.to_string())?;
        let owner = ovsdb::map([(OVS_OWNER_KEY, topology)]);
        // The bridge must be the topology's when the mirror goes on it: checked
        // in the transaction itself, which does nothing when it is not.
        let ours = json!([
            ["name", "==", on.bridge],
            ["external_ids", "includes", owner.clone()]
        ]);
        let ops = vec![
            json!({"op": "wait", "table": "Bridge", "timeout": 0, "where": ours,
                   "columns": ["name"], "until": "==", "rows": [{"name": on.bridge}]}),
            json!({"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": on.port}}),
            json!({"op": "insert", "table": "Port", "uuid-name": "p",
                   "row": {"name": on.port, "interfaces": ["named-uuid", "i"], "external_ids": owner}}),
            json!({"op": "insert", "table": "Mirror", "uuid-name": "m",
                   "row": {"name": on.port, "select_all": true, "output_port": ["named-uuid", "p"],
                           "external_ids": owner}}),
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", on.bridge]],
                   "mutations": [["ports", "insert", ["set", [["named-uuid", "p"]]]],
                                 ["mirrors", "insert", ["set", [["named-uuid", "m"]]]]]}),
            json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                   "mutations": [["next_cfg", "+=", 1]]}),
        ];
        db.transact(ops).map_err(|e| {
            format!(
                "cannot mirror bridge {}: no such bridge marked as topology {topology}'s (is the topology applied?): {e}",
                on.bridge
            )
        })?;
        // Mirrored from the first packet on: ovs-vswitchd has the port and mirror.
        db.wait_all_applied(Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        Ok(m)
    }

    fn ip(&self, args: &[String]) -> Result<(), String> {
        let mut c = Command::new("ip");
        c.args(args).stderr(Stdio::piped());
        let out = netns::command_in(&self.netns, c)
            .and_then(|mut c| c.output())
            .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Takes the mirror and its port off the bridge and deletes the veth;
    /// whatever is not there is skipped.
    fn remove(&self) {
        let port = &self.on.port;
        if let Ok(mut db) = Ovsdb::connect(&self.on.ovsdb) {
            let uuids = |db: &mut Ovsdb, table: &str| -> Vec<Value> {
                db.select(table, &["name"])
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| r["name"] == json!(port))
                    .map(|r| r["_uuid"].clone())
                    .collect()
            };
            let (mirrors, ports) = (uuids(&mut db, "Mirror"), uuids(&mut db, "Port"));
            if !mirrors.is_empty() || !ports.is_empty() {
                let _ = db.transact(vec![json!({"op": "mutate", "table": "Bridge",
                    "where": [["name", "==", self.on.bridge]],
                    "mutations": [["mirrors", "delete", ["set", mirrors]],
                                  ["ports", "delete", ["set", ports]]]})]);
            }
        }
        let _ = self.ip(&["link", "del", port].map(str::to_string));
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.remove();
    }
}
