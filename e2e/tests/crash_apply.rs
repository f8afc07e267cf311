//! Root crash tests: `kill -9` of the controller (`netloom apply`), of a
//! sandbox host's agent, or of `netloom serve` running an apply job, while
//! the apply is in progress. Afterwards `apply` must converge (empty plan),
//! `destroy` must leave nothing behind, and designs saved before the crash
//! must be intact.
//!
//! The kill lands mid-apply because each test polls for the apply's first
//! visible effects (namespaces, an agent, a step event) and checks that the
//! apply has not finished when it kills. Topologies are named `crash1`..`crash3`;
//! a guard destroys and sweeps `nl-crashN.*` even when a test fails.
//! Traffic: loopback only (the server's API).

mod apply_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apply_support::*;
use serde_json::{json, Value};

/// Generous bound for "something appears": only hit when netloom is broken.
const APPEAR: Duration = Duration::from_secs(60);

/// Four hosts of four vms in two VLANs, joined by a chain of GRE tunnels: big
/// enough that an apply is still running when its first namespaces appear.
fn big_lab(name: &str) -> String {
    let mut t = format!("version: 1\nname: {name}\nhosts:\n");
    for h in 1..=4 {
        t += &format!("  - name: node{h}\n    bridges:\n      - name: br-in\n    vms:\n");
        for v in 1..=4 {
            let vlan = if v % 2 == 0 { 20 } else { 10 };
            t += &format!(
                "      - name: vm{v}\n        nics:\n          - {{bridge: br-in, vlan: {vlan}, ip: 10.0.{vlan}.{}/24}}\n",
                h * 10 + v
            );
        }
    }
    t += "tunnels:\n";
    for h in 1..4 {
        t += &format!(
            "  - {{type: gre, between: [node{h}/br-in, node{}/br-in], key: {h}}}\n",
            h + 1
        );
    }
    t
}

/// A generated lab under its own name; destroyed and swept on drop (via [`Lab`]).
fn lab(name: &str) -> Lab {
    Lab::from_text(name, big_lab(name))
}

