//! Root test: the real-host path (`agent: https://...`), with namespaces as machines.
//!
//! Three test namespaces stand for machines on one network: `ctl` (the
//! controller) and `realA`, `realB` (real hosts), joined by a Linux bridge in
//! a fourth (`rhnet`) on 10.123.0.0/24. Each real host gets its "system" Open
//! vSwitch (a test-owned ovsdb-server + ovs-vswitchd, userspace datapath,
//! files in a temp dir, machine-facts.md) and `netloom agent` over TLS with
//! `--ovsdb` naming that database; realA's OVS also holds a bridge that is not
//! netloom's. From `ctl` the test runs plan → apply → verify → apply again →
//! status → destroy on a lab with one bridge per host, static vms on both, a
//! NAT router and a DHCP client on realA, the DHCP server on realB.
//!
//! Every "machine" has a /run of its own, kept in the test's directory, as a
//! separate machine would: the controller and each agent run in a private
//! mount namespace with that directory bound on /run, so none sees another's
//! run directory (the controller learns about a real host only through its
//! agent: facts, observation, steps, `verify`'s pings) and each agent keeps its
//! own files (the lab's NAT router records its ruleset there). What a plain
//! `ip netns exec` would get wrong is /run/netns: an agent's namespaces (bind
//! mounts there) would stay inside its mount namespace, invisible to the
//! residue checks. So the agents' /run carries a bind of the machine's
//! /run/netns, a shared mount whose peers see each other's mounts both ways:
//! the namespaces an agent makes appear under the machine's /run/netns, where
//! the test finds them and sweeps them. (The controller's mount namespace is
//! private: it sees none of them.) OVS daemons need no such care: they create
//! no namespaces, and their files live in the test's directory.
//!
//! The hosts' bridges are joined by a VXLAN tunnel across 10.123.0.0/24, so
//! VLAN 10 spans both hosts. With the userspace datapath (no OVS kernel module
//! here) a real host's VXLAN end is a kernel VXLAN device on a plain OVS port:
//! OVS's own tunnel ports would need the host's address on an OVS bridge.
//!
//! Every namespace and process is removed by guards, even when the test fails.

mod apply_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use apply_support::*;
use netloom_core::capture::{decode, pcap};
use netloom_core::trace::Layer;
use serde_json::Value;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const NAME: &str = "e2e-real";
const PORT: u16 = 7311;

/// `argv` inside namespace `ns`, network only (see the module doc).
fn in_net(ns: &str, argv: &[&str]) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net=/run/netns/{ns}")).arg("--").args(argv);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn must(c: &mut Command) -> Output {
    let o = c.output().expect("spawn");
    assert!(o.status.success(), "{c:?} failed:\n{}", text(&o));
    o
}

