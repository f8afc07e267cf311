//! Root test: `netloom agent` over TCP requires its token. The agent runs
//! inside a test namespace and is spoken to on that namespace's loopback.

mod apply_support;

use std::io::Write;
use std::process::{Command, Stdio};

use apply_support::*;

fn ask(ns: &str, request: &str) -> String {
    let mut c = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "busybox",
            "nc",
            "-w",
            "3",
            "127.0.0.1",
            "7399",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("nc");
    c.stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    String::from_utf8_lossy(&c.wait_with_output().unwrap().stdout).into_owned()
}

#[test]
fn tcp_agent_requires_its_token_and_observes() {
    if !netloom_e2e::root("tcp_agent_requires_its_token_and_observes") {
        return;
    }
    let ns = netloom_e2e::Netns::new("agent");
    let dir = std::env::temp_dir().join("netloom-e2e-agent");
    let _ = std::fs::create_dir_all(&dir);
    let token_file = dir.join("token");
    netloom_e2e::write_secret(&token_file, "0123456789abcdef0123456789abcdef e2e-agent\n");
    let pidfile = dir.join("agent.pid");
    let _ = std::fs::remove_file(&pidfile);
    let mut agent = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            bin().to_str().unwrap(),
            "agent",
            "--listen",
            "tcp:127.0.0.1:7399",
        ])
        .arg(format!("--token-file={}", token_file.display()))
        .arg(format!("--pidfile={}", pidfile.display()))
        .spawn()
        .expect("agent");
    // The pidfile is written once the agent listens.
    let t0 = std::time::Instant::now();
    while !pidfile.exists() {
        assert!(t0.elapsed().as_secs() < 30, "the agent did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let wrong = ask(ns.name(), "{\"token\":\"nope\",\"request\":{\"observe\":{\"topology\":\"e2e-agent\",\"targets\":[],\"hint\":{\"targets\":{}}}}}\n");
    let right = ask(
        ns.name(),
        "{\"token\":\"0123456789abcdef0123456789abcdef\",\"request\":{\"observe\":{\"topology\":\"e2e-agent\",\"targets\":[],\"hint\":{\"targets\":{}}}}}\n",
    );
    let facts = ask(
        ns.name(),
        "{\"token\":\"0123456789abcdef0123456789abcdef\",\"request\":\"facts\"}\n",
    );
    // Defence in depth: a request to remove a namespace that is not the
    // topology's is refused whole, and the namespace stays.
    let victim = netloom_e2e::Netns::new("agent-victim");
    let refused = ask(
        ns.name(),
        &format!(
            "{{\"token\":\"0123456789abcdef0123456789abcdef\",\"request\":{{\"execute\":{{\"topology\":\"e2e-agent\",\"target\":{{\"name\":\"h1\",\"agent\":null,\"emulated\":false,\"netns\":\"\",\"ovsdb\":\"\",\"datapath\":\"netdev\"}},\"steps\":[{{\"action\":\"delete\",\"resource\":{{\"kind\":\"netns\",\"name\":\"{}\"}}}}]}}}}}}\n",
            victim.name()
        ),
    );
    let victim_left = netloom_e2e::netns_list().contains(&victim.name().to_string());
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        wrong.contains("wrong token") && !wrong.contains("observed"),
        "{wrong}"
    );
    assert!(right.contains("{\"observed\":{\"targets\":{}}}"), "{right}");
    assert!(
        refused.contains("refused: namespace") && !refused.contains("\"event\""),
        "{refused}"
    );
    assert!(
        victim_left,
        "the agent removed a namespace not its topology's"
    );
    // This machine's kernel has no OVS datapath (machine-facts.md): emulated hosts use netdev.
    let kernel = std::path::Path::new("/sys/module/openvswitch").exists();
    assert!(
        facts.contains(&format!("{{\"kernel_datapath\":{kernel}}}")),
        "{facts}"
    );
}
