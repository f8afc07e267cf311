//! Echo probes in batches, as fping sends them: one raw ICMP socket per
//! sender namespace sends an echo request to each of its destinations, then
//! waits a short common window for the replies; the destinations that did
//! not answer are asked again with a longer window, [`WINDOWS`] in all, and
//! again (up to [`MAX_ROUNDS`]) while the last round still brought replies.
//! Once every sender has ended those rounds, the destinations still silent
//! are asked again at a tenth of the most pace ([`Quiet`], the sweep). In
//! process, no process per ping; a sender's probes cost one socket and one
//! thread however many destinations it has.
//!
//! Why rounds: under load (a busy 2-core machine, thousands of probes
//! through userspace Open vSwitch) a first request can be lost to a full
//! queue or wait on ARP; the old one-ping-per-pair verify sent a request
//! every 0.2 s for 2 s. A destination with no route fails at once (the
//! kernel refuses the send with `ENETUNREACH`) and is not asked again: no
//! answer can come. A neighbour that did not answer ARP (`EHOSTUNREACH`) is
//! asked again in the next round, as a lost request is.
//!
//! Connection probes ([`connect_all`]) are TCP handshakes, all of a
//! sender's at once, non-blocking, with the kernel's own SYN retransmits;
//! [`listen`] opens the port on the far side for as long as they run.
//!
//! Why a pace: every request to a new neighbour starts an ARP broadcast
//! that the userspace datapath floods to every port of the VLAN on every
//! host; thousands at once overflow its queues and lose most of them. All
//! probers of a process share one pace, at most [`PACKETS_PER_SECOND`],
//! adapted to the round trips of the replies ([`Control`]): how much a
//! network carries depends on the machine under it, five times apart
//! between two days on the same kind of machine.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::netns;

/// How long each round waits for replies after its last request.
pub const WINDOWS: [Duration; 4] = [
    Duration::from_millis(1000),
    Duration::from_millis(1000),
    Duration::from_millis(1000),
    Duration::from_millis(1500),
];

/// Rounds in all while the last one still brought replies: a network just
/// built (switches learning, ARP resolving under load) answers some first
/// contacts only after [`WINDOWS`]; one that stays silent ends with them.
pub const MAX_ROUNDS: usize = 8;

/// Requests a second at most, all probers of this process together, unless
/// `NETLOOM_PROBE_RATE` says otherwise: at 20 hosts x 10 vms, 10,000 lost a
/// seventh of the first contacts beyond what the rounds recover, 5,000 none
/// (docs/performance.md, "Verify at scale").
pub const PACKETS_PER_SECOND: u64 = 5_000;

fn rate() -> u64 {
    static RATE: OnceLock<u64> = OnceLock::new();
    *RATE.get_or_init(|| {
        std::env::var("NETLOOM_PROBE_RATE")
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|&r| r > 0)
            .unwrap_or(PACKETS_PER_SECOND)
    })
}

/// Round trips above this mean the network's queues are filling: on a
/// quiet sandbox of 20 hosts a first contact (ARP included) takes under
/// 100 ms; at a pace it cannot carry, 0.3 to 2 s before requests are lost.
pub const SLOW: Duration = Duration::from_millis(250);
/// The slowest pace the full rounds come down to, requests a second.
const MIN_RATE: f64 = 100.0;
/// Replies to judge a pace by.
const SAMPLES: u32 = 32;

/// The pace of the full rounds, one per measurement ([`Quiet`]), adapted
/// to the network's round trips: it starts at a quarter of [`rate`], grows
/// by a quarter while replies come back fast, and halves when more than one
/// in five is [`SLOW`]. Only replies to requests sent at the current pace
/// judge it, so one overload is answered once, not again by every late
/// reply it caused. Expected silences (no route, no such host) give no
/// replies and so do not slow it.
#[derive(Debug)]
struct Control {
    rate: f64,
    max: f64,
    /// When the pace last changed.
    since: Instant,
    fast: u32,
    slow: u32,
}

impl Control {
    fn new(max: u64, now: Instant) -> Control {
        let max = max as f64;
        Control {
            rate: (max / 4.0).max(MIN_RATE.min(max)),
            max,
            since: now,
            fast: 0,
            slow: 0,
        }
    }