/// Wait for `cond`, generously: the machine may be busy.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Names of the links of a namespace, sorted.
fn links(ns: &str) -> Vec<String> {
    let o = must(Command::new("ip").args(["-n", ns, "-o", "link", "show"]));
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

/// A process the test started; killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory removed on drop (after the namespaces, whose processes use it, are gone).
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One emulated real host: its namespace, its OVS, its agent.
struct Machine {
    ns: netloom_e2e::Netns,
    ip: String,
    dir: PathBuf,
    agent: Option<Proc>,
}

impl Machine {
    /// A namespace plugged into `net`'s bridge at `ip`/24; a real host also gets its own OVS.
    fn new(suffix: &str, net: &netloom_e2e::Netns, ip: &str, root: &Path, real: bool) -> Machine {
        let ns = netloom_e2e::Netns::new(suffix);
        let port = format!("p-{suffix}");
        must(Command::new("ip").args([
            "-n",
            net.name(),
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns.name(),
        ]));
        must(Command::new("ip").args([
            "-n",
            net.name(),
            "link",
            "set",
            &port,
            "master",
            "br0",
            "up",
        ]));
        must(Command::new("ip").args([
            "-n",
            ns.name(),
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            "eth0",
        ]));
        must(Command::new("ip").args(["-n", ns.name(), "link", "set", "eth0", "up"]));
        let dir = root.join(suffix);
        std::fs::create_dir_all(&dir).unwrap();
        let m = Machine {
            ns,
            ip: ip.to_string(),
            dir,
            agent: None,
        };
        if real {
            m.start_ovs();
        }
        m
    }

    fn name(&self) -> &str {
        self.ns.name()
    }

    fn file(&self, f: &str) -> String {
        self.dir.join(f).to_str().unwrap().to_string()
    }

    /// The host's "system" Open vSwitch, as machine-facts.md runs one per emulated host.
    fn start_ovs(&self) {
        let d = |f: &str| self.file(f);
        must(Command::new("ovsdb-tool").args([
            "create",
            &d("conf.db"),
            "/usr/share/openvswitch/vswitch.ovsschema",
        ]));
        must(&mut in_net(
            self.name(),
            &[
                "ovsdb-server",
                &d("conf.db"),
                &format!("--remote=punix:{}", d("db.sock")),
                &format!("--pidfile={}", d("ovsdb.pid")),
                &format!("--unixctl={}", d("ovsdb.ctl")),
                &format!("--log-file={}", d("ovsdb.log")),
                "--detach",
            ],
        ));
        self.vsctl(&["--no-wait", "init"]);
        must(&mut in_net(
            self.name(),
            &[
                "ovs-vswitchd",
                &format!("unix:{}", d("db.sock")),
                &format!("--pidfile={}", d("vswitchd.pid")),
                &format!("--unixctl={}", d("vswitchd.ctl")),
                &format!("--log-file={}", d("vswitchd.log")),
                "--detach",
            ],
        ));
    }

    fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}", self.file("db.sock"));
        let mut argv = vec!["ovs-vsctl", "--timeout=30", &db];
        argv.extend_from_slice(args);
        String::from_utf8_lossy(&must(&mut in_net(self.name(), &argv)).stdout).into_owned()
    }

    /// `netloom agent` on this host's address, TLS, its OVS named by `--ovsdb`,
    /// with a /run of its own that still shares /run/netns (see the module doc).
    fn start_agent(&mut self, cert: &str, key: &str, token: &str) {
        let pidfile = self.file("agent.pid");
        let log = std::fs::File::create(self.file("agent.log")).unwrap();
        let run = self.file("run");
        std::fs::create_dir_all(format!("{run}/netns")).unwrap();
        let child = in_net(
            self.name(),
            &[
                "unshare",
                "--mount",
                "--propagation",
                "unchanged",
                "--",
                "sh",
                "-c",
                // /run/netns is a shared mount: its bind, carried into the new
                // /run, stays a peer of the machine's, both ways. Recursive, so
                // that an agent started again sees the namespaces already there.
                r#"mount --rbind /run/netns "$0/netns" && mount --rbind "$0" /run && shift && exec "$@""#,
                &run,
                "--",
                bin().to_str().unwrap(),
                "agent",
                "--listen",
                &format!("tcp:{}:{PORT}", self.ip),
                "--token-file",
                token,
                "--tls-cert",
                cert,
                "--tls-key",
                key,
                "--ovsdb",
                &format!("unix:{}", self.file("db.sock")),
                "--pidfile",
                &pidfile,
            ],
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("agent");
        self.agent = Some(Proc(child));
        wait_for("the agent listens", || Path::new(&pidfile).exists());
    }

    /// The names of the Mirror rows of its OVSDB.
    fn mirrors(&self) -> String {
        self.vsctl(&["--columns=name", "--bare", "list", "mirror"])
            .trim()
            .to_string()
    }

    /// Bridge and port rows marked as the topology's.
    fn our_rows(&self) -> String {
        let mark = format!("external_ids:netloom-topology={NAME}");
        self.vsctl(&["--columns=name", "find", "bridge", &mark])
            + &self.vsctl(&["--columns=name", "find", "port", &mark])
    }
}

/// `netloom capture ARGS -w OUT` from the controller, pinging with `ping`
/// until it ends by itself (`-c`) or `done` says so from what it wrote; the
/// frames written.
fn capture_while(
    command: &dyn Fn(&[&str]) -> Command,
    args: &[&str],
    out: &Path,
    ping: &dyn Fn(),
    done: &dyn Fn(&[Vec<Layer>]) -> bool,
) -> Vec<Vec<Layer>> {
    let _ = std::fs::remove_file(out);
    let mut argv = vec!["capture"];
    argv.extend_from_slice(args);
    argv.extend(["-w", out.to_str().unwrap()]);
    let mut c = command(&argv)
        .stderr(Stdio::piped())
        .spawn()
        .expect("netloom capture");
    let t0 = Instant::now();
    // The agent may open its socket after the file's header is out: ping until it ends.
    while c.try_wait().unwrap().is_none() && !done(&frames_in(out)) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the capture never ended"
        );
        ping();
    }
    if c.try_wait().unwrap().is_none() {
        must(Command::new("kill").args(["-INT", &c.id().to_string()]));
    }
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "netloom {argv:?}:\n{}", text(&o));
    frames_in(out)
}

