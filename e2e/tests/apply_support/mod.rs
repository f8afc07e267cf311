//! Shared by the `apply_*` root tests: run the real `netloom` binary on an
//! example lab under a test-only topology name, and check for residue.
//!
//! Every lab is renamed `e2e-...`, so its namespaces start with
//! `nl-e2e-` (the harness's sweep prefix) and can never be a user's.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The netloom binary next to this test's directory (built by `cargo test --workspace`;
/// built here when missing, e.g. under `cargo test -p netloom-e2e`).
pub fn bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .to_path_buf();
    let b = dir.join("netloom");
    if !b.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-p", "netloom", "--bin", "netloom"])
            .status()
            .expect("cargo build");
        assert!(st.success(), "cannot build netloom");
    }
    b
}

/// Run `netloom ARGS...` (argv, no shell), with extra environment.
pub fn netloom_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run netloom")
}

/// The controller's agents file in `dir` (for `NETLOOM_AGENTS`): each agent
/// `(url, token, certificate)`, its token in a file of its own.
pub fn agents_file(dir: &Path, agents: &[(&str, &str, Option<&str>)]) -> PathBuf {
    let mut lines = String::new();
    for (i, (url, token, cert)) in agents.iter().enumerate() {
        let tf = dir.join(format!("controller-{i}.token"));
        netloom_e2e::write_secret(&tf, &format!("{token}\n"));
        lines.push_str(&format!("{url} {} {}\n", tf.display(), cert.unwrap_or("")));
    }
    let f = dir.join("agents");
    netloom_e2e::write_secret(&f, &lines);
    f
}

pub fn netloom(args: &[&str]) -> Output {
    netloom_env(args, &[])
}

