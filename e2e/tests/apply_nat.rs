//! Root test: the NAT lab (masquerade + port forward to an external network),
//! apply → verify → re-apply → change → destroy, plus the port forward
//! carrying real TCP from the external segment to vm1.

mod apply_support;

use apply_support::*;

#[test]
fn nat_lab_full_cycle() {
    // The new vm goes on a new host: appended after every existing guest, it
    // renames no interface (names come from guest indices); its explicit MAC
    // keeps the derived MACs (externals' included) where they are.
    full_cycle("nat.yaml", "e2e-nat", |text| {
        let t = replace_once(
            text,
            "{bridge: br-in, ip: 10.0.0.2/24}",
            "{bridge: br-in, vlan: 7, ip: 10.0.0.2/24}",
        );
        let t = t + "  - name: node9\n    bridges:\n      - name: br-in\n    vms:\n      - name: vm9\n        nics:\n          - {bridge: br-in, ip: 10.0.9.9/24, mac: \"52:54:00:00:09:09\"}\n";
        let mut want = vec!["update ovs-port".to_string()];
        want.extend(new_vm_steps("e2e-nat", "node9", "vm9", Some("10.0.9.9/24")));
        // A new emulated host: its namespace (ARP answered only by the bridge
        // holding the underlay address), underlay link, daemons, bridges, phy port and address.
        want.extend(
            [
                "create netns nl-e2e-nat.node9",
                "create agent nl-e2e-nat.node9",
                "create link nl-e2e-nat.node9/",
                "create sysctl nl-e2e-nat.node9",
                "create ovs_daemons nl-e2e-nat.node9",
                "create ovs_bridge",
                "create ovs_bridge",
                "create ovs-port",
                "create addr nl-e2e-nat.node9/",
            ]
            .map(String::from),
        );
        (t, want)
    });
}

#[test]
fn nat_port_forward_carries_tcp() {
    if !netloom_e2e::root("nat_port_forward_carries_tcp") {
        return;
    }
    let lab = Lab::new("nat.yaml", "e2e-natfw");
    ok(&["apply", lab.path()]);
    let vm1 = "nl-e2e-natfw.node1.vm1";
    let ext = "nl-e2e-natfw._ext.internet";
    // vm1 listens on :80 and answers once; the external segment connects to 198.51.100.2:8080.
    let mut server = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            vm1,
            "busybox",
            "nc",
            "-l",
            "-p",
            "80",
            "-e",
            "echo",
            "hello-from-vm1",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("nc server");
    // Until it listens (a dual-stack socket: /proc/net/tcp6, local port 80, state 0A).
    let listening = || {
        let o = netloom_e2e::try_run(&[
            "ip",
            "netns",
            "exec",
            vm1,
            "cat",
            "/proc/net/tcp",
            "/proc/net/tcp6",
        ]);
        String::from_utf8_lossy(&o.stdout).lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(":0050") && f[3] == "0A"
        })
    };
    let t0 = std::time::Instant::now();
    while !listening() {
        assert!(t0.elapsed().as_secs() < 30, "nc did not listen in {vm1}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ext,
            "busybox",
            "nc",
            "-w",
            "3",
            "198.51.100.2",
            "8080",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("nc client");
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello-from-vm1"),
        "no answer through the port forward: {out:?}"
    );
}

