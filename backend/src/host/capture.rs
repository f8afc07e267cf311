//! Listening on one device inside a namespace, as libpcap does: an AF_PACKET
//! socket bound to the device, with the 802.1Q tag the kernel took out of a
//! received frame put back from `PACKET_AUXDATA` (on a veth's receiving end
//! the tag is never in the frame's bytes).

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::netns;

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
}

/// One frame as captured.
pub struct Frame {
    /// The frame's bytes, tag included, cut at the snap length.
    pub data: Vec<u8>,
    /// Its length on the wire, tag included.
    pub orig_len: u32,
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
        Ok(Socket { fd })
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
        if check(unsafe { libc::poll(&mut pfd, 1, ms) })? == 0 {
            return Ok(None);
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
        Ok(Frame {
            data,
            orig_len: orig_len as u32,
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