/// The whole frames of a pcap file written so far, decoded.
fn frames_in(path: &Path) -> Vec<Vec<Layer>> {
    let file = std::fs::read(path).unwrap_or_default();
    pcap::Reader::new(&file)
        .map(|r| r.map_while(Result::ok).map(|p| decode(p.data)).collect())
        .unwrap_or_default()
}

fn vids(f: &[Layer]) -> Vec<u16> {
    f.iter()
        .filter_map(|l| match l {
            Layer::Dot1q { vid, .. } => Some(*vid),
            _ => None,
        })
        .collect()
}

/// Through hosta's agent: the tunnel, read on hosta's underlay NIC, shows
/// vm1's VLAN 10 inside VXLAN 100 between the hosts' addresses and nothing
/// else of that NIC (not even the agent's own TLS); the whole bridge shows
/// both VLANs, tagged, through a mirror that is gone once the capture ends.
fn captures_through_hostas_agent(
    command: &dyn Fn(&[&str]) -> Command,
    lab: &Lab,
    root: &Path,
    a: &Machine,
) {
    let ping = |vm: &str, to: &str| {
        let ns = format!("nl-{NAME}.hosta.{vm}");
        let _ = Command::new("ip")
            .args(["netns", "exec", &ns, "ping", "-c", "1", "-W", "1", "-q", to])
            .stdout(Stdio::null())
            .status();
    };
    let out = root.join("tunnel.pcap");
    let args = [
        lab.path(),
        "--link",
        "tunnels[0]",
        "-c",
        "6",
        "--duration",
        "60",
    ];
    let frames = capture_while(command, &args, &out, &|| ping("vm1", "10.0.0.4"), &|_| {
        false
    });
    assert_eq!(frames.len(), 6, "{frames:#?}");
    let ends: [std::net::Ipv4Addr; 2] = [
        "10.123.0.11".parse().unwrap(),
        "10.123.0.12".parse().unwrap(),
    ];
    for f in &frames {
        let Some(Layer::Ipv4 { src, dst, .. }) = f.get(1) else {
            panic!("{f:?}")
        };
        assert!(ends == [*src, *dst] || ends == [*dst, *src], "{f:?}");
        assert!(matches!(f.get(3), Some(Layer::Vxlan { vni: 100 })), "{f:?}");
    }
    let icmp: Vec<_> = frames
        .iter()
        .filter(|f| f.iter().any(|l| matches!(l, Layer::Icmp { .. })))
        .collect();
    assert!(!icmp.is_empty(), "{frames:#?}");
    for f in icmp {
        assert_eq!(vids(f), [10], "vm1's VLAN inside the tunnel: {f:?}");
    }

    let peer = mirror_peer(&lab.text, "hosta/br-in");
    let out = root.join("bridge.pcap");
    let args = [lab.path(), "--link", "hosta/br-in", "--duration", "60"];
    let both = |fs: &[Vec<Layer>]| {
        let seen: Vec<u16> = fs.iter().flat_map(|f| vids(f)).collect();
        seen.contains(&10) && seen.contains(&20)
    };
    let pings = || {
        ping("vm1", "10.0.0.2");
        ping("vm3", "10.0.20.254");
    };
    let done = |fs: &[Vec<Layer>]| {
        let yes = both(fs);
        assert!(
            !yes || links(a.name()).contains(&peer),
            "no mirror veth while it runs"
        );
        yes
    };
    let frames = capture_while(command, &args, &out, &pings, &done);
    assert!(both(&frames), "{frames:#?}");
    wait_for("the mirror goes", || {
        a.mirrors().is_empty() && !links(a.name()).contains(&peer)
    });
}

