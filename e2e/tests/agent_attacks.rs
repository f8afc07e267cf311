//! Root test: a token holder attacks a real `netloom agent`, over its unix
//! socket and over TCP+TLS, through every field of a request that reaches
//! the system. Each attack must be refused *and* leave everything as it
//! was: files untouched, secrets not returned, the agent alive, the OVS rows
//! (mirrors included) and the agent's own links unchanged, the other
//! topology's namespace still there.
//!
//! The agent runs in a test namespace; its TCP port is on that namespace's
//! loopback, and it is given a foreign OVS database (`--ovsdb`) standing for
//! the host's own. Tokens: A may touch topology `e2e-atk`, B only `e2e-atkb`.

mod apply_support;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apply_support::*;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TOPO: &str = "e2e-atk";
const OTHER: &str = "e2e-atkb";
const PORT: u16 = 7396;

trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

/// How the test reaches the agent.
enum Transport {
    Unix(PathBuf),
    Tls(String, Arc<rustls::ClientConfig>),
}

impl Transport {
    fn connect(&self) -> Box<dyn Conn> {
        match self {
            Transport::Unix(p) => Box::new(UnixStream::connect(p).expect("unix agent")),
            Transport::Tls(ns, cfg) => {
                // The agent listens on its namespace's loopback: reach it from inside.
                let s =
                    in_netns(ns, || TcpStream::connect(("127.0.0.1", PORT))).expect("tcp agent");
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                let c = rustls::ClientConnection::new(cfg.clone(), name).unwrap();
                Box::new(rustls::StreamOwned::new(c, s))
            }
        }
    }

    /// Send one request line, read every answer line.
    fn ask(&self, line: &str) -> String {
        let mut c = self.connect();
        // The agent may answer and hang up before it has read everything (it should).
        let _ = c
            .write_all(line.as_bytes())
            .and_then(|()| c.write_all(b"\n"))
            .and_then(|()| c.flush());
        let mut out = String::new();
        let _ = BufReader::new(c).read_to_string(&mut out);
        out
    }
}

/// Run `f` on a thread inside namespace `ns` (a socket made there stays there).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(path).expect("netns file");
        // SAFETY: setns on this fresh thread only; the fd is valid for the call.
        let r = unsafe {
            use std::os::fd::AsRawFd;
            libc_setns(fd.as_raw_fd())
        };
        assert_eq!(r, 0, "setns");
        f()
    })
    .join()
    .unwrap()
}

extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
}

/// `setns(fd, CLONE_NEWNET)`.
unsafe fn libc_setns(fd: i32) -> i32 {
    setns(fd, 0x4000_0000)
}

/// A request line as netloom's client writes it: the token first.
fn request(token: &str, request: serde_json::Value) -> String {
    format!("{{\"token\":\"{token}\",\"request\":{request}}}")
}

fn execute(token: &str, topology: &str, steps: serde_json::Value) -> String {
    request(
        token,
        serde_json::json!({"execute": {"topology": topology,
            "target": {"name": "h1", "agent": null, "emulated": false, "netns": "",
                       "ovsdb": "", "datapath": "netdev"},
            "steps": steps}}),
    )
}

/// A capture request: a second, one frame, unless `seconds` says otherwise.
fn capture(token: &str, topology: &str, netns: &str, device: &str, seconds: u32) -> String {
    request(
        token,
        serde_json::json!({"capture": {"topology": topology, "netns": netns, "device": device,
            "snaplen": 100, "seconds": seconds, "count": 1}}),
    )
}

/// A request for `verify`'s listeners, held `seconds`.
fn listen(token: &str, topology: &str, listeners: serde_json::Value, seconds: u32) -> String {
    request(
        token,
        serde_json::json!({"listen": {"topology": topology, "listeners": listeners,
            "seconds": seconds}}),
    )
}

/// A request for `verify`'s connection probes.
fn connect(token: &str, topology: &str, connects: serde_json::Value) -> String {
    request(
        token,
        serde_json::json!({"connect": {"topology": topology, "connects": connects}}),
    )
}

