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
    // A usage error exits before reading its input: then the pipe is closed.
    if let Err(e) = c.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
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

/// Under OVN each host's script carries the design's northbound
/// transaction, guarded so that only the first to send it makes the rows
/// (`e2e/tests/export_ovn_hosts.rs` runs two against a real central), and
/// waits for its own chassis only.
#[test]
fn one_hosts_part_of_an_ovn_design_waits_for_its_own_chassis() {
    let ovn = seed_on_real_hosts().replace(
        "underlay: 10.9.0.0/24\n",
        "underlay: 10.9.0.0/24\nengine: ovn\novn:\n  northbound: tcp:10.9.0.1:6641\n  southbound: tcp:10.9.0.1:6642\n",
    );
    let (code, out, err) = export(&["--host", "node1"], &ovn);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ovsdb-client transact tcp:10.9.0.1:6641"),
        "{out}"
    );
    assert!(out.contains(r#""op":"wait""#), "{out}");
    assert!(out.contains("for c in seedlab.node1; do"), "{out}");
    // The whole design's script waits for every chassis.
    let (code, out, err) = export(&[], &ovn);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("for c in seedlab.node1 seedlab.node2; do"),
        "{out}"
    );
}

/// A real central on loopback: an `ovsdb-server` with OVN's two schemas,
/// an `NB_Global` row as `ovn-northd` makes it, and both chassis of the
/// seed lab registered with a high `nb_cfg` (no `ovn-controller` here).
struct Central {
    server: std::process::Child,
    dir: std::path::PathBuf,
    remote: String,
}

impl Central {
    fn start() -> Central {
        let dir = std::env::temp_dir().join(format!("netloom-central-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for db in ["nb", "sb"] {
            let st = Command::new("ovsdb-tool")
                .arg("create")
                .arg(dir.join(format!("{db}.db")))
                .arg(format!("/usr/share/ovn/ovn-{db}.ovsschema"))
                .status()
                .unwrap();
            assert!(st.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Command::new("ovsdb-server")
            .arg(format!("--remote=ptcp:{port}:127.0.0.1"))
            .arg(format!("--unixctl={}", dir.join("ctl").display()))
            .args([dir.join("nb.db"), dir.join("sb.db")])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let c = Central {
            server,
            dir,
            remote: format!("tcp:127.0.0.1:{port}"),
        };
        let up = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            c.transact(r#"["OVN_Northbound"]"#).is_some()
        });
        assert!(up, "ovsdb-server did not answer on {}", c.remote);
        c.transact(r#"["OVN_Northbound",{"op":"insert","table":"NB_Global","row":{}}]"#)
            .unwrap();
        let chassis = |n: &str| {
            format!(
                r#"{{"op":"insert","table":"Chassis_Private","row":{{"name":"seedlab.{n}","nb_cfg":1000}}}}"#
            )
        };
        c.transact(&format!(
            r#"["OVN_Southbound",{},{}]"#,
            chassis("node1"),
            chassis("node2")
        ))
        .unwrap();
        c
    }

    fn transact(&self, txn: &str) -> Option<String> {
        let o = Command::new("ovsdb-client")
            .args(["transact", &self.remote, txn])
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// How many rows of `table` the seed lab has in the northbound database.
    fn rows(&self, table: &str) -> usize {
        let r = self
            .transact(&format!(r#"["OVN_Northbound",{{"op":"select","table":"{table}","where":[],"columns":["external_ids"]}}]"#))
            .unwrap();
        r.matches(r#"["netloom-topology","seedlab"]"#).count()
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every host's script sends the design's northbound transaction, so the
/// rows must be made once however many run it: the first makes them, the
/// others (and the first again) keep them, and all go on to wait for their
/// own chassis.
#[test]
fn each_hosts_ovn_script_makes_the_northbound_rows_once() {
    let central = Central::start();
    let ovn = seed_on_real_hosts().replace(
        "underlay: 10.9.0.0/24\n",
        &format!(
            "underlay: 10.9.0.0/24\nengine: ovn\novn:\n  northbound: {0}\n  southbound: {0}\n",
            central.remote
        ),
    );
    // A host's northbound part: from the transaction to the end of its wait.
    let part = |host: &str| {
        let (code, script, err) = export(&["--host", host], &ovn);
        assert_eq!(code, 0, "{err}");
        let start = script.find("# the northbound transaction").unwrap();
        let end = "\n  done\ndone\n";
        let len = script[start..].find(end).unwrap() + end.len();
        script[start..start + len].to_string()
    };
    let run = |part: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("set -e\n{part}echo done"))
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (o.status.code(), text(&o.stdout), text(&o.stderr))
    };
    let (node1, node2) = (part("node1"), part("node2"));
    let made = run(&node1);
    assert_eq!(made, (Some(0), "done\n".into(), String::new()));
    let (switches, ports) = (
        central.rows("Logical_Switch"),
        central.rows("Logical_Switch_Port"),
    );
    assert!(switches > 0 && ports > 0, "{switches} {ports}");
    for again in [&node2, &node1] {
        let (code, out, err) = run(again);
        assert_eq!((code, out.as_str()), (Some(0), "done\n"), "{err}");
        assert!(
            err.contains("the northbound rows of topology seedlab are there already"),
            "{err}"
        );
    }
    assert_eq!(central.rows("Logical_Switch"), switches);
    assert_eq!(central.rows("Logical_Switch_Port"), ports);
}