    /// A reply to a request sent at `sent`, `rtt` after it; `now` is when it came.
    fn reply(&mut self, sent: Instant, rtt: Duration, now: Instant) {
        if sent < self.since {
            return;
        }
        if rtt > SLOW {
            self.slow += 1;
        } else {
            self.fast += 1;
        }
        let n = self.fast + self.slow;
        if n < SAMPLES {
            return;
        }
        let rate = if self.slow * 5 > n {
            (self.rate / 2.0).max(MIN_RATE.min(self.max))
        } else if self.slow * 20 <= n {
            (self.rate * 1.25).min(self.max)
        } else {
            self.rate
        };
        if rate != self.rate {
            self.rate = rate;
            self.since = now;
        }
        self.fast = 0;
        self.slow = 0;
    }
}

/// The time of the next request any prober may send, in ns since [`epoch`].
static NEXT_SEND: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// When this request's turn comes in the shared pace of `rate` requests a second.
fn turn(rate: u64) -> Instant {
    let gap = 1_000_000_000 / rate;
    let now = epoch().elapsed().as_nanos() as u64;
    let mut slot = NEXT_SEND.load(Ordering::Relaxed);
    loop {
        let mine = slot.max(now);
        match NEXT_SEND.compare_exchange_weak(
            slot,
            mine + gap,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return epoch() + Duration::from_nanos(mine),
            Err(s) => slot = s,
        }
    }
}

/// Wait for this request's turn in the shared pace of `rate` requests a second.
fn pace(rate: u64) {
    std::thread::sleep(turn(rate).saturating_duration_since(Instant::now()));
}

const ICMP_ECHO: u8 = 8;
const ICMP_ECHOREPLY: u8 = 0;
/// `SOL_RAW` option: a bit mask of ICMP types this socket does not receive.
const ICMP_FILTER: libc::c_int = 1;

/// Echo ids, one per socket, so that two probers in one namespace (or a
/// `ping` beside them) never take each other's replies.
static NEXT_ID: AtomicU16 = AtomicU16::new(1);

/// What happened to one destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Echo {
    /// Replied; the round trip of the request it answered, in ms.
    Reply(f64),
    /// No reply in any round.
    Silent,
    /// No route: the kernel refused to send (`ENETUNREACH`).
    Unreachable,
}

/// Echo each of `dests` from inside namespace `ns`, as `prober` of its
/// measurement; `on_end(i, echo)` as each destination's outcome is known
/// (replies as they come, the rest at the end). Returns every outcome, in
/// `dests` order.
pub fn echo_all(
    ns: &str,
    dests: &[Ipv4Addr],
    prober: Prober<'_>,
    mut on_end: impl FnMut(usize, Echo),
) -> io::Result<Vec<Echo>> {
    let quiet = prober.0;
    // A socket belongs to the namespace it was made in, whichever thread uses it.
    let sock = netns::run_in(ns, raw_icmp_socket)??;
    let mut b = Batch {
        sock,
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed) ^ (std::process::id() as u16),
        control: &quiet.pace,
        dests,
        out: vec![None; dests.len()],
        left: dests.len(),
    };
    for round in 0..MAX_ROUNDS {
        let window = WINDOWS[round.min(WINDOWS.len() - 1)];
        let answered = b.round(None, window, &mut on_end)?;
        // Past the base rounds, only a network still answering is asked again.
        if b.left == 0 || (round + 1 >= WINDOWS.len() && answered == 0) {
            break;
        }
    }
    drop(prober);
    if b.left > 0 {
        quiet.wait();
        for _ in 0..SWEEP_ROUNDS {
            if b.round(Some(sweep_rate()), SWEEP_WINDOW, &mut on_end)? == 0 || b.left == 0 {
                break;
            }
        }
    }
    Ok(b.out
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            e.unwrap_or_else(|| {
                on_end(i, Echo::Silent);
                Echo::Silent
            })
        })
        .collect())
}

/// The sweep's pace: a tenth of the full one. Measured at 40 hosts x 10 vms
/// on a chain: past about 20 userspace switches in a row, the full pace
/// loses requests midway on every hop (the farther the pair, the likelier),
/// and rounds at that pace never bring the far pairs in; alone on a quiet
/// network they answer (docs/performance.md, "Verify at scale").
fn sweep_rate() -> u64 {
    (rate() / 10).max(1)
}

/// Sweep rounds at most, each while the last still brought replies.
pub const SWEEP_ROUNDS: usize = 4;
/// How long a sweep round waits for replies after its last request.
pub const SWEEP_WINDOW: Duration = Duration::from_millis(2000);