/// A capture of a link as a real host's agent is asked for one (a second, one frame).
fn capture_link(token: &str, topology: &str, link: serde_json::Value) -> String {
    request(
        token,
        serde_json::json!({"capturelink": {"topology": topology, "link": link,
            "snaplen": 100, "seconds": 1, "count": 1}}),
    )
}

/// One echo request from `netns`, as the real path asks for one.
fn echo(token: &str, topology: &str, netns: &str, wait: u32) -> String {
    request(
        token,
        serde_json::json!({"echo": {"topology": topology, "echo": {"netns": netns,
            "to": "127.0.0.1", "size": 84, "ttl": 64, "wait": wait}}}),
    )
}

/// A GRE tunnel's end as a capture names it.
fn gre(port: &str, local: &str, remote: &str, key: u32) -> serde_json::Value {
    serde_json::json!({"tunnel": {"port": port, "local": local, "remote": remote,
        "kind": {"gre": {"key": key}}}})
}

fn step(action: &str, resource: serde_json::Value) -> serde_json::Value {
    serde_json::json!([{"action": action, "resource": resource}])
}

/// Everything an attack could change, read before and after.
#[derive(Debug, PartialEq)]
struct World {
    canary: String,
    victim: bool,
    other_netns: bool,
    ovs: String,
    host_links: Vec<String>,
    /// The agent's own namespace: a mirror's veth would be made there.
    agent_links: Vec<u8>,
    dnsmasq: usize,
    ovn_controllers: usize,
    /// TCP listeners in both topologies' namespaces and the agent's own.
    listening: String,
}

struct Env {
    dir: PathBuf,
    ovs: ForeignOvs,
    agent_pid: u32,
    agent_ns: String,
}

impl Env {
    fn world(&self) -> World {
        World {
            canary: std::fs::read_to_string(self.dir.join("canary")).unwrap_or_default(),
            victim: self.dir.join("victim").exists(),
            other_netns: netloom_e2e::netns_list().contains(&format!("nl-{OTHER}.h1")),
            ovs: format!(
                "{}{}{}{}",
                self.ovs.bridges(),
                self.ovs
                    .vsctl(&["--columns=name,external_ids", "list", "port"]),
                self.ovs.vsctl(&["--columns=name", "list", "mirror"]),
                // A chassis' keys (system-id, ovn-remote, ...) live here.
                self.ovs
                    .vsctl(&["--columns=external_ids", "list", "open_vswitch"])
            ),
            host_links: root_links(),
            agent_links: netloom_e2e::run(&["ip", "-n", &self.agent_ns, "-o", "link", "show"])
                .stdout,
            dnsmasq: count_processes("dnsmasq"),
            ovn_controllers: count_processes("ovn-controller"),
            listening: listeners(self.agent_pid),
        }
    }

    /// Running: a dead agent stays in /proc as a zombie until the test reaps it.
    fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.agent_pid))
            .is_ok_and(|s| !s.contains(") Z "))
    }

    /// Bytes the agent has read through syscalls so far.
    fn agent_read(&self) -> u64 {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.agent_pid)).unwrap();
        io.lines()
            .find_map(|l| l.strip_prefix("rchar: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap()
    }
}

/// TCP listeners in both topologies' namespaces and in the agent's own.
fn listeners(agent_pid: u32) -> String {
    let mut out = String::new();
    for t in [TOPO, OTHER] {
        let ns = format!("nl-{t}.h1");
        let o = netloom_e2e::try_run(&["ip", "netns", "exec", &ns, "ss", "-Hltn"]);
        out += &String::from_utf8_lossy(&o.stdout);
    }
    let tcp = std::fs::read_to_string(format!("/proc/{agent_pid}/net/tcp")).unwrap_or_default();
    for l in tcp
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("0A"))
    {
        out += l;
        out.push('\n');
    }
    out
}

fn count_processes(name: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .count()
}

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = Command::new("ip")
            .args(["netns", "delete", &format!("nl-{OTHER}.h1")])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "delete", &format!("nl-{TOPO}.h1")])
            .status();
    }
}

