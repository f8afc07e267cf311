//! Root test: an apply that fails midway reports the failing host and step,
//! leaves a state the next apply converges from, and destroy still removes
//! everything.

mod apply_support;

use apply_support::*;

#[test]
fn failed_apply_reports_and_destroy_still_cleans() {
    if !netloom_e2e::root("failed_apply_reports_and_destroy_still_cleans") {
        return;
    }
    let links_before = root_links();
    let lab = Lab::new("dhcp.yaml", "e2e-fail");
    // Fail at the first address of node1's vm1: namespaces, daemons, OVS rows already exist.
    let o = netloom_env(
        &["apply", lab.path()],
        &[("NETLOOM_FAIL_AT", "+ addr nl-e2e-fail.node1.vm1/")],
    );
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("node1: step `+ addr nl-e2e-fail.node1.vm1/eth0/10.0.20.1/24` failed"),
        "{err}"
    );
    assert!(err.contains("failure injected"), "{err}");
    // Something was built, and the plan knows what is missing.
    assert!(netloom_e2e::netns_list()
        .iter()
        .any(|n| n.starts_with("nl-e2e-fail.")));
    let rest = lab.plan_steps();
    assert!(
        !rest.is_empty() && rest.iter().all(|s| s.starts_with("create")),
        "{rest:#?}"
    );

    // Destroy from the half-built state.
    ok(&["destroy", "--name", "e2e-fail"]);
    assert_no_residue("e2e-fail", &links_before);

    // Fail in the middle of the OVS transaction of a host, then converge by applying again.
    let o = netloom_env(&["apply", lab.path()], &[("NETLOOM_FAIL_AT", "+ ovs-port")]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    ok(&["apply", lab.path()]);
    assert!(lab.plan_steps().is_empty());
    ok(&["destroy", lab.path()]);
    assert_no_residue("e2e-fail", &links_before);
}

/// A real agent on loopback whose token may touch only topology `other`:
/// it answers what needs no topology, and refuses this one's. Another port is
/// tried when the one picked was taken meanwhile.
fn agent_for(other: &str, dir: &std::path::Path, token: &str) -> (std::process::Child, String) {
    let tokens = dir.join("agent.tokens");
    netloom_e2e::write_secret(&tokens, &format!("{token} {other}\n"));
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut agent = std::process::Command::new(bin())
            .args(["agent", "--listen", &format!("tcp:127.0.0.1:{port}")])
            .arg(format!("--token-file={}", tokens.display()))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("agent");
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(30) {
            if agent.try_wait().expect("agent status").is_some() {
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (agent, format!("http://127.0.0.1:{port}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = agent.kill();
        let _ = agent.wait();
    }
    panic!("no agent listened on loopback");
}

/// Real hosts whose agents do not answer, or refuse the topology, do not keep
/// `destroy FILE` from removing everything else; each is named in the error
/// (exit 3).
#[test]
fn destroy_removes_what_it_reaches_and_names_the_agents_it_cannot_use() {
    if !netloom_e2e::root("destroy_removes_what_it_reaches_and_names_the_agents_it_cannot_use") {
        return;
    }
    let links_before = root_links();
    let mut lab = Lab::new("seedlab-gre.yaml", "e2e-deadag");
    ok(&["apply", lab.path()]);
    let dir = std::env::temp_dir().join("netloom-e2e-deadag");
    std::fs::create_dir_all(&dir).unwrap();
    let token = "0123456789abcdef0123456789abcdef";
    let (mut agent, url) = agent_for("e2e-other", &dir, token);
    // The same topology with two more hosts, real ones: nothing listens on
    // loopback port 1 for `far`; `near`'s agent answers, for another topology.
    let hosts_end = lab.text.find("\ntunnels:").expect("a tunnels section");
    let text = format!(
        "{}\n  - name: far\n    underlay_ip: 172.31.0.9\n    agent: http://127.0.0.1:1\n    bridges:\n      - name: br-far\n  - name: near\n    underlay_ip: 172.31.0.10\n    agent: {url}\n    bridges:\n      - name: br-near{}",
        &lab.text[..hosts_end],
        &lab.text[hosts_end..]
    );
    lab.rewrite(text);
    let agents = agents_file(
        &dir,
        &[("http://127.0.0.1:1", token, None), (&url, token, None)],
    );
    let o = netloom_env(
        &["destroy", lab.path()],
        &[("NETLOOM_AGENTS", agents.to_str().unwrap())],
    );
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("far:"), "{err}");
    assert!(
        err.contains("near: step `observe through the agent`")
            && err.contains("may not touch topology e2e-deadag"),
        "{err}"
    );
    assert_no_residue("e2e-deadag", &links_before);
}

/// An emulated host whose `ovs-vswitchd` died: apply starts its daemons on
/// a new database, so it makes that host's bridges, ports and underlay
/// address again (they were seen in the old one), and the lab works again.
#[test]
fn a_host_whose_switch_died_is_made_again_by_apply() {
    if !netloom_e2e::root("a_host_whose_switch_died_is_made_again_by_apply") {
        return;
    }
    let links_before = root_links();
    let lab = Lab::new("seedlab-gre.yaml", "e2e-vsdead");
    ok(&["apply", lab.path()]);
    kill_dead_of("/run/netloom/e2e-vsdead/node1/vswitchd.pid");
    let planned = lab.plan_steps();
    let node1 = "nl-e2e-vsdead.node1";
    for want in [
        format!("create ovs_daemons {node1}"),
        "create ovs_bridge".into(),
        "create ovs-port".into(),
        format!("create addr {node1}/"),
    ] {
        assert!(
            planned.iter().any(|p| p.contains(&want)),
            "{want:?} in {planned:#?}"
        );
    }
    ok(&["apply", lab.path()]);
    let left = lab.plan_steps();
    assert!(left.is_empty(), "{left:#?}");
    let d = lab.verify();
    assert!(
        d.is_empty(),
        "verify after the switch was made again: {d:#?}"
    );
    ok(&["destroy", lab.path()]);
    assert_no_residue("e2e-vsdead", &links_before);
}

/// A step that fails on one host does not keep destroy from the rest: the
/// other host and the machine's part go; the failing host is named (exit
/// 3) and keeps only what it could not remove, which the next destroy removes.
#[test]
fn a_failing_host_does_not_keep_destroy_from_the_rest() {
    if !netloom_e2e::root("a_failing_host_does_not_keep_destroy_from_the_rest") {
        return;
    }
    let links_before = root_links();
    let lab = Lab::new("seedlab-gre.yaml", "e2e-dfail");
    ok(&["apply", lab.path()]);
    let vm1 = "nl-e2e-dfail.node1.vm1";
    let o = netloom_env(
        &["destroy", lab.path()],
        &[("NETLOOM_FAIL_AT", &format!("- netns {vm1}"))],
    );
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("node1: step `- netns"), "{err}");
    let left: Vec<String> = netloom_e2e::netns_list()
        .into_iter()
        .filter(|n| n.starts_with("nl-e2e-dfail."))
        .collect();
    assert!(
        left.contains(&vm1.to_string())
            && left.iter().all(|n| n.starts_with("nl-e2e-dfail.node1.")),
        "{left:?}"
    );
    ok(&["destroy", lab.path()]);
    assert_no_residue("e2e-dfail", &links_before);
}
