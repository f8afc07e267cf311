//! Root test: `netloom capture` on the applied seed lab. What it writes is
//! pcap that the core reads back; a ping across the GRE tunnel, seen on the
//! underlay, carries the tunnel's key and the sender's VLAN tag inside, with
//! the very headers the simulator predicts for that hop. A whole bridge is
//! read through a mirror that is gone afterwards.

mod apply_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apply_support::*;
use netloom_core::capture::{decode, pcap};
use netloom_core::sim::{simulate, Probe};
use netloom_core::trace::{IcmpKind, Layer};

/// `netloom capture ARGS...` in the background.
fn capture(args: &[&str]) -> Child {
    Command::new(bin())
        .arg("capture")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netloom capture")
}

/// Waits until `path` holds pcap's file header: the socket is open by then.
fn wait_for_header(path: &std::path::Path) {
    let until = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(path).map_or(true, |m| m.len() < 24) {
        assert!(Instant::now() < until, "capture never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ping(lab: &Lab, vm: &str, to: &str) {
    let ns = format!("nl-{}.node1.{vm}", lab.name);
    let st = Command::new("ip")
        .args([
            "netns", "exec", &ns, "ping", "-c", "2", "-i", "0.2", "-W", "5", to,
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{vm} -> {to}");
}

/// Headers from the tunnel's own header inward, echo id and sequence left
/// out: `ping` picks its own.
fn from_tunnel_in(layers: &[Layer]) -> Vec<Layer> {
    let gre = layers
        .iter()
        .position(|l| matches!(l, Layer::Gre { .. }))
        .expect("a GRE header");
    layers[gre..]
        .iter()
        .map(|l| match l {
            Layer::Icmp { kind, code, .. } => Layer::Icmp {
                kind: *kind,
                code: *code,
                id: 0,
                seq: 0,
            },
            other => other.clone(),
        })
        .collect()
}

#[test]
fn a_tunnel_seen_on_the_underlay_carries_its_key_and_the_vlan_tag() {
    if !netloom_e2e::root("a_tunnel_seen_on_the_underlay_carries_its_key_and_the_vlan_tag") {
        return;
    }
    let lab = Lab::new("seedlab-gre.yaml", "e2e-capture");
    ok(&["apply", lab.path()]);
    let out = std::env::temp_dir().join("netloom-e2e-capture.pcap");
    let _ = std::fs::remove_file(&out);
    let c = capture(&[
        lab.path(),
        "--link",
        "tunnels[0]",
        "-w",
        out.to_str().unwrap(),
        "--duration",
        "20",
        "-c",
        "4",
    ]);
    wait_for_header(&out);
    ping(&lab, "vm1", "10.0.10.2");
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("4 packets captured on tunnels[0]"));

    let file = std::fs::read(&out).unwrap();
    let frames: Vec<Vec<Layer>> = pcap::Reader::new(&file)
        .unwrap()
        .map(|p| decode(p.unwrap().data))
        .collect();
    assert_eq!(frames.len(), 4);
    let requests: Vec<&Vec<Layer>> = frames
        .iter()
        .filter(|f| {
            f.iter().any(|l| {
                matches!(
                    l,
                    Layer::Icmp {
                        kind: IcmpKind::EchoRequest,
                        ..
                    }
                )
            })
        })
        .collect();
    assert!(!requests.is_empty(), "no echo request in {frames:#?}");
    for f in &frames {
        assert!(
            f.contains(&Layer::Gre {
                protocol: 0x6558,
                key: Some(5)
            }),
            "{f:?}"
        );
        assert!(
            f.iter().any(|l| matches!(l, Layer::Dot1q { vid: 10, .. })),
            "{f:?}"
        );
    }

    // The simulator's tunnel hop for the same ping: the same headers.
    let topo = netloom_core::load(&lab.text).unwrap().topology;
    let probe = Probe::parse(&topo, "vm1", "10.0.10.2", "icmp", None).unwrap();
    let trace = simulate(&topo, &probe);
    let predicted = trace
        .hops
        .iter()
        .flat_map(|h| &h.steps)
        .find(|s| {
            s.packet.iter().any(|l| matches!(l, Layer::Gre { .. }))
                && s.packet.iter().any(|l| {
                    matches!(
                        l,
                        Layer::Icmp {
                            kind: IcmpKind::EchoRequest,
                            ..
                        }
                    )
                })
        })
        .expect("the trace crosses the tunnel");
    assert_eq!(
        from_tunnel_in(requests[0]),
        from_tunnel_in(&predicted.packet)
    );
}

#[test]
fn capture_names_what_is_wrong() {
    if !netloom_e2e::root("capture_names_what_is_wrong") {
        return;
    }
    let lab = Lab::new("seedlab-gre.yaml", "e2e-capbad");
    let fails = |args: &[&str], want: &str| {
        let o = netloom(&[&["capture", lab.path()], args].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{args:?}: {err}");
    };
    fails(
        &["--link", "tunnels[7]"],
        "there are tunnels[0] to tunnels[0]",
    );
    fails(&["--link", "vm1:eth4"], "vm1 has no nic \"eth4\"");
    fails(&["--link", "vm1", "-s", "0"], "--snaplen 0 is outside");
    // Not applied: the namespace is not there.
    fails(
        &["--link", "vm1", "--duration", "1"],
        "is e2e-capbad applied?",
    );
}

/// The VLAN tags in a pcap file written so far.
fn vlans(path: &std::path::Path) -> std::collections::BTreeSet<u16> {
    let file = std::fs::read(path).unwrap_or_default();
    let Ok(r) = pcap::Reader::new(&file) else {
        return Default::default();
    };
    r.map_while(Result::ok)
        .flat_map(|p| decode(p.data))
        .filter_map(|l| match l {
            Layer::Dot1q { vid, .. } => Some(vid),
            _ => None,
        })
        .collect()
}

/// Every interface name in a namespace.
fn links_in(ns: &str) -> String {
    let o = Command::new("ip")
        .args(["-n", ns, "-o", "link"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_whole_bridge_is_mirrored_with_its_vlan_tags_and_the_mirror_goes_after() {
    if !netloom_e2e::root("a_whole_bridge_is_mirrored_with_its_vlan_tags_and_the_mirror_goes_after")
    {
        return;
    }
    let links_before = root_links();
    let lab = Lab::new("seedlab-gre.yaml", "e2e-capbr");
    ok(&["apply", lab.path()]);
    let host_ns = format!("nl-{}.node1", lab.name);
    let peer = mirror_peer(&lab.text, "node1/br-in");
    let port = &peer[..peer.len() - 1];
    let out = std::env::temp_dir().join("netloom-e2e-capbr.pcap");
    let _ = std::fs::remove_file(&out);
    let c = capture(&[
        lab.path(),
        "--link",
        "node1/br-in",
        "-w",
        out.to_str().unwrap(),
    ]);
    wait_for_header(&out);
    assert!(
        links_in(&host_ns).contains(&peer),
        "the mirror's veth is there while it runs"
    );
    ping(&lab, "vm1", "10.0.10.2");
    ping(&lab, "vm2", "10.0.20.2");
    // Both VLANs' frames come through the mirror, tagged.
    let until = Instant::now() + Duration::from_secs(30);
    while vlans(&out) != [10, 20].into() {
        assert!(Instant::now() < until, "VLANs seen: {:?}", vlans(&out));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Ctrl-C ends it cleanly.
    let st = Command::new("kill")
        .args(["-INT", &c.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Gone after: no device, and the bridge is as apply left it.
    assert!(!links_in(&host_ns).contains(port), "{}", links_in(&host_ns));
    assert!(ok(&["plan", lab.path()]).contains("nothing to do"));

    // A capture killed outright leaves its mirror; destroy still leaves nothing.
    let mut c = capture(&[lab.path(), "--link", "node1/br-in", "--duration", "60"]);
    let until = Instant::now() + Duration::from_secs(30);
    while !links_in(&host_ns).contains(&peer) {
        assert!(Instant::now() < until, "the mirror never came");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.kill().unwrap();
    c.wait().unwrap();
    ok(&["destroy", lab.path()]);
    assert_no_residue(&lab.name, &links_before);
}

#[test]
fn a_guests_nic_through_its_hosts_agent() {
    if !netloom_e2e::root("a_guests_nic_through_its_hosts_agent") {
        return;
    }
    let lab = Lab::new("seedlab-gre.yaml", "e2e-capag");
    ok(&["apply", lab.path()]);
    // node1 as a real host: its agent is this machine's, where the lab's namespaces are.
    let dir = std::env::temp_dir().join("netloom-e2e-capag");
    // Its OVSDB is node1's, so that a tunnel's port is found there.
    let ovsdb = format!("--ovsdb=unix:/run/netloom/{}/node1/db.sock", lab.name);
    let agent = LocalAgent::start(&dir, &lab, &[&ovsdb]);
    let (agents, real) = (agent.agents.clone(), agent.design.clone());
    let out = dir.join("vm1.pcap");
    let _ = std::fs::remove_file(&out);
    let mut c = Command::new(bin());
    c.args([
        "capture",
        real.to_str().unwrap(),
        "--link",
        "vm1",
        "-c",
        "4",
        "--duration",
        "30",
        "-w",
    ])
    .arg(&out)
    .env("NETLOOM_AGENTS", &agents)
    .stderr(Stdio::piped());
    // The agent may still be starting: the capture is asked again until it
    // answers; it is open once the pcap header is written.
    let until = Instant::now() + Duration::from_secs(60);
    let child = loop {
        let _ = std::fs::remove_file(&out);
        let mut child = c.spawn().unwrap();
        while child.try_wait().unwrap().is_none()
            && std::fs::metadata(&out).map_or(true, |m| m.len() < 24)
        {
            assert!(Instant::now() < until, "the capture did not open");
            std::thread::sleep(Duration::from_millis(50));
        }
        if child.try_wait().unwrap().is_none() {
            break child;
        }
        assert!(
            Instant::now() < until,
            "{}",
            String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    ping(&lab, "vm1", "10.0.10.2");
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file = std::fs::read(&out).unwrap();
    vm1_frames(&lab, &file);
    // The agent checks a tunnel on its own host: the port is node1's, with
    // that remote and key, but node1's underlay address is not this
    // machine's own (it is inside node1's namespace), so it reads nothing.
    let o = netloom_env(
        &[
            "capture",
            real.to_str().unwrap(),
            "--link",
            "tunnels[0]",
            "-c",
            "1",
        ],
        &[("NETLOOM_AGENTS", agents.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not an address of this host"), "{err}");
}