/// Each attack: the request, and a word its refusal must contain.
/// A request starting host h1's daemons as an OVN chassis of `remote`, with `mappings`.
fn chassis(remote: &str, mappings: serde_json::Value) -> String {
    let own = format!("nl{}int", netloom_core::names::topology_tag(TOPO));
    execute(
        A,
        TOPO,
        step(
            "create",
            serde_json::json!({"kind": "ovs_daemons", "netns": format!("nl-{TOPO}.h1"),
                "dir": format!("/run/netloom/{TOPO}/h1"),
                "ovn": {"system_id": format!("{TOPO}.h1"), "remote": remote,
                    "encap_type": "geneve", "encap_ip": "172.31.0.1", "bridge": own,
                    "datapath": "netdev", "bridge_mappings": mappings}}),
        ),
    )
}

/// A request making this (real) host a chassis of `remote`, named `system_id`.
fn real_chassis(system_id: &str, remote: &str) -> String {
    let own = format!("nl{}int", netloom_core::names::topology_tag(TOPO));
    execute(
        A,
        TOPO,
        step(
            "create",
            serde_json::json!({"kind": "ovn_chassis", "chassis": {"system_id": system_id,
                "encap_type": "geneve", "encap_ip": "172.31.0.1", "bridge_mappings": [],
                "remote": remote, "bridge": own, "datapath": "system"}}),
        ),
    )
}

/// A request starting this host's `ovn-controller` in `dir`, with `key` as its private key.
fn controller(dir: &str, key: &str, ca: &str) -> String {
    execute(
        A,
        TOPO,
        step(
            "create",
            serde_json::json!({"kind": "ovn_controller", "dir": dir,
                "tls": {"private_key": key, "certificate": ca, "ca_certificate": ca}}),
        ),
    )
}