#[test]
fn real_hosts_full_cycle() {
    if !netloom_e2e::root("real_hosts_full_cycle") {
        return;
    }
    let root = std::env::temp_dir().join("netloom-e2e-realhosts");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let _dir = Dir(root.clone());
    let net = netloom_e2e::Netns::new("rhnet");
    must(Command::new("ip").args(["-n", net.name(), "link", "add", "br0", "type", "bridge"]));
    must(Command::new("ip").args(["-n", net.name(), "link", "set", "br0", "up"]));
    let ctl = Machine::new("ctl", &net, "10.123.0.1", &root, false);
    let mut a = Machine::new("realA", &net, "10.123.0.11", &root, true);
    let mut b = Machine::new("realB", &net, "10.123.0.12", &root, true);
    // A bridge of the machine's own, not netloom's.
    a.vsctl(&[
        "add-br",
        "br-user",
        "--",
        "set",
        "bridge",
        "br-user",
        "datapath_type=netdev",
    ]);

    // One certificate per agent, for its address; the controller trusts both.
    let token = root.join("token");
    netloom_e2e::write_secret(&token, &format!("{TOKEN} {NAME}\n"));
    let mut trust = String::new();
    for m in [&mut a, &mut b] {
        let c = rcgen::generate_simple_self_signed(vec![m.ip.clone()]).unwrap();
        std::fs::write(m.file("cert.pem"), c.cert.pem()).unwrap();
        std::fs::write(m.file("key.pem"), c.signing_key.serialize_pem()).unwrap();
        trust.push_str(&c.cert.pem());
        let (cert, key) = (m.file("cert.pem"), m.file("key.pem"));
        m.start_agent(&cert, &key, token.to_str().unwrap());
    }
    let ca = root.join("trust.pem");
    std::fs::write(&ca, trust).unwrap();
    let ca = ca.to_str().unwrap().to_string();

    let mut lab = Lab::from_text(
        NAME,
        format!(
            "version: 1
name: {NAME}
underlay: 10.123.0.0/24
hosts:
  - name: hosta
    underlay_ip: 10.123.0.11
    agent: https://10.123.0.11:{PORT}
    bridges:
      - name: br-in
    vms:
      - name: vm1
        nics: [{{bridge: br-in, vlan: 10, ip: 10.0.0.1/24}}]
      - name: vm2
        nics: [{{bridge: br-in, vlan: 10, ip: 10.0.0.2/24}}]
      - name: vm3
        nics: [{{bridge: br-in, vlan: 20, ip: 10.0.20.3/24}}]
        gateway: 10.0.20.254
      - name: vm6
        nics: [{{bridge: br-in, vlan: 10, ip: dhcp}}]
    routers:
      - name: r1
        interfaces:
          - {{name: qr0, bridge: br-in, vlan: 10, ip: 10.0.0.254/24}}
          - {{name: qr1, bridge: br-in, vlan: 20, ip: 10.0.20.254/24}}
        snat:
          - {{source: 10.0.20.0/24, out: qr0}}
  - name: hostb
    underlay_ip: 10.123.0.12
    agent: https://10.123.0.12:{PORT}
    bridges:
      - name: br-in
    vms:
      - name: vm4
        nics: [{{bridge: br-in, vlan: 10, ip: 10.0.0.4/24}}]
      - name: vm5
        nics: [{{bridge: br-in, ip: 10.0.0.5/24}}]
    dhcp:
      - {{name: d10, bridge: br-in, vlan: 10, ip: 10.0.0.10/24, range: [10.0.0.100, 10.0.0.120]}}
tunnels:
  - {{type: vxlan, between: [hosta/br-in, hostb/br-in], vni: 100}}
"
        ),
    );
    let agents = agents_file(
        &root,
        &[
            (&format!("https://10.123.0.11:{PORT}"), TOKEN, Some(&ca)),
            (&format!("https://10.123.0.12:{PORT}"), TOKEN, Some(&ca)),
        ],
    );
    let env = [("NETLOOM_AGENTS", agents.to_str().unwrap())];
    // The controller's machine has its own /run (kept between commands in the
    // test's directory): it sees none of the real hosts' namespaces or files.
    let ctl_run = ctl.file("run");
    std::fs::create_dir_all(&ctl_run).unwrap();
    let command = |args: &[&str]| -> Command {
        let bin = bin();
        let mut argv = vec![
            "unshare",
            "--mount",
            "--",
            "sh",
            "-c",
            r#"mount --bind "$0" /run && shift && exec "$@""#,
            &ctl_run,
            "--",
            bin.to_str().unwrap(),
        ];
        argv.extend_from_slice(args);
        let mut c = in_net(ctl.name(), &argv);
        c.envs(env);
        c
    };
    let controller = |args: &[&str]| -> Output { command(args).output().expect("netloom") };
    let ok = |args: &[&str]| -> String {
        let o = controller(args);
        assert!(o.status.success(), "netloom {args:?}:\n{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let json = |args: &[&str]| -> Value {
        let out = ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
    };
    let before = [
        (a.name().to_string(), links(a.name())),
        (b.name().to_string(), links(b.name())),
    ];
    let user_bridges = a.vsctl(&["list-br"]);

    // No OVS kernel module here: both hosts get the userspace datapath, at the OVSDB their agent names.
    let plan = json(&["plan", "--json", lab.path()]);
    for (host, m) in [("hosta", &a), ("hostb", &b)] {
        let t = plan["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"]["name"] == host)
            .unwrap_or_else(|| panic!("no target {host}: {plan}"));
        assert_eq!(t["target"]["emulated"], false, "{t}");
        assert_eq!(t["target"]["datapath"], "netdev", "{t}");
        assert_eq!(t["target"]["ovsdb"], m.file("db.sock"), "{t}");
        assert!(!t["steps"].as_array().unwrap().is_empty(), "{t}");
    }

    let out = ok(&["apply", lab.path()]);
    assert!(out.contains("applied"), "{out}");
    for m in [&a, &b] {
        assert!(!m.our_rows().trim().is_empty(), "no rows in {}", m.name());
    }

    let v = json(&["verify", "--json", lab.path()]);
    let reach = json(&["reach", "--json", lab.path()]);
    assert_eq!(v["report"]["source"], "real", "{v}");
    assert_eq!(
        v["report"]["results"].as_array().unwrap().len(),
        reach["results"].as_array().unwrap().len(),
        "{v}"
    );
    assert_eq!(v["disagreements"], Value::Array(vec![]), "{v}");
    let oks: Vec<(String, String)> = v["report"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ok"] == true)
        .map(|r| {
            (
                r["from"].as_str().unwrap().into(),
                r["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    // VLAN 10 stretches across the tunnel; the untagged port stays apart; VLAN 20
    // reaches VLAN 10 through the router's masquerade only (no route back).
    let pair = |from: &str, to: &str| oks.contains(&(from.to_string(), to.to_string()));
    assert!(
        pair("vm1", "10.0.0.2") && pair("vm1", "10.0.0.4") && pair("vm4", "10.0.0.2"),
        "{oks:?}"
    );
    assert!(!pair("vm1", "10.0.0.5"), "{oks:?}");
    assert!(
        pair("vm3", "10.0.0.4") && !pair("vm1", "10.0.20.3"),
        "{oks:?}"
    );
    // vm6's lease came from hostb's server across the tunnel; the agent found it.
    assert!(
        pair("vm6", "10.0.0.10") && pair("vm1", "10.0.0.100"),
        "{oks:?}"
    );

    // The tunnel drops, never fragments, what exceeds the 1500-byte underlay
    // (VXLAN's 50 bytes and the VLAN tag's 4), as the simulator predicts.
    let vm1 = format!("nl-{NAME}.hosta.vm1");
    let vm1_to_vm4 = ["simulate", lab.path(), "--from", "vm1", "--to", "10.0.0.4"];
    for (ip_len, fits) in [(1446, true), (1447, false)] {
        let sim = ok(&[&vm1_to_vm4[..], &["--size", &ip_len.to_string()]].concat());
        assert_eq!(sim.contains("Final: delivered"), fits, "{ip_len}: {sim}");
        let payload = (ip_len - 28).to_string();
        let o = Command::new("ip")
            .args([
                "netns", "exec", &vm1, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-M", "do", "-s",
                &payload, "-q", "-n", "10.0.0.4",
            ])
            .output()
            .unwrap();
        assert_eq!(
            o.status.success(),
            fits,
            "IPv4 length {ip_len} across the tunnel:\n{}",
            text(&o)
        );
    }

    // Again: nothing to do.
    let again = json(&["plan", "--json", lab.path()]);
    assert!(steps(&again).is_empty(), "{again}");
    let out = ok(&["apply", lab.path()]);
    assert!(out.contains("applied 0 steps"), "{out}");

    let status = json(&["status", "--json", lab.path()]);
    let vm6 = &status["hosts"][0]["vms"][3];
    assert_eq!(vm6["name"], "vm6", "{status}");
    assert_eq!(vm6["interfaces"][0]["lease"], "10.0.0.100/24", "{status}");
    for h in status["hosts"].as_array().unwrap() {
        assert_eq!(h["emulated"], false, "{h}");
        // A real host is its agent's own namespace, not one of netloom's.
        assert_eq!(
            (&h["netns"], &h["present"]),
            (&Value::from(""), &Value::from(true)),
            "{h}"
        );
        for vm in h["vms"].as_array().unwrap() {
            let ns = vm["netns"].as_str().unwrap();
            assert!(ns.starts_with(&format!("nl-{NAME}.")), "{vm}");
            assert_eq!(vm["present"], true, "{vm}");
        }
    }
    assert_eq!(status["drift"], Value::Array(vec![]), "{status}");

    captures_through_hostas_agent(&command, &lab, &root, &a);
    // The real path through the agents: both hosts' agents capture the links
    // of the predicted path, hosta's sends the probe; what they saw is what
    // was predicted, the tunnel included.
    let path = json(&[&vm1_to_vm4[..], &["--real", "--json"]].concat());
    assert_eq!(path["real"]["first_difference"], Value::Null, "{path:#}");
    let seen: Vec<&str> = path["real"]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["seen_on"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    for link in ["vm1:eth0", "tunnels[0]", "vm4:eth0"] {
        assert!(seen.contains(&link), "{link} saw nothing: {path:#}");
    }
    // A tcp probe would need a listener on this machine: refused, with the reason.
    let o = controller(&[&vm1_to_vm4[..], &["--proto", "tcp:22", "--real"]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("measured with icmp probes"),
        "{}",
        text(&o)
    );
    // The agent ends on SIGTERM once its running capture removed its mirror.
    let links_then = links(a.name());
    let mirrored = command(&["capture", lab.path(), "--link", "hosta/br-in"])
        .stdout(Stdio::null())
        .spawn()
        .map(Proc)
        .unwrap();
    wait_for("the mirror is made", || !a.mirrors().is_empty());
    let mut agent = a.agent.take().unwrap();
    must(Command::new("kill").args(["-TERM", &agent.0.id().to_string()]));
    let st = agent.0.wait().unwrap();
    assert_eq!(st.code(), Some(128 + 15), "{st}");
    assert_eq!(a.mirrors(), "", "the mirror outlived its agent");
    assert_eq!(links(a.name()), links_then, "a veth outlived its agent");
    drop(mirrored);
    std::fs::remove_file(a.file("agent.pid")).unwrap();
    let (cert, key) = (a.file("cert.pem"), a.file("key.pem"));
    a.start_agent(&cert, &key, token.to_str().unwrap());

    let out = ok(&["destroy", lab.path()]);
    assert!(out.contains("destroyed"), "{out}");
    let prefix = format!("nl-{NAME}.");
    let left: Vec<String> = netloom_e2e::netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    assert!(our_processes(NAME).is_empty());
    assert!(
        !Path::new(&format!("{ctl_run}/netloom/{NAME}")).exists(),
        "the controller's run dir is left"
    );
    for m in [&a, &b] {
        assert_eq!(m.our_rows().trim(), "", "OVS rows left in {}", m.name());
    }
    assert_eq!(
        a.vsctl(&["list-br"]),
        user_bridges,
        "the machine's own bridge changed"
    );
    for (ns, l) in &before {
        assert_eq!(&links(ns), l, "the interfaces of {ns} changed");
    }
    // GRE cannot end on a userspace-datapath real host: the plan says so by name.
    let gre = replace_once(
        &lab.text,
        "{type: vxlan, between: [hosta/br-in, hostb/br-in], vni: 100}",
        "{type: gre, between: [hosta/br-in, hostb/br-in], key: 100}",
    );
    lab.rewrite(gre);
    let o = controller(&["plan", lab.path()]);
    assert!(
        !o.status.success()
            && text(&o).contains("tunnels[0]: a GRE tunnel cannot end on real host hosta"),
        "{}",
        text(&o)
    );

    // The agents are still serving after all that.
    for m in [&mut a, &mut b] {
        let agent = m.agent.as_mut().unwrap();
        assert!(
            agent.0.try_wait().unwrap().is_none(),
            "agent of {} exited",
            m.name()
        );
    }
}
