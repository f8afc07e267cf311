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

/// A real host whose agent does not answer does not keep `destroy FILE` from
/// removing everything else; it is named in the error (exit 3).
#[test]
fn destroy_removes_what_it_reaches_and_names_a_dead_agent() {
    if !netloom_e2e::root("destroy_removes_what_it_reaches_and_names_a_dead_agent") {
        return;
    }
    let links_before = root_links();
    let mut lab = Lab::new("seedlab-gre.yaml", "e2e-deadag");
    ok(&["apply", lab.path()]);
    // The same topology with one more host, a real one whose agent is not
    // there: nothing listens on loopback port 1.
    let hosts_end = lab.text.find("\ntunnels:").expect("a tunnels section");
    let text = format!(
        "{}\n  - name: far\n    underlay_ip: 172.31.0.9\n    agent: http://127.0.0.1:1\n    bridges:\n      - name: br-far{}",
        &lab.text[..hosts_end],
        &lab.text[hosts_end..]
    );
    lab.rewrite(text);
    let dir = std::env::temp_dir().join("netloom-e2e-deadag");
    std::fs::create_dir_all(&dir).unwrap();
    let agents = agents_file(
        &dir,
        &[(
            "http://127.0.0.1:1",
            "0123456789abcdef0123456789abcdef",
            None,
        )],
    );
    let o = netloom_env(
        &["destroy", lab.path()],
        &[("NETLOOM_AGENTS", agents.to_str().unwrap())],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("far:"), "{err}");
    assert_no_residue("e2e-deadag", &links_before);
}