/// Run and require success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let o = netloom(args);
    assert!(
        o.status.success(),
        "netloom {} failed ({}):\n{}\n{}",
        args.join(" "),
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// An example lab under a test name, written to a temp file; destroyed and
/// swept when dropped, even when the test fails.
pub struct Lab {
    pub name: String,
    pub file: PathBuf,
    pub text: String,
}

impl Lab {
    pub fn new(example: &str, name: &str) -> Lab {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
        let text = std::fs::read_to_string(format!("{root}{example}")).expect("example");
        let text = text
            .lines()
            .map(|l| {
                if l.starts_with("name: ") {
                    format!("name: {name}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        Lab::from_text(name, text)
    }

    /// A lab of the given text under `name`, written to a temp file; swept first.
    pub fn from_text(name: &str, text: String) -> Lab {
        let file = std::env::temp_dir().join(format!("netloom-{name}.yaml"));
        std::fs::write(&file, &text).unwrap();
        let lab = Lab {
            name: name.to_string(),
            file,
            text,
        };
        lab.sweep();
        lab
    }

    pub fn path(&self) -> &str {
        self.file.to_str().unwrap()
    }

    /// Replace the file's text.
    pub fn rewrite(&mut self, text: String) {
        std::fs::write(&self.file, &text).unwrap();
        self.text = text;
    }

    pub fn plan(&self) -> Value {
        serde_json::from_str(&ok(&["plan", "--json", self.path()])).expect("plan json")
    }

    /// Every step of a plan as `action key`.
    pub fn plan_steps(&self) -> Vec<String> {
        steps(&self.plan())
    }

    /// `netloom verify -v --json`: the disagreements, after checking the
    /// report's shape, and that `-v` printed each of its pairs once to stderr
    /// (stdout holds only the report) with a count going up to the total.
    pub fn verify(&self) -> Vec<Value> {
        let o = netloom(&["verify", "-v", "--json", self.path()]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "verify output: {e}\n{}\n{stderr}",
                String::from_utf8_lossy(&o.stdout),
            )
        });
        assert_eq!(v["report"]["source"], "real");
        assert_eq!(v["report"]["topology"], self.name.as_str());
        let results = v["report"]["results"].as_array().unwrap();
        assert!(!results.is_empty());
        let ports = v["report"]["ports"].as_array().cloned().unwrap_or_default();

        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(" -> ") && l.ends_with(']'))
            .collect();
        let total = results.len() + ports.len();
        assert_eq!(lines.len(), total, "one progress line per pair:\n{stderr}");
        for (i, l) in lines.iter().enumerate() {
            assert!(l.ends_with(&format!(" [{}/{total}]", i + 1)), "{l}");
        }
        // `vm1 -> 10.0.10.2 (vm3): reply 0.12 ms [3/12]`, or `no reply in 2001 ms`;
        // `internet -> 198.51.100.2 (node1/r1): tcp:8080 connected [13/15]`.
        for r in results.iter().chain(&ports) {
            let head = format!(
                "{} -> {} (",
                r["from"].as_str().unwrap(),
                r["to"].as_str().unwrap()
            );
            let verdict = match (r["proto"].as_str(), r["ok"] == true) {
                (Some("icmp"), true) => "): reply ".to_string(),
                (Some("icmp"), false) => "): no reply ".to_string(),
                (Some(p), true) => format!("): {p} connected"),
                (Some(p), false) => format!("): {p} {}", r["detail"].as_str().unwrap()),
                (None, _) => panic!("a result without proto: {r}"),
            };
            let n = lines
                .iter()
                .filter(|l| l.starts_with(&head) && l.contains(&verdict))
                .count();
            assert_eq!(n, 1, "progress lines for {r}:\n{stderr}");
        }
        v["disagreements"].as_array().cloned().unwrap_or_default()
    }

    /// Remove whatever a failed test left: netloom's own destroy, then a sweep by prefix.
    pub fn sweep(&self) {
        let _ = netloom(&["destroy", "--name", &self.name]);
        for pid in our_processes(&self.name) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        netloom_e2e::sweep(&format!("nl-{}.", self.name));
        let _ = std::fs::remove_dir_all(format!("/run/netloom/{}", self.name));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.sweep();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// `action key` of every step of a plan (JSON).
pub fn steps(plan: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for t in plan["targets"].as_array().unwrap() {
        for s in t["steps"].as_array().unwrap() {
            out.push(format!(
                "{} {}",
                s["action"].as_str().unwrap(),
                resource_key(&s["resource"])
            ));
        }
    }
    out
}

fn resource_key(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    match r["kind"].as_str().unwrap() {
        "netns" => format!("netns {}", s("name")),
        "veth" | "segment" => format!("link {}/{}", s("netns"), s("name")),
        "ovs_port" => format!("ovs-port {} tag={}", s("name"), r["tag"]),
        "addr" => format!("addr {}/{}/{}", s("netns"), s("dev"), s("cidr")),
        "dhcp_host" => format!("dhcp_host {} {}", s("path"), s("ip")),
        k => format!(
            "{k} {}",
            r.get("netns")
                .or(r.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
    }
}

/// `kill -9` process `pid`, and wait until it is dead (gone, or a zombie:
/// nothing here reaps it), as an observation after it must see.
pub fn kill_dead(pid: &str) {
    let stat = format!("/proc/{pid}/stat");
    // State and start time, after the command's name: another process that
    // gets the pid meanwhile starts later.
    let read = || -> Option<(String, String)> {
        let s = std::fs::read_to_string(&stat).ok()?;
        let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
        Some((f.first()?.to_string(), f.get(19)?.to_string()))
    };
    let (_, started) = read().unwrap_or_else(|| panic!("no process {pid}"));
    let o = netloom_e2e::try_run(&["kill", "-9", pid]);
    assert!(o.status.success(), "{pid}: {o:?}");
    let t0 = std::time::Instant::now();
    while read().is_some_and(|(state, at)| state != "Z" && at == started) {
        assert!(t0.elapsed().as_secs() < 30, "{pid} still runs");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// [`kill_dead`] the process of `pidfile`.
pub fn kill_dead_of(pidfile: &str) {
    let pid = std::fs::read_to_string(pidfile).unwrap_or_else(|e| panic!("{pidfile}: {e}"));
    kill_dead(pid.trim());
}

/// Live (non-zombie) processes whose command line mentions the topology's run dir.
pub fn our_processes(name: &str) -> Vec<i32> {
    let needle = format!("/run/netloom/{name}/");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            continue;
        }
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(&needle) {
            out.push(pid);
        }
    }
    out
}

/// The machine's own interfaces (root namespace), to compare before/after.
pub fn root_links() -> Vec<String> {
    let o = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
        .collect();
    v.sort();
    v
}

/// Assert that no namespace of topology `name` has IPv6 (no address, not even
/// a link-local one): topologies are IPv4, and IPv6's own chatter flooded big sandboxes.
pub fn assert_no_ipv6(name: &str) {
    let prefix = format!("nl-{name}.");
    let nss: Vec<String> = netloom_e2e::netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(!nss.is_empty(), "no namespace of {name}");
    for ns in nss {
        let o = Command::new("ip")
            .args(["-n", &ns, "-6", "-o", "addr", "show"])
            .output()
            .unwrap();
        assert!(o.status.success(), "ip -n {ns}: {o:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.trim().is_empty(), "IPv6 in {ns}: {out}");
    }
}

/// Assert nothing of topology `name` is left: namespaces, processes, files.
pub fn assert_no_residue(name: &str, links_before: &[String]) {
    let prefix = format!("nl-{name}.");
    let left: Vec<String> = netloom_e2e::netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    // Namespace deletion is asynchronous: give processes a moment to be gone.
    let mut procs = our_processes(name);
    for _ in 0..50 {
        if procs.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        procs = our_processes(name);
    }
    assert!(procs.is_empty(), "processes left: {procs:?}");
    assert!(
        !std::path::Path::new(&format!("/run/netloom/{name}")).exists(),
        "run dir left"
    );
    assert_eq!(
        root_links(),
        links_before,
        "the machine's own interfaces changed"
    );
}

/// The whole cycle the issue asks for, on one lab. `change` edits the file
/// (a VLAN tag and a new vm) and returns the steps the next plan must hold.
pub fn full_cycle(example: &str, name: &str, change: impl Fn(&str) -> (String, Vec<String>)) {
    if !netloom_e2e::root(name) {
        return;
    }
    let links_before = root_links();
    let mut lab = Lab::new(example, name);

    let first = ok(&["apply", lab.path()]);
    assert!(first.contains("applied"), "{first}");
    assert_no_ipv6(name);
    let d = lab.verify();
    assert!(
        d.is_empty(),
        "verify disagrees with reach after the first apply: {d:#?}"
    );

    // Apply again: nothing to do.
    assert!(
        lab.plan_steps().is_empty(),
        "second plan not empty: {:#?}",
        lab.plan_steps()
    );
    let again = ok(&["apply", lab.path()]);
    assert!(again.contains("applied 0 steps"), "{again}");

    // A VLAN tag change and a new vm: only that is planned and applied.
    let (text, expected) = change(&lab.text);
    lab.rewrite(text);
    let planned = lab.plan_steps();
    for e in &expected {
        assert!(
            planned.iter().any(|p| p.contains(e)),
            "expected a step containing {e:?} in {planned:#?}"
        );
    }
    assert_eq!(
        planned.len(),
        expected.len(),
        "plan holds more than the change: {planned:#?}"
    );
    ok(&["apply", lab.path()]);
    assert!(lab.plan_steps().is_empty());
    let d = lab.verify();
    assert!(
        d.is_empty(),
        "verify disagrees with reach after the change: {d:#?}"
    );

    let out = ok(&["destroy", lab.path()]);
    assert!(out.contains("destroyed"), "{out}");
    assert_no_residue(name, &links_before);
}

/// The steps a new single-nic vm named `vm` on host `host` adds; `cidr` `None` is `ip: dhcp`
/// (then its server gets a reservation too).
pub fn new_vm_steps(name: &str, host: &str, vm: &str, cidr: Option<&str>) -> Vec<String> {
    let ns = format!("nl-{name}.{host}.{vm}");
    let mut out = vec![
        format!("create netns {ns}"),
        format!("create sysctl {ns}"),
        format!("create link nl-{name}.{host}/"),
        "create ovs-port".to_string(),
        format!("create tx_offload_off {ns}"),
        match cidr {
            Some(c) => format!("create addr {ns}/eth0/{c}"),
            None => format!("create dhcp_client {ns}"),
        },
    ];
    if cidr.is_none() {
        out.push(format!("create dhcp_host /run/netloom/{name}/"));
    }
    out
}

/// Insert `text` before the first line equal to `marker` (a test edit of a lab file).
pub fn insert_before(file: &str, marker: &str, text: &str) -> String {
    let at = file
        .find(&format!("\n{marker}\n"))
        .unwrap_or_else(|| panic!("no line {marker:?}"))
        + 1;
    format!("{}{}{}", &file[..at], text, &file[at..])
}

/// Replace exactly one occurrence.
pub fn replace_once(file: &str, from: &str, to: &str) -> String {
    assert_eq!(file.matches(from).count(), 1, "{from:?} must occur once");
    file.replacen(from, to, 1)
}

/// An Open vSwitch database that is not netloom's (a stand-in for a machine's
/// own OVS), with one bridge; stopped and removed on drop.
pub struct ForeignOvs {
    dir: PathBuf,
    _ns: netloom_e2e::Netns,
}

impl ForeignOvs {
    /// Its bridge is marked with `topology` like netloom's own, to prove that
    /// ownership is also where a row lives, not only its mark.
    pub fn start(topology: &str) -> ForeignOvs {
        let ns = netloom_e2e::Netns::new("userovs");
        let dir = std::env::temp_dir().join("netloom-e2e-userovs");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_str().unwrap();
        netloom_e2e::run(&[
            "ovsdb-tool",
            "create",
            &format!("{d}/conf.db"),
            "/usr/share/openvswitch/vswitch.ovsschema",
        ]);
        let out = ns.exec(&[
            "ovsdb-server",
            &format!("{d}/conf.db"),
            &format!("--remote=punix:{d}/db.sock"),
            &format!("--pidfile={d}/ovsdb.pid"),
            &format!("--unixctl={d}/ovsdb.ctl"),
            &format!("--log-file={d}/ovsdb.log"),
            "--detach",
        ]);
        assert!(out.status.success(), "{out:?}");
        let f = ForeignOvs { dir, _ns: ns };
        f.vsctl(&["--no-wait", "init"]);
        f.vsctl(&[
            "--no-wait",
            "add-br",
            "br-user",
            "--",
            "set",
            "bridge",
            "br-user",
            &format!("external_ids:netloom-topology={topology}"),
        ]);
        f
    }

    pub fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}/db.sock", self.dir.display());
        let mut argv = vec!["ovs-vsctl", &db];
        argv.extend_from_slice(args);
        String::from_utf8_lossy(&netloom_e2e::run(&argv).stdout).into_owned()
    }

    /// Bridges with their external_ids.
    pub fn bridges(&self) -> String {
        self.vsctl(&["--columns=name,external_ids", "list", "bridge"])
    }
}

impl Drop for ForeignOvs {
    fn drop(&mut self) {
        // The namespace guard kills ovsdb-server; then the files go.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Four frames captured on vm1's nic of the seed lab `lab` (pcap `file`):
/// each from or to vm1 (or broadcast, as its ARP requests are); the frames.
pub fn vm1_frames(lab: &Lab, file: &[u8]) -> Vec<Vec<netloom_core::trace::Layer>> {
    use netloom_core::trace::Layer;
    let topo = netloom_core::load(&lab.text).unwrap().topology;
    let vm1 = topo.guests.iter().find(|g| g.name == "vm1").unwrap().ifaces[0].mac;
    let frames: Vec<Vec<Layer>> = netloom_core::capture::pcap::Reader::new(file)
        .unwrap()
        .map(|p| netloom_core::capture::decode(p.unwrap().data))
        .collect();
    assert_eq!(frames.len(), 4, "{frames:#?}");
    for f in &frames {
        let Layer::Ethernet { src, dst, .. } = f[0] else {
            panic!("{f:?}")
        };
        assert!(src == vm1 || dst == vm1 || dst.is_multicast(), "{f:?}");
    }
    frames
}

/// The veth a capture of bridge `path` (`host/bridge`) of the design `text`
/// reads, netloom's name for it; the mirror's port is that name without its
/// last letter.
pub fn mirror_peer(text: &str, path: &str) -> String {
    let topo = netloom_core::load(text).unwrap().topology;
    let b = topo.find_bridge_path(path).expect("a bridge of the design");
    let tag = netloom_core::names::topology_tag(&topo.name);
    netloom_core::names::mirror_peer(&tag, &topo.bridges[b].ovs_name)
}

/// This machine's own `netloom agent` on a free loopback port, standing for
/// host node1 of `lab` (whose namespaces are here), killed on drop.
pub struct LocalAgent {
    child: std::process::Child,
    /// The controller's agents file naming it.
    pub agents: PathBuf,
    /// `lab`'s text with node1 reached through it.
    pub design: PathBuf,
}

impl LocalAgent {
    /// Started with `extra` arguments (e.g. `--ovsdb unix:PATH`); its token
    /// may touch `lab` only.
    pub fn start(dir: &Path, lab: &Lab, extra: &[&str]) -> LocalAgent {
        let _ = std::fs::create_dir_all(dir);
        let token = "c".repeat(32);
        let token_file = dir.join("agent.token");
        netloom_e2e::write_secret(&token_file, &format!("{token} {}\n", lab.name));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(bin())
            .args(["agent", "--listen", &format!("tcp:127.0.0.1:{port}")])
            .arg(format!("--token-file={}", token_file.display()))
            .args(extra)
            .spawn()
            .expect("agent");
        let design = dir.join("lab.yaml");
        let text = insert_before(&lab.text, "    bridges:", &format!("    agent: {url}\n"));
        std::fs::write(&design, text).unwrap();
        LocalAgent {
            child,
            agents: agents_file(dir, &[(&url, &token, None)]),
            design,
        }
    }
}

impl Drop for LocalAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
