//! `netloom export --shell`: one real host's part (`--host`), with the
//! datapath it is told the hosts have (`--datapath`).

use std::process::Command;

fn export(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut c = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .args(["export", "--shell"])
        .args(args)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the netloom binary runs");
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        o.status.code().unwrap_or(-1),
        text(&o.stdout),
        text(&o.stderr),
    )
}

/// The seed lab on two real hosts.
fn seed_on_real_hosts() -> String {
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/seedlab-gre.yaml"
    ))
    .unwrap();
    seed.replace("hosts:\n", "underlay: 10.9.0.0/24\nhosts:\n")
        .replace(
            "  - name: node1\n",
            "  - name: node1\n    underlay_ip: 10.9.0.11\n    agent: https://10.9.0.11:7311\n",
        )
        .replace(
            "  - name: node2\n",
            "  - name: node2\n    underlay_ip: 10.9.0.12\n    agent: https://10.9.0.12:7311\n",
        )
}

#[test]
fn one_hosts_part_with_the_kernel_datapath() {
    let (code, out, err) = export(
        &["--host", "node1", "--datapath", "system"],
        &seed_on_real_hosts(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("#!/bin/sh\n"), "{out}");
    // node1's vms, its bridge on the kernel datapath, its GRE port to node2; nothing of node2's.
    assert!(out.contains("datapath_type=system"), "{out}");
    assert!(out.contains("options:remote_ip=10.9.0.12"), "{out}");
    assert!(
        out.contains("nl-seedlab.node1.vm1") && !out.contains("nl-seedlab.node2."),
        "{out}"
    );
    // Told nothing, the export assumes the userspace datapath, where GRE cannot end on a real host.
    let (code, out, _) = export(&["--host", "node2"], &seed_on_real_hosts());
    assert_eq!(code, 0);
    assert!(
        out.contains("datapath_type=netdev") && out.contains("nl-seedlab.node2.vm3"),
        "{out}"
    );
    assert!(!out.contains("nl-seedlab.node1."), "{out}");
}

#[test]
fn an_unknown_host_is_named() {
    let (code, out, err) = export(&["--host", "node9"], &seed_on_real_hosts());
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("--host node9: no such host in -"), "{err}");
}

/// Under OVN the northbound transaction is the design's: one host's script
/// would insert its rows again and wait for the other hosts' chassis.
#[test]
fn one_hosts_part_of_an_ovn_design_is_refused() {
    let ovn = seed_on_real_hosts().replace(
        "underlay: 10.9.0.0/24\n",
        "underlay: 10.9.0.0/24\nengine: ovn\novn:\n  northbound: tcp:10.9.0.1:6641\n  southbound: tcp:10.9.0.1:6642\n",
    );
    let (code, out, err) = export(&["--host", "node1"], &ovn);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("--host node1: - uses engine: ovn"), "{err}");
    // The whole design still exports, with its transaction.
    let (code, out, err) = export(&[], &ovn);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ovsdb-client transact tcp:10.9.0.1:6641"),
        "{out}"
    );
}