fn attacks(dir: &Path) -> Vec<(&'static str, String, &'static str)> {
    let d = dir.display();
    let tag = netloom_core::names::topology_tag(TOPO);
    let own = |s: &str| format!("nl{tag}{s}");
    let ns = format!("nl-{TOPO}.h1");
    let mut v = vec![
        (
            "a sysctl key that climbs out of /proc/sys writes a file",
            execute(
                A,
                TOPO,
                step(
                    "create",
                    serde_json::json!({"kind": "sysctl", "netns": ns,
                "key": format!("../../../..{d}/canary"), "value": "1"}),
                ),
            ),
            "sysctl",
        ),
        (
            "the same key in an observe hint reads a file",
            request(
                A,
                serde_json::json!({"observe": {"topology": TOPO, "targets": [],
                "hint": {"targets": {"h1": {"x": {"kind": "sysctl", "netns": ns,
                    "key": format!("../../../..{d}/canary"), "value": "1"}}}}}}),
            ),
            "sysctl",
        ),
        (
            "a DHCP client's device that is a path deletes a file",
            execute(
                A,
                TOPO,
                step(
                    "delete",
                    serde_json::json!({"kind": "dhcp_client",
                "netns": ns, "dev": format!("../../../..{d}/victim"), "order": 0}),
                ),
            ),
            "device name",
        ),
        (
            "token A removes topology B's namespace",
            execute(
                A,
                OTHER,
                step(
                    "delete",
                    serde_json::json!({"kind": "netns",
                "name": format!("nl-{OTHER}.h1")}),
                ),
            ),
            "may not touch",
        ),
        (
            "token A names B's namespace under its own topology",
            execute(
                A,
                TOPO,
                step(
                    "delete",
                    serde_json::json!({"kind": "netns",
                "name": format!("nl-{OTHER}.h1")}),
                ),
            ),
            "namespace",
        ),
        (
            "token A observes topology B",
            request(
                A,
                serde_json::json!({"observe": {"topology": OTHER, "targets": [],
                "hint": {"targets": {}}}}),
            ),
            "may not touch",
        ),
        (
            "token B pings from topology A's namespaces",
            request(
                B,
                serde_json::json!({"ping": {"topology": TOPO,
                "pings": [[ns, "127.0.0.1"]]}}),
            ),
            "may not touch",
        ),
        (
            "a port of ours on the host's own bridge",
            execute(
                A,
                TOPO,
                step(
                    "create",
                    serde_json::json!({"kind": "ovs_port",
                "bridge": "br-user", "name": own("p1"), "tag": null,
                "iface": {"type": "system"}}),
                ),
            ),
            "not a name netloom gives",
        ),
        (
            "a port on another topology's bridge that has a name like ours",
            execute(
                A,
                TOPO,
                step(
                    "create",
                    serde_json::json!({"kind": "ovs_port",
                "bridge": own("b9"), "name": own("p1"), "tag": null,
                "iface": {"type": "system"}}),
                ),
            ),
            "not marked as topology",
        ),
        (
            "the host's NIC as a port of ours",
            execute(
                A,
                TOPO,
                step(
                    "create",
                    serde_json::json!({"kind": "ovs_port",
                "bridge": own("b1"), "name": "lo", "tag": null,
                "iface": {"type": "system"}}),
                ),
            ),
            "not a name netloom gives",
        ),
        (
            "a VIF bound to another topology's OVN logical port",
            execute(
                A,
                TOPO,
                step(
                    "create",
                    serde_json::json!({"kind": "ovs_port",
                "bridge": own("int"), "name": own("p1"), "tag": null,
                "iface": {"type": "vif", "iface_id": format!("{OTHER}.h1.vm1.eth0")}}),
                ),
            ),
            "is not one of the topology's",
        ),
        (
            "a chassis pointed at another topology's OVN central",
            chassis(
                &format!("unix:/run/netloom/{OTHER}/_ovn/sb.sock"),
                serde_json::json!([]),
            ),
            "is not the topology's central",
        ),
        (
            "a chassis mapping an external network onto the host's own bridge",
            chassis(
                &format!("unix:/run/netloom/{TOPO}/_ovn/sb.sock"),
                serde_json::json!([[format!("{TOPO}._ext.x"), "br-user"]]),
            ),
            "not a name netloom gives",
        ),
        (
            "a real host's ovn-controller pointed at the host's own OVSDB as its central",
            real_chassis(&format!("{TOPO}.h1"), "unix:/var/run/openvswitch/db.sock"),
            "is not the topology's central",
        ),
        (
            "a real host made another topology's chassis",
            real_chassis(&format!("{OTHER}.h1"), "ssl:127.0.0.1:6642"),
            "is not the topology's",
        ),
        (
            "a chassis advertising an address not of the host as its Geneve end",
            real_chassis(&format!("{TOPO}.h1"), "ssl:127.0.0.1:6642"),
            "is not an address of this host",
        ),
        (
            "an ovn-controller started on a host that is not the topology's chassis",
            execute(
                A,
                TOPO,
                step(
                    "create",
                    serde_json::json!({"kind": "ovn_controller",
                "dir": format!("/run/netloom/{TOPO}/_ovn-controller")}),
                ),
            ),
            "is not a chassis of topology",
        ),
        (
            "an ovn-controller whose files go to another directory",
            controller(
                &format!("{d}"),
                &format!("{d}/canary"),
                &format!("{d}/canary"),
            ),
            "is not this topology's ovn-controller directory",
        ),
        (
            "an ovn-controller reading a file that never ends as its key",
            controller(
                &format!("/run/netloom/{TOPO}/_ovn-controller"),
                "/dev/zero",
                &format!("{d}/canary"),
            ),
            "/dev",
        ),
        (
            "an ovn-controller reading a directory as its CA",
            controller(
                &format!("/run/netloom/{TOPO}/_ovn-controller"),
                &format!("{d}/canary"),
                &format!("{d}"),
            ),
            "is not a file on this host",
        ),
        (
            "an OVN central's directory that is not the topology's removed",
            execute(
                A,
                TOPO,
                step(
                    "delete",
                    serde_json::json!({"kind": "ovn_central", "dir": d.to_string()}),
                ),
            ),
            "is not this topology's OVN directory",
        ),
        (
            "the host's own bridge deleted",
            execute(
                A,
                TOPO,
                step(
                    "delete",
                    serde_json::json!({"kind": "ovs_bridge",
                "name": "br-user", "datapath": "netdev"}),
                ),
            ),
            "not a name netloom gives",
        ),
        (
            "the host's loopback deleted as a segment",
            execute(
                A,
                TOPO,
                step(
                    "delete",
                    serde_json::json!({"kind": "segment",
                "netns": "", "name": "lo", "mac": null}),
                ),
            ),
            "not a name netloom gives",
        ),
        (
            "dnsmasq with a script run as root",
            execute(
                A,
                TOPO,
                step(
                    "create",
                    serde_json::json!({"kind": "dnsmasq",
                "netns": ns, "name": "dhcp-x",
                "args": [format!("--dhcp-script={d}/evil")]}),
                ),
            ),
            "dnsmasq option",
        ),
        (
            "nftables flushing every table",
            execute(
                A,
                TOPO,
                step(
                    "create",
                    serde_json::json!({"kind": "nft",
                "netns": ns, "ruleset": "{\"nftables\":[{\"flush\":{\"ruleset\":null}}]}"}),
                ),
            ),
            "nftables",
        ),
        (
            "a run directory elsewhere",
            execute(
                A,
                TOPO,
                step(
                    "delete",
                    serde_json::json!({"kind": "run_dir",
                "path": format!("{d}")}),
                ),
            ),
            "is not /run/netloom",
        ),
        (
            "a reservation file outside a DHCP server's directory",
            execute(
                A,
                TOPO,
                step(
                    "create",
                    serde_json::json!({"kind": "dhcp_host",
                "path": format!("{d}/canary"), "mac": "02:00:00:00:00:01", "ip": "10.0.0.1"}),
                ),
            ),
            "host directory",
        ),
        (
            "a capture in topology B's namespace",
            capture(A, TOPO, &format!("nl-{OTHER}.h1"), "lo", 600),
            "not topology",
        ),
        (
            "token A captures naming topology B",
            capture(A, OTHER, &format!("nl-{OTHER}.h1"), "lo", 600),
            "may not touch topology",
        ),
        (
            "a capture on a device of the host's own that is not the topology's",
            capture(A, TOPO, "", "lo", 600),
            "not a name netloom gives",
        ),
        (
            "a capture device that is a path",
            capture(A, TOPO, &ns, &format!("../../../..{d}/canary"), 600),
            "device name",
        ),
        (
            "a capture longer than its bound",
            capture(A, TOPO, &ns, "lo", 100_000),
            "a capture keeps",
        ),
        (
            "a mirror of the host's own bridge",
            capture_link(
                A,
                TOPO,
                serde_json::json!({"bridge": {"bridge": "br-user"}}),
            ),
            "not a name netloom gives",
        ),
        (
            "a mirror of another topology's bridge named like ours",
            capture_link(
                A,
                TOPO,
                serde_json::json!({"bridge": {"bridge": own("b9")}}),
            ),
            "not marked as topology",
        ),
        (
            "token B mirrors topology A's bridge",
            capture_link(
                B,
                TOPO,
                serde_json::json!({"bridge": {"bridge": own("b1")}}),
            ),
            "may not touch topology",
        ),
        (
            "a GRE tunnel of ours claimed as VXLAN",
            capture_link(
                A,
                TOPO,
                serde_json::json!({"tunnel": {"port": own("t1"), "local": "10.99.0.1",
                    "remote": "10.99.0.2", "kind": {"vxlan": {"vni": 7}}}}),
            ),
            "not a vxlan tunnel",
        ),
        (
            "the host's loopback as a tunnel",
            capture_link(A, TOPO, gre("lo", "127.0.0.1", "10.99.0.2", 7)),
            "not a name netloom gives",
        ),
        (
            "a nic in topology B's namespace, asked the new way",
            capture_link(
                A,
                TOPO,
                serde_json::json!({"nic": {"netns": format!("nl-{OTHER}.h1"), "device": "lo"}}),
            ),
            "not topology",
        ),
        (
            "an echo sent from topology B's namespace",
            echo(A, TOPO, &format!("nl-{OTHER}.h1"), 1),
            "not topology",
        ),
        (
            "token B sends an echo from topology A's namespace",
            echo(B, TOPO, &ns, 1),
            "may not touch topology",
        ),
        (
            "an echo waiting longer than its bound",
            echo(A, TOPO, &ns, 600),
            "waits 1..5 s",
        ),
        (
            "a target whose OVSDB is another socket",
            request(
                A,
                serde_json::json!({"execute": {"topology": TOPO,
                "target": {"name": "../../x", "agent": null, "emulated": true, "netns": "",
                           "ovsdb": format!("{d}/db.sock"), "datapath": "netdev"},
                "steps": []}}),
            ),
            "host name",
        ),
        (
            "a listener in topology B's namespace",
            listen(
                A,
                TOPO,
                serde_json::json!([[format!("nl-{OTHER}.h1"), 8080]]),
                5,
            ),
            "not topology",
        ),
        (
            "token B listens in topology A's namespace",
            listen(B, TOPO, serde_json::json!([[ns, 8080]]), 5),
            "may not touch topology",
        ),
        (
            "a listener in the host's own namespace",
            listen(A, TOPO, serde_json::json!([["", 8080]]), 5),
            "not topology",
        ),
        (
            "a listener's namespace that is a path",
            listen(
                A,
                TOPO,
                serde_json::json!([[format!("{ns}/../../../proc/1/ns/net"), 8080]]),
                5,
            ),
            "not topology",
        ),
        (
            "a listener on port 0",
            listen(A, TOPO, serde_json::json!([[ns, 8080], [ns, 0]]), 5),
            "port 0",
        ),
        (
            "more listeners than their bound",
            listen(
                A,
                TOPO,
                serde_json::json!(vec![(ns.clone(), 8080); 4097]),
                5,
            ),
            "at most 4096 listeners",
        ),
        (
            "listeners held longer than their bound",
            listen(A, TOPO, serde_json::json!([[ns, 8080]]), 100_000),
            "open 1..120 s",
        ),
        (
            "connection probes from topology B's namespace",
            connect(
                A,
                TOPO,
                serde_json::json!([[format!("nl-{OTHER}.h1"), ["127.0.0.1:22"]]]),
            ),
            "not topology",
        ),
        (
            "connection probes from the host's own namespace",
            connect(
                A,
                TOPO,
                serde_json::json!([["", [format!("127.0.0.1:{PORT}")]]]),
            ),
            "not topology",
        ),
        (
            "a connection probe's namespace that is a path",
            connect(
                A,
                TOPO,
                serde_json::json!([["../../proc/1/ns/net", ["127.0.0.1:22"]]]),
            ),
            "not topology",
        ),
        (
            "a connection probe to port 0",
            connect(A, TOPO, serde_json::json!([[ns, ["127.0.0.1:0"]]])),
            "port 0",
        ),
        (
            "more connection probes than their bound",
            connect(
                A,
                TOPO,
                serde_json::json!([[ns, vec!["127.0.0.1:22"; 65_537]]]),
            ),
            "65536 connections a request",
        ),
        (
            "more senders of connection probes than a topology has guests",
            connect(
                A,
                TOPO,
                serde_json::json!(vec![(ns.clone(), Vec::<String>::new()); 20_001]),
            ),
            "at most 20000 senders",
        ),
    ];
    // Tunnels of the foreign OVS (see the test): each claim differs from the
    // row in one way, or the row is no one tunnel of ours.
    let tunnels = [
        (
            "a tunnel of ours with a forged remote",
            "t1",
            "10.99.0.3",
            7,
            "remote_ip 10.99.0.2, not 10.99.0.3",
        ),
        (
            "a tunnel of ours with a forged key",
            "t1",
            "10.99.0.2",
            8,
            "key 7, not 8",
        ),
        (
            "a tunnel of ours to any remote with any key, which would keep every GRE packet",
            "t2",
            "10.99.0.2",
            7,
            "remote_ip flow",
        ),
        (
            "another topology's tunnel named like ours",
            "t9",
            "10.99.0.2",
            7,
            "not marked as topology",
        ),
        (
            "a port of ours that is no tunnel",
            "p1",
            "10.99.0.2",
            7,
            "not a tunnel",
        ),
        (
            "a tunnel of ours read on an address the host does not have",
            "t1",
            "10.99.0.2",
            7,
            "not an address of this host",
        ),
    ];
    v.extend(tunnels.map(|(what, port, remote, key, says)| {
        (
            what,
            capture_link(A, TOPO, gre(&own(port), "10.99.0.1", remote, key)),
            says,
        )
    }));
    v
}