/// `verify` also measures the port forward the design asks for (a TCP
/// handshake from every sender to 198.51.100.2:8080, a listener on vm1:80
/// meanwhile), agrees with `reach`, leaves no listener behind, and finds
/// the forward missing once its nftables rule is gone.
#[test]
fn verify_measures_the_port_forward() {
    if !netloom_e2e::root("verify_measures_the_port_forward") {
        return;
    }
    let lab = Lab::new("nat.yaml", "e2e-natport");
    ok(&["apply", lab.path()]);
    assert_eq!(lab.verify(), Vec::<serde_json::Value>::new());
    let v: serde_json::Value =
        serde_json::from_slice(&netloom(&["verify", "--json", lab.path()]).stdout).unwrap();
    assert_eq!(forward_probe(&v, "internet")["ok"], true);
    // From inside, packets reach r1 by qr0: no forward, and r1 listens on nothing.
    assert_eq!(forward_probe(&v, "vm1")["ok"], false);
    no_listener_left("nl-e2e-natport.node1.vm1");

    let r1 = "nl-e2e-natport.node1.router.r1";
    let o = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            r1,
            "nft",
            "flush",
            "chain",
            "ip",
            "netloom",
            "prerouting",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let o = netloom(&["verify", "--json", lab.path()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "verify must report the broken forward"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let diff = v["disagreements"].as_array().unwrap();
    assert_eq!(
        diff.iter()
            .map(|d| (
                d["from"].clone(),
                d["to"].clone(),
                d["proto"].clone(),
                d["real"].clone()
            ))
            .collect::<Vec<_>>(),
        vec![(
            "internet".into(),
            "198.51.100.2".into(),
            "tcp:8080".into(),
            false.into()
        )],
        "{diff:?}"
    );
    ok(&["destroy", lab.path()]);
}

/// A verify report's connection probe from `from` through r1's forward.
fn forward_probe(v: &serde_json::Value, from: &str) -> serde_json::Value {
    let ports = v["report"]["ports"]
        .as_array()
        .expect("ports in the report");
    ports
        .iter()
        .find(|r| r["from"] == from && r["to"] == "198.51.100.2" && r["proto"] == "tcp:8080")
        .unwrap_or_else(|| panic!("no tcp:8080 probe from {from}: {ports:?}"))
        .clone()
}

/// No TCP listener in namespace `ns` (`ss -Hltn`), at once or, as an agent
/// closes its own once the controller has hung up, within a few seconds.
fn no_listener_left(ns: &str) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let o = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "ss", "-Hltn"])
            .output()
            .unwrap();
        let left = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "a listener left behind: {left}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The port forward on a real host: node1 is served by this machine's own
/// agent, so vm1's listener and the connections of vm9 (on the outer
/// bridge, through r1's forward) and of the external network (emulated on
/// node1, which uplinks it) are made by the agent. Verify measures them all,
/// agrees with reach, notices a broken forward, and leaves no listener behind.
#[test]
fn verify_measures_a_real_hosts_port_forward_through_its_agent() {
    if !netloom_e2e::root("verify_measures_a_real_hosts_port_forward_through_its_agent") {
        return;
    }
    let name = "e2e-natag";
    let text = Lab::new("nat.yaml", name).text.clone();
    let text = insert_before(
        &text,
        "    routers:",
        "      - name: vm9\n        nics:\n          - {bridge: br-ex, ip: 198.51.100.9/24}\n",
    );
    let lab = Lab::from_text(name, text);
    ok(&["apply", lab.path()]);
    let dir = std::env::temp_dir().join(format!("netloom-{name}"));
    let agent = LocalAgent::start(&dir, &lab, &[]);
    let agents = agent.agents.to_str().unwrap().to_string();
    let real = agent.design.to_str().unwrap().to_string();
    // The agent may still be starting: wait for its port.
    let url = std::fs::read_to_string(&agent.agents).unwrap();
    let port = url
        .split_whitespace()
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
        assert!(std::time::Instant::now() < until, "the agent did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let verify = || {
        let o = netloom_env(&["verify", "--json", &real], &[("NETLOOM_AGENTS", &agents)]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&o.stderr));
        });
        (o.status.code(), v)
    };
    let (code, v) = verify();
    assert_eq!(v["disagreements"], serde_json::json!([]), "{v}");
    assert_eq!(code, Some(0), "{v}");
    for from in ["internet", "vm9"] {
        let p = forward_probe(&v, from);
        assert_eq!(p["ok"], true, "{p}");
        assert_eq!(
            p["detail"], "connection established (SYN-ACK received)",
            "{p}"
        );
    }
    // From inside, r1 forwards nothing: refused, measured by the agent.
    let p = forward_probe(&v, "vm1");
    assert_eq!(p["ok"], false, "{p}");
    assert!(
        !p["detail"].as_str().unwrap().contains("not measured"),
        "{p}"
    );
    let vm1 = format!("nl-{name}.node1.vm1");
    no_listener_left(&vm1);

    let o = std::process::Command::new("ip")
        .args(["netns", "exec", &format!("nl-{name}.node1.router.r1")])
        .args(["nft", "flush", "chain", "ip", "netloom", "prerouting"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let (code, v) = verify();
    assert_eq!(code, Some(1), "verify must report the broken forward: {v}");
    let mut diff: Vec<_> = v["disagreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["from"].clone(),
                d["to"].clone(),
                d["proto"].clone(),
                d["real"].clone(),
            )
        })
        .collect();
    diff.sort_by_key(|d| d.0.to_string());
    let broken = |from: &str| {
        (
            from.into(),
            "198.51.100.2".into(),
            "tcp:8080".into(),
            false.into(),
        )
    };
    assert_eq!(diff, vec![broken("internet"), broken("vm9")], "{v}");
    no_listener_left(&vm1);
    drop(agent);
    ok(&["destroy", lab.path()]);
}