/// The probers of one measurement: the pace of their full rounds, which
/// each measurement learns anew, and the sweep, so that those with
/// destinations still silent after their rounds ask them again, slowly,
/// only once every prober has ended those rounds: then the network carries
/// nothing else, and a request lost to its load is asked again on a quiet one.
pub struct Quiet {
    pace: Mutex<Control>,
    busy: Mutex<usize>,
    ended: Condvar,
}

impl Default for Quiet {
    fn default() -> Quiet {
        Quiet {
            pace: Mutex::new(Control::new(rate(), Instant::now())),
            busy: Mutex::new(0),
            ended: Condvar::new(),
        }
    }
}

impl Quiet {
    /// A place for one call of [`echo_all`]. Take every prober's before any
    /// starts: the sweep begins once all that were taken have been dropped.
    pub fn prober(&self) -> Prober<'_> {
        *self.busy.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Prober(self)
    }

    fn wait(&self) {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while *busy > 0 {
            busy = self
                .ended
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A prober in its rounds at full pace, or yet to start them; ended when
/// dropped, however it ends (an error, or a thread that could not be
/// started for it), so that no sweep waits for it forever.
pub struct Prober<'q>(&'q Quiet);

impl Drop for Prober<'_> {
    fn drop(&mut self) {
        let mut busy = self.0.busy.lock().unwrap_or_else(PoisonError::into_inner);
        *busy = busy.saturating_sub(1);
        self.0.ended.notify_all();
    }
}

/// One sender's destinations and what became of them so far.
struct Batch<'d> {
    sock: OwnedFd,
    id: u16,
    /// The measurement's pace of the full rounds.
    control: &'d Mutex<Control>,
    dests: &'d [Ipv4Addr],
    out: Vec<Option<Echo>>,
    left: usize,
}

impl Batch<'_> {
    fn pace(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ask every destination without an outcome, `rate` requests a second
    /// (all probers together; `None`: the measurement's adapted pace, which
    /// the replies then judge), then wait `window` for replies. Returns how
    /// many answered.
    fn round(
        &mut self,
        rate: Option<u64>,
        window: Duration,
        on_end: &mut impl FnMut(usize, Echo),
    ) -> io::Result<usize> {
        let mut answered = 0;
        // The first request waits its turn too: probers begin their rounds,
        // and the sweep, together, and would otherwise all send at once.
        if self.left > 0 {
            let first = turn(rate.unwrap_or_else(|| self.pace().rate as u64));
            answered += self.read_until(first, rate.is_none(), on_end)?;
        }
        for (i, to) in self.dests.iter().enumerate() {
            if self.out[i].is_some() {
                continue;
            }
            match send_echo(&self.sock, *to, self.id, i as u32) {
                // Only what went out waits its turn: a refused send costs the
                // wire nothing. Replies are read meanwhile, so that a round
                // trip is the network's, not the rest of the round's.
                Ok(()) => {
                    let turn = turn(rate.unwrap_or_else(|| self.pace().rate as u64));
                    answered += self.read_until(turn, rate.is_none(), on_end)?;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENETUNREACH) => {
                    self.out[i] = Some(Echo::Unreachable);
                    self.left -= 1;
                    on_end(i, Echo::Unreachable);
                }
                // No ARP answer yet, or a full queue: the next round asks again.
                Err(_) => {}
            }
        }
        Ok(answered + self.read_until(Instant::now() + window, rate.is_none(), on_end)?)
    }

    /// Take the replies that come until `until` (or until every destination
    /// has its outcome), each a sample for [`Control`] when `adapt`.
    /// Returns how many answered.
    fn read_until(
        &mut self,
        until: Instant,
        adapt: bool,
        on_end: &mut impl FnMut(usize, Echo),
    ) -> io::Result<usize> {
        let mut answered = 0;
        while self.left > 0 {
            let now = Instant::now();
            if now >= until {
                break;
            }
            let Some(r) = recv_reply(&self.sock, self.id, until - now)? else {
                continue;
            };
            let i = r.index as usize;
            if i < self.dests.len() && self.dests[i] == r.from && self.out[i].is_none() {
                // Timed from the request it answers, which may be an earlier
                // round's: the last one sent would make a late reply look fast.
                let now = Instant::now();
                let sent = sent_at(r.sent, now);
                let rtt = sent.map_or(Duration::ZERO, |s| now - s);
                if let (true, Some(sent)) = (adapt, sent) {
                    self.pace().reply(sent, rtt, now);
                }
                let e = Echo::Reply(rtt.as_secs_f64() * 1000.0);
                self.out[i] = Some(e);
                self.left -= 1;
                answered += 1;
                on_end(i, e);
            }
        }
        Ok(answered)
    }
}