/// Poll until `f` gives a value; panics after [`APPEAR`].
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < APPEAR, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn namespaces_of(name: &str) -> Vec<String> {
    let prefix = format!("nl-{name}.");
    netloom_e2e::netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

fn spawn_apply(lab: &Lab) -> Child {
    Command::new(bin())
        .args(["apply", lab.path()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("netloom apply")
}

/// After the crash: apply converges, a second plan is empty, destroy leaves nothing.
fn converge_and_clean(lab: &Lab, links_before: &[String]) {
    ok(&["apply", lab.path()]);
    assert_eq!(lab.plan_steps(), Vec::<String>::new());
    ok(&["destroy", lab.path()]);
    assert_no_residue(&lab.name, links_before);
}

#[test]
fn controller_killed_mid_apply() {
    if !netloom_e2e::root("controller_killed_mid_apply") {
        return;
    }
    let links_before = root_links();
    let lab = lab("crash1");
    let mut apply = spawn_apply(&lab);
    wait_for("the first namespaces and OVS daemons", || {
        (!namespaces_of("crash1").is_empty() && !our_processes("crash1").is_empty()).then_some(())
    });
    assert!(
        apply.try_wait().unwrap().is_none(),
        "apply finished before the kill"
    );
    apply.kill().unwrap();
    apply.wait().unwrap();
    assert!(
        !lab.plan_steps().is_empty(),
        "the killed apply had nothing left to do"
    );
    converge_and_clean(&lab, &links_before);
}

/// Live pids of the topology's sandbox agents (their pidfiles under the run dir).
fn agent_pids(name: &str) -> Vec<i32> {
    let Ok(dirs) = std::fs::read_dir(format!("/run/netloom/{name}")) else {
        return Vec::new();
    };
    dirs.flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("agent.pid")).ok())
        .filter_map(|p| p.trim().parse::<i32>().ok())
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .collect()
}

#[test]
fn agent_killed_mid_apply() {
    if !netloom_e2e::root("agent_killed_mid_apply") {
        return;
    }
    let links_before = root_links();
    let lab = lab("crash2");
    let mut apply = spawn_apply(&lab);
    let pid = wait_for("a sandbox agent", || agent_pids("crash2").first().copied());
    assert!(
        apply.try_wait().unwrap().is_none(),
        "apply finished before the kill"
    );
    netloom_e2e::run(&["kill", "-9", &pid.to_string()]);
    // The controller either reports the lost agent or had finished with it; either way it ends.
    apply.wait().unwrap();
    converge_and_clean(&lab, &links_before);
}

/// The token of the server tests' token file.
const TOKEN: &str = "crash3-0123456789abcdef";

/// `netloom serve` on a free loopback port with a given data directory; killed on drop.
struct Server {
    child: Child,
    addr: String,
    token: String,
}

impl Server {
    fn start(data: &Path, token_file: &Path) -> Server {
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .arg("--token-file")
            .arg(token_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("netloom serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // With --token-file it prints its address only (the token stays in the file).
        let addr = line
            .trim()
            .strip_prefix("http://")
            .and_then(|r| r.strip_suffix('/'))
            .unwrap_or_else(|| panic!("serve printed {line:?}"));
        Server {
            addr: addr.to_string(),
            token: TOKEN.to_string(),
            child,
        }
    }

    /// Open a request (Connection: close) and return the stream to read the answer from.
    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> TcpStream {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {a}\r\nOrigin: http://{a}\r\nAuthorization: Bearer {t}\r\nContent-Type: application/json\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n{body}",
            a = self.addr,
            t = self.token,
            n = body.len()
        )
        .unwrap();
        s
    }

    /// A JSON request; the answer's status and JSON body (answers here have a Content-Length).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut raw = String::new();
        self.send(method, path, body.as_ref())
            .read_to_string(&mut raw)
            .unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// Read a job's event stream until an event of one of `kinds` arrives; which one.
    fn next_event(&self, job: u64, kinds: &[&str]) -> String {
        let s = self.send("GET", &format!("/api/jobs/{job}/events"), None);
        for line in BufReader::new(s).lines() {
            let line = line.unwrap();
            // `contains`: the stream is chunked, so a line may carry chunk framing.
            if let Some(k) = kinds.iter().find(|k| line.contains(&format!("event: {k}"))) {
                return k.to_string();
            }
        }
        panic!("the event stream ended without any of {kinds:?}");
    }

    /// Run a job to its end; its `done` event.
    fn job(&self, action: &str, text: &str) -> Value {
        let (status, started) = self.call(
            "POST",
            "/api/jobs",
            Some(json!({"action": action, "text": text})),
        );
        assert_eq!(status, 202, "{started}");
        let id = started["id"].as_u64().unwrap();
        self.next_event(id, &["done"]);
        let (_, log) = self.call("GET", &format!("/api/jobs/{id}"), None);
        log["events"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["type"] == "done").cloned())
            .unwrap_or_else(|| panic!("no done event: {log}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn server_killed_mid_apply_job() {
    if !netloom_e2e::root("server_killed_mid_apply_job") {
        return;
    }
    let links_before = root_links();
    let lab = lab("crash3");
    let dir = TempDir(std::env::temp_dir().join("netloom-e2e-crash3"));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    let token_file = dir.0.join("token");
    netloom_e2e::write_secret(&token_file, TOKEN);
    let data = dir.0.join("data");

    let server = Server::start(&data, &token_file);
    let mut saved = Vec::new();
    for (name, text) in [("crash lab", lab.text.clone()), ("other", big_lab("other"))] {
        let (status, d) = server.call(
            "POST",
            "/api/designs",
            Some(json!({"name": name, "text": text})),
        );
        assert_eq!(status, 201, "{d}");
        saved.push((d["id"].as_i64().unwrap(), name, text));
    }
    let (status, started) = server.call(
        "POST",
        "/api/jobs",
        Some(json!({"action": "apply", "text": lab.text})),
    );
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_u64().unwrap();
    assert_eq!(server.next_event(id, &["step", "done"]), "step");
    wait_for("the first namespaces", || {
        (!namespaces_of("crash3").is_empty()).then_some(())
    });
    let (_, log) = server.call("GET", &format!("/api/jobs/{id}"), None);
    assert_eq!(log["done"], false, "the job finished before the kill");
    drop(server); // kill -9 (Child::kill sends SIGKILL)
    assert!(
        !lab.plan_steps().is_empty(),
        "the killed job had nothing left to do"
    );

    let server = Server::start(&data, &token_file);
    for (id, name, text) in &saved {
        let (status, d) = server.call("GET", &format!("/api/designs/{id}"), None);
        assert_eq!(status, 200, "{d}");
        assert_eq!(
            (d["name"].as_str(), d["text"].as_str()),
            (Some(*name), Some(text.as_str()))
        );
    }
    let done = server.job("apply", &lab.text);
    assert_eq!(done["ok"], true, "{done}");
    assert_eq!(lab.plan_steps(), Vec::<String>::new());
    let done = server.job("destroy", &lab.text);
    assert_eq!(done["ok"], true, "{done}");
    drop(server);
    assert_no_residue("crash3", &links_before);
}

/// The narrowest crash window, made on purpose: a namespace file whose
/// creator died before mounting the namespace on it.
#[test]
fn unmounted_namespace_file_is_recreated_then_removed() {
    if !netloom_e2e::root("unmounted_namespace_file_is_recreated_then_removed") {
        return;
    }
    let links_before = root_links();
    let lab = Lab::new("seedlab-gre.yaml", "crash4");
    let placeholder = "/run/netns/nl-crash4.node1";
    std::fs::create_dir_all("/run/netns").unwrap();
    std::fs::write(placeholder, "").unwrap();
    ok(&["apply", lab.path()]);
    assert_eq!(lab.plan_steps(), Vec::<String>::new());
    ok(&["destroy", lab.path()]);
    assert_no_residue("crash4", &links_before);
    // Destroying without the file removes a lone placeholder too.
    std::fs::write(placeholder, "").unwrap();
    ok(&["destroy", "--name", "crash4"]);
    assert!(!Path::new(placeholder).exists());
}