fn run_attacks(t: &Transport, env: &Env) {
    let before = env.world();
    for (what, line, says) in attacks(&env.dir) {
        let answer = t.ask(&line);
        assert!(
            answer.contains("\"error\"") && answer.contains(says),
            "{what}: not refused as expected: {answer}"
        );
        assert!(
            !answer.contains("\"ok\":true"),
            "{what}: a step ran: {answer}"
        );
        assert!(
            !answer.contains("secret"),
            "{what}: the secret came back: {answer}"
        );
        assert!(env.alive(), "{what}: the agent died");
        assert_eq!(env.world(), before, "{what}: something changed");
    }

    // A client without a token is read no further than its first bytes.
    let read = env.agent_read();
    let big = format!(
        "{{\"token\":\"{}\",\"request\":\"{}\"}}",
        "x".repeat(40),
        "y".repeat(4 << 20)
    );
    let answer = t.ask(&big);
    // Over TCP the reset of a half-read connection may overtake the answer.
    assert!(
        answer.is_empty() || answer.contains("wrong token"),
        "{answer}"
    );
    let more = env.agent_read() - read;
    assert!(
        more < 64 << 10,
        "the agent read {more} bytes of an unauthenticated request"
    );

    // A flood of idle connections does not stop the agent; once they go, it answers.
    let idle: Vec<_> = (0..100).map(|_| t.connect()).collect();
    assert!(env.alive());
    drop(idle);
    let t0 = Instant::now();
    loop {
        let answer = t.ask(&request(A, serde_json::json!("facts")));
        if answer.contains("kernel_datapath") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no answer after the flood: {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(env.world(), before, "the flood changed something");
}

/// A listener the token may open: `World` sees it while its client holds
/// it, and it is gone soon after the client hangs up.
fn a_listener_lasts_as_long_as_its_client(t: &Transport, env: &Env) {
    use std::io::BufRead;
    let before = env.world();
    let mut c = t.connect();
    let ns = format!("nl-{TOPO}.h1");
    let line = listen(A, TOPO, serde_json::json!([[ns, 8080]]), 60);
    c.write_all(format!("{line}\n").as_bytes()).unwrap();
    c.flush().unwrap();
    let mut r = BufReader::new(c);
    let mut answer = String::new();
    r.read_line(&mut answer).unwrap();
    assert_eq!(answer.trim(), r#"{"listening":[null]}"#);
    assert!(env.world().listening.contains(":8080"), "{answer}");
    drop(r);
    let t0 = Instant::now();
    while env.world() != before && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(env.alive(), "the agent died when its client hung up");
    assert_eq!(env.world(), before, "the listener outlived its client");
}

#[test]
fn every_field_of_a_request_is_confined_to_the_tokens_topology() {
    if !netloom_e2e::root("every_field_of_a_request_is_confined_to_the_tokens_topology") {
        return;
    }
    let dir = std::env::temp_dir().join("netloom-e2e-atk");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    std::fs::write(dir.join("canary"), "secret\n").unwrap();
    std::fs::write(dir.join("victim"), "").unwrap();
    let _ = Command::new("ip")
        .args(["netns", "add", &format!("nl-{OTHER}.h1")])
        .status();
    // Topology A's own namespace: a listener not refused would show there.
    let _ = Command::new("ip")
        .args(["netns", "add", &format!("nl-{TOPO}.h1")])
        .status();
    let ovs = ForeignOvs::start(OTHER);
    // Another topology's bridge whose name looks like one of ours: only its mark tells.
    let look_alike = format!("nl{}b9", netloom_core::names::topology_tag(TOPO));
    ovs.vsctl(&[
        "--no-wait",
        "add-br",
        &look_alike,
        "--",
        "set",
        "bridge",
        &look_alike,
        &format!("external_ids:netloom-topology={OTHER}"),
    ]);
    // Topology A's bridge with tunnels of its own (one that names any remote
    // and any key), a port of A's that is no tunnel, and B's tunnel on B's
    // look-alike bridge: only the rows' marks and options tell them apart.
    let own = |s: &str| format!("nl{}{s}", netloom_core::names::topology_tag(TOPO));
    let mark = |t: &str| format!("external_ids:netloom-topology={t}");
    let tunnel = |bridge: &str, port: &str, topo: &str, remote: &str, key: &str| {
        ovs.vsctl(&[
            "--no-wait",
            "add-port",
            bridge,
            port,
            "--",
            "set",
            "interface",
            port,
            "type=gre",
            &format!("options:remote_ip={remote}"),
            &format!("options:key={key}"),
            "--",
            "set",
            "port",
            port,
            &mark(topo),
        ]);
    };
    ovs.vsctl(&[
        "--no-wait",
        "add-br",
        &own("b1"),
        "--",
        "set",
        "bridge",
        &own("b1"),
        &mark(TOPO),
    ]);
    tunnel(&own("b1"), &own("t1"), TOPO, "10.99.0.2", "7");
    tunnel(&own("b1"), &own("t2"), TOPO, "flow", "flow");
    tunnel(&look_alike, &own("t9"), OTHER, "10.99.0.2", "7");
    ovs.vsctl(&[
        "--no-wait",
        "add-port",
        &own("b1"),
        &own("p1"),
        "--",
        "set",
        "port",
        &own("p1"),
        &mark(TOPO),
    ]);
    let ns = netloom_e2e::Netns::new("atk");
    let token_file = dir.join("tokens");
    netloom_e2e::write_secret(&token_file, &format!("{A} {TOPO}\n{B} {OTHER}\n"));
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    netloom_e2e::write_secret(&key, &c.signing_key.serialize_pem());
    let ovsdb = format!(
        "--ovsdb=unix:{}",
        std::env::temp_dir()
            .join("netloom-e2e-userovs/db.sock")
            .display()
    );
    let start = |listen: String, tls: bool| {
        let pidfile = dir.join(format!("agent-{}.pid", tls as u8));
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns.name()])
            .arg(bin())
            .args(["agent", "--listen", &listen])
            .arg(format!("--token-file={}", token_file.display()))
            .arg(&ovsdb)
            .arg(format!("--pidfile={}", pidfile.display()));
        if tls {
            c.arg(format!("--tls-cert={}", cert.display()))
                .arg(format!("--tls-key={}", key.display()));
        }
        let agent = Agent(c.spawn().expect("agent"));
        let t0 = Instant::now();
        while !pidfile.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the agent did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let pid = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        (agent, pid)
    };

    let sock = dir.join("agent.sock");
    let (_unix, pid) = start(format!("unix:{}", sock.display()), false);
    let mode = std::fs::metadata(&sock).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o777
    });
    assert_eq!(mode.unwrap(), 0o600, "the agent's socket is for root only");
    let env = Env {
        dir: dir.clone(),
        ovs,
        agent_pid: pid,
        agent_ns: ns.name().to_string(),
    };
    run_attacks(&Transport::Unix(sock.clone()), &env);
    a_listener_lasts_as_long_as_its_client(&Transport::Unix(sock), &env);

    let (_tls, pid) = start(format!("tcp:127.0.0.1:{PORT}"), true);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(c.cert.der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let env = Env {
        agent_pid: pid,
        ..env
    };
    let tls = Transport::Tls(ns.name().to_string(), Arc::new(cfg));
    run_attacks(&tls, &env);
    a_listener_lasts_as_long_as_its_client(&tls, &env);

    // A token file others can read: the agent refuses to start.
    let open = dir.join("open-tokens");
    std::fs::write(&open, format!("{A} {TOPO}\n")).unwrap();
    let o = Command::new(bin())
        .args([
            "agent",
            "--listen",
            &format!("unix:{}/x.sock", dir.display()),
        ])
        .arg(format!("--token-file={}", open.display()))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("lets other users read"),
        "{o:?}"
    );
}