/// A listening TCP socket on `port` of every address of namespace `ns`, for
/// connection probes to reach; closed when dropped. `None` when something
/// listens there already (then that answers).
pub fn listen(ns: &str, port: u16) -> io::Result<Option<OwnedFd>> {
    netns::run_in(ns, move || -> io::Result<Option<OwnedFd>> {
        let fd = tcp_socket()?;
        let one: libc::c_int = 1;
        let addr = sockaddr(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        // SAFETY: valid fd; option and address of the sizes passed.
        unsafe {
            check(libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                (&one as *const libc::c_int).cast(),
                4,
            ))?;
            match check(libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )) {
                Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => return Ok(None),
                r => r?,
            };
            // The kernel completes handshakes without accept(); the backlog holds them.
            check(libc::listen(fd.as_raw_fd(), 4096))?;
        }
        Ok(Some(fd))
    })?
}

/// What became of one connection probe (an agent's answer carries them).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connect {
    /// The handshake completed; its time in ms.
    Established(f64),
    /// The far side answered RST: nothing listens there.
    Refused,
    /// No answer within [`CONNECT_WAIT`] (the kernel retransmitted the SYN meanwhile).
    Silent,
    /// No route, or no ARP answer (`ENETUNREACH`, `EHOSTUNREACH`).
    Unreachable,
}

/// How long a connection probe waits: the kernel sends its SYN again after
/// 1 s and 3 s, so a lost first SYN or SYN-ACK still makes it in time.
pub const CONNECT_WAIT: Duration = Duration::from_millis(4500);

/// Connect to each of `dests` from inside namespace `ns`, all at once.
pub fn connect_all(ns: &str, dests: &[SocketAddrV4]) -> io::Result<Vec<Connect>> {
    let n = dests.len();
    // A socket belongs to the namespace it was made in, whichever thread uses it.
    let socks = netns::run_in(ns, move || (0..n).map(|_| tcp_socket()).collect::<Vec<_>>())?
        .into_iter()
        .collect::<io::Result<Vec<OwnedFd>>>()?;
    let mut out: Vec<Option<Connect>> = vec![None; n];
    // Each its own wait from its own SYN: the pace spreads the SYNs of all
    // senders over seconds, and a late one must still see its retransmits.
    let mut started = vec![Instant::now(); n];
    for (i, (sock, to)) in socks.iter().zip(dests).enumerate() {
        let addr = sockaddr(*to);
        pace(rate());
        started[i] = Instant::now();
        // SAFETY: valid fd; address of the size passed.
        let r = check(unsafe {
            libc::connect(
                sock.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        });
        match r {
            Ok(_) => out[i] = Some(Connect::Established(0.0)),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => out[i] = Some(connect_error(e)),
        }
    }
    await_handshakes(&socks, &started, &mut out)?;
    Ok(out
        .into_iter()
        .map(|c| c.unwrap_or(Connect::Silent))
        .collect())
}

/// Wait for the handshakes of `socks` still without an outcome in `out`,
/// each until [`CONNECT_WAIT`] after its own start in `started`.
fn await_handshakes(
    socks: &[OwnedFd],
    started: &[Instant],
    out: &mut [Option<Connect>],
) -> io::Result<()> {
    loop {
        let now = Instant::now();
        let mut pfds: Vec<libc::pollfd> = Vec::new();
        let mut which: Vec<usize> = Vec::new();
        let mut next = None;
        for (i, sock) in socks.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            let deadline = started[i] + CONNECT_WAIT;
            if now >= deadline {
                out[i] = Some(Connect::Silent);
                continue;
            }
            next = Some(next.map_or(deadline, |d: Instant| d.min(deadline)));
            pfds.push(libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            });
            which.push(i);
        }
        let Some(deadline) = next else {
            break;
        };
        let ms = (deadline - now).as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: pfds is a valid array of its length.
        match unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) } {
            r if r < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            _ => {}
        }
        for (p, &i) in pfds.iter().zip(&which).filter(|(p, _)| p.revents != 0) {
            let mut err: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: valid fd; err and len sized for SO_ERROR.
            check(unsafe {
                libc::getsockopt(
                    p.fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut err as *mut libc::c_int).cast(),
                    &mut len,
                )
            })?;
            out[i] = Some(if err == 0 {
                Connect::Established(started[i].elapsed().as_secs_f64() * 1000.0)
            } else {
                connect_error(io::Error::from_raw_os_error(err))
            });
        }
    }
    Ok(())
}

