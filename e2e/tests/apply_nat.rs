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
    std::thread::sleep(std::time::Duration::from_millis(300));
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
    let ports = v["report"]["ports"]
        .as_array()
        .expect("ports in the report");
    let verdict = |from: &str| {
        ports
            .iter()
            .find(|r| r["from"] == from && r["to"] == "198.51.100.2" && r["proto"] == "tcp:8080")
            .unwrap_or_else(|| panic!("no tcp:8080 probe from {from}: {ports:?}"))["ok"]
            .clone()
    };
    assert_eq!(verdict("internet"), true);
    // From inside, packets reach r1 by qr0: no forward, and r1 listens on nothing.
    assert_eq!(verdict("vm1"), false);
    let listening = |ns: &str| {
        let o = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "ss", "-Hltn"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    assert_eq!(
        listening("nl-e2e-natport.node1.vm1").trim(),
        "",
        "a listener left behind"
    );

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