fn connect_error(e: io::Error) -> Connect {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => Connect::Refused,
        Some(libc::ENETUNREACH | libc::EHOSTUNREACH) => Connect::Unreachable,
        _ => Connect::Silent,
    }
}

/// A non-blocking IPv4 TCP socket.
fn tcp_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned at once.
    Ok(unsafe {
        OwnedFd::from_raw_fd(check(libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))?)
    })
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)` receiving echo replies only,
/// with room for thousands of them.
fn raw_icmp_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd = unsafe {
        OwnedFd::from_raw_fd(check(libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        ))?)
    };
    let filter: u32 = !(1u32 << ICMP_ECHOREPLY);
    let rcvbuf: libc::c_int = 8 << 20;
    // SAFETY: valid fd, option values of the sizes passed.
    unsafe {
        check(libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_RAW,
            ICMP_FILTER,
            (&filter as *const u32).cast(),
            4,
        ))?;
        // Root may exceed rmem_max; a failure only means a smaller buffer.
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&rcvbuf as *const libc::c_int).cast(),
            4,
        );
    }
    Ok(fd)
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request: id, a 16-bit sequence, and in the payload the
/// destination's index (a batch may have more than 65536 destinations) and
/// when it was sent, in ns since [`epoch`] (the reply carries both back).
fn echo_request(id: u16, index: u32, sent: u64) -> [u8; 20] {
    let mut p = [0u8; 20];
    p[0] = ICMP_ECHO;
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&(index as u16).to_be_bytes());
    p[8..12].copy_from_slice(&index.to_be_bytes());
    p[12..20].copy_from_slice(&sent.to_be_bytes());
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

fn send_echo(sock: &OwnedFd, to: Ipv4Addr, id: u16, index: u32) -> io::Result<()> {
    let p = echo_request(id, index, epoch().elapsed().as_nanos() as u64);
    let addr = sockaddr(SocketAddrV4::new(to, 0));
    // SAFETY: valid fd; buffer and address live for the call, sizes match.
    check(unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            p.as_ptr().cast(),
            p.len(),
            0,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) as libc::c_int
    })
    .map(drop)
}

/// When a request was sent, from the ns since [`epoch`] its reply carries;
/// `None` for a time that cannot be ours (the far side wrote the payload
/// back, and could write anything): such a reply still proves the pair, but
/// times nothing.
fn sent_at(ns: u64, now: Instant) -> Option<Instant> {
    (epoch().checked_add(Duration::from_nanos(ns))).filter(|&s| s <= now)
}

/// An echo reply to one of a prober's requests.
#[derive(Debug, PartialEq)]
struct Reply {
    from: Ipv4Addr,
    /// The destination's index, as the request carried it.
    index: u32,
    /// When the request was sent, in ns since [`epoch`].
    sent: u64,
}

/// The next echo reply for `id` within `wait`.
fn recv_reply(sock: &OwnedFd, id: u16, wait: Duration) -> io::Result<Option<Reply>> {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // ppoll, not poll: a turn in the pace is a fraction of a millisecond.
    let ts = libc::timespec {
        tv_sec: wait.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: wait.subsec_nanos().into(),
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    match unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) } {
        0 => return Ok(None),
        r if r < 0 => {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        _ => {}
    }
    let mut buf = [0u8; 256];
    // SAFETY: valid fd and buffer.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock {
            Ok(None)
        } else {
            Err(e)
        };
    }
    Ok(parse_reply(&buf[..n as usize], id))
}

/// An IPv4 packet holding an echo reply for `id`.
fn parse_reply(pkt: &[u8], id: u16) -> Option<Reply> {
    let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
    let icmp = pkt.get(ihl..)?;
    if icmp.len() < 20 || icmp[0] != ICMP_ECHOREPLY || icmp[4..6] != id.to_be_bytes() {
        return None;
    }
    Some(Reply {
        from: Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]),
        index: u32::from_be_bytes(icmp[8..12].try_into().ok()?),
        sent: u64::from_be_bytes(icmp[12..20].try_into().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` replies of `rtt` each, to requests sent at `sent`, all come at `now`.
    fn replies(c: &mut Control, n: u32, sent: Instant, rtt: u64, now: Instant) {
        for _ in 0..n {
            c.reply(sent, Duration::from_millis(rtt), now);
        }
    }

    #[test]
    fn the_pace_grows_while_replies_are_fast_and_halves_when_they_are_slow() {
        let t0 = Instant::now();
        let ms = |m| t0 + Duration::from_millis(m);
        let mut c = Control::new(5_000, t0);
        assert_eq!(c.rate, 1_250.0, "a quarter of the most");
        replies(&mut c, SAMPLES - 1, t0, 20, ms(30));
        assert_eq!(c.rate, 1_250.0, "not judged before {SAMPLES} replies");
        replies(&mut c, 1, t0, 20, ms(30));
        assert_eq!(c.rate, 1_562.5);
        // Replies to requests sent before that change do not judge the new pace.
        replies(&mut c, 2 * SAMPLES, t0, 900, ms(40));
        assert_eq!(c.rate, 1_562.5, "late replies of the old pace");
        // One slow reply in 32 is noise; seven is an overload.
        replies(&mut c, SAMPLES - 1, ms(31), 20, ms(60));
        replies(&mut c, 1, ms(31), 900, ms(60));
        assert_eq!(c.rate, 1_953.125);
        replies(&mut c, SAMPLES - 7, ms(61), 20, ms(300));
        replies(&mut c, 7, ms(61), 900, ms(300));
        assert_eq!(c.rate, 976.5625);
        // Between the two: the pace holds.
        replies(&mut c, SAMPLES - 3, ms(301), 20, ms(400));
        replies(&mut c, 3, ms(301), 900, ms(400));
        assert_eq!(c.rate, 976.5625);
        // Never past the most, never under the least.
        for k in 0..40 {
            replies(&mut c, SAMPLES, ms(401 + k), 20, ms(401 + k));
        }
        assert_eq!(c.rate, 5_000.0);
        for k in 0..40 {
            replies(&mut c, SAMPLES, ms(500 + k), 900, ms(500 + k));
        }
        assert_eq!(c.rate, MIN_RATE);
        assert_eq!(Control::new(40, t0).rate, 40.0, "a most under the least");
    }

    /// A place is given back however its prober ends, even when its thread
    /// never started (a spawn that failed drops it): else the sweep of
    /// every other prober would wait for it forever.
    #[test]
    fn the_sweep_waits_only_for_probers_still_in_their_rounds() {
        let q = Quiet::default();
        let busy = |q: &Quiet| *q.busy.lock().unwrap();
        let started = q.prober();
        let never_started: Vec<_> = (0..2).map(|_| q.prober()).collect();
        assert_eq!(busy(&q), 3);
        drop(never_started);
        assert_eq!(busy(&q), 1);
        std::thread::scope(|sc| {
            sc.spawn(move || drop(started));
            q.wait();
        });
        assert_eq!(busy(&q), 0);
    }

    #[test]
    fn a_reply_is_timed_only_by_a_send_time_that_can_be_ours() {
        let sent = epoch().elapsed().as_nanos() as u64;
        let now = Instant::now();
        assert!(sent_at(sent, now).is_some_and(|s| s <= now));
        assert_eq!(sent_at(sent + 60_000_000_000, now), None, "in the future");
        assert_eq!(sent_at(u64::MAX, now), None, "past what an Instant holds");
    }

    #[test]
    fn a_request_checksums_to_zero_and_its_reply_is_recognised() {
        let sent = 5_000_000_123_456_789;
        let req = echo_request(0x1234, 70_000, sent);
        assert_eq!(checksum(&req), 0, "a valid checksum sums to zero");
        // The reply as the kernel delivers it: a 20-byte IPv4 header, then
        // the request echoed with type 0.
        let mut pkt = vec![0x45u8; 1];
        pkt.extend([0; 11]);
        pkt.extend([10, 0, 0, 7, 10, 0, 0, 1]);
        let mut reply = req;
        reply[0] = ICMP_ECHOREPLY;
        pkt.extend(reply);
        assert_eq!(
            parse_reply(&pkt, 0x1234),
            Some(Reply {
                from: Ipv4Addr::new(10, 0, 0, 7),
                index: 70_000,
                sent
            })
        );
        assert_eq!(parse_reply(&pkt, 0x1235), None, "another prober's reply");
        let mut req_pkt = pkt.clone();
        req_pkt[20] = ICMP_ECHO;
        assert_eq!(
            parse_reply(&req_pkt, 0x1234),
            None,
            "a request, not a reply"
        );
        assert_eq!(parse_reply(&pkt[..39], 0x1234), None, "truncated");
    }
}
