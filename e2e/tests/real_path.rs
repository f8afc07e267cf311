//! Root test: `netloom simulate --real` on every pair of every example lab:
//! the probe sent for real, captured on every link its trace crosses, shows
//! every frame the simulator predicted; a link taken down shows where
//! reality parts from the prediction.

mod apply_support;

use apply_support::*;
use serde_json::Value;

/// `simulate --real --json`: (exit code, the `real` part).
fn real(lab: &Lab, from: &str, to: &str) -> (Option<i32>, Value) {
    let o = netloom(&[
        "simulate",
        lab.path(),
        "--from",
        from,
        "--to",
        to,
        "--real",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{from} -> {to}: {e}\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code(), v["real"].clone())
}

#[test]
fn every_pair_of_every_example_takes_the_predicted_path() {
    if !netloom_e2e::root("every_pair_of_every_example_takes_the_predicted_path") {
        return;
    }
    for (example, name) in [
        ("seedlab-gre.yaml", "e2e-rp-seed"),
        ("vxlan.yaml", "e2e-rp-vxlan"),
        ("nat.yaml", "e2e-rp-nat"),
        ("dhcp.yaml", "e2e-rp-dhcp"),
    ] {
        let lab = Lab::new(example, name);
        ok(&["apply", lab.path()]);
        let report: Value = serde_json::from_str(&ok(&["reach", "--json", lab.path()])).unwrap();
        let mut frames = 0;
        for r in report["results"].as_array().unwrap() {
            let (from, to) = (r["from"].as_str().unwrap(), r["to"].as_str().unwrap());
            let (code, real) = real(&lab, from, to);
            assert_eq!(code, Some(0), "{example}: {from} -> {to}: {real:#}");
            assert_eq!(real["first_difference"], Value::Null);
            let n = real["frames"].as_array().unwrap().len();
            // A pair that reaches crosses at least a request and a reply.
            assert!(
                r["ok"] == false || n >= 2,
                "{example}: {from} -> {to}: {real:#}"
            );
            frames += n;
        }
        assert!(frames > 0, "{example}");
    }
}

#[test]
fn a_link_taken_down_is_where_reality_parts() {
    if !netloom_e2e::root("a_link_taken_down_is_where_reality_parts") {
        return;
    }
    let lab = Lab::new("seedlab-gre.yaml", "e2e-rp-down");
    ok(&["apply", lab.path()]);
    // A first ping fills the neighbour caches: the request will go out.
    let (code, real0) = real(&lab, "vm1", "10.0.10.2");
    assert_eq!(code, Some(0), "{real0:#}");
    let st = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            "nl-e2e-rp-down.node2.vm3",
            "ip",
            "link",
            "set",
            "eth0",
            "down",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let (code, real) = real(&lab, "vm1", "10.0.10.2");
    assert_eq!(code, Some(1), "{real:#}");
    let i = real["first_difference"].as_u64().expect("a difference") as usize;
    let frames = real["frames"].as_array().unwrap();
    // The request crossed the tunnel; what vm3 should have answered never came.
    assert!(frames[..i]
        .iter()
        .any(|f| f["seen_on"] == serde_json::json!(["tunnels[0]"])));
    assert!(frames[i]["seen_on"].as_array().unwrap().is_empty());
    assert_eq!(frames[i]["node"], "vm3", "{real:#}");
}

/// The real frames of a check whose TCP header has `port` on either side,
/// with the links that saw them.
fn seen_with_port(real: &Value, port: u16) -> Vec<(String, Vec<String>)> {
    let frames = real["frames"].as_array().unwrap();
    frames
        .iter()
        .filter(|f| {
            f["predicted"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["layer"] == "tcp" && (l["src_port"] == port || l["dst_port"] == port))
        })
        .map(|f| {
            let tcp = f["predicted"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["layer"] == "tcp")
                .unwrap();
            let on = f["seen_on"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            (tcp["flags"].as_str().unwrap().to_string(), on)
        })
        .collect()
}

#[test]
fn the_dnat_rewrite_is_seen_on_both_sides_of_the_router() {
    if !netloom_e2e::root("the_dnat_rewrite_is_seen_on_both_sides_of_the_router") {
        return;
    }
    let lab = Lab::new("nat.yaml", "e2e-rp-dnat");
    ok(&["apply", lab.path()]);
    let o = netloom(&[
        "simulate",
        lab.path(),
        "--from",
        "internet",
        "--to",
        "198.51.100.2",
        "--proto",
        "tcp:8080",
        "--real",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{:#}", v["real"]);
    // Outside, the SYN goes to 8080 and the SYN-ACK comes from it; inside, both carry 80.
    let outside = ["node1/r1:qg0".to_string()];
    for (flags, on) in seen_with_port(&v["real"], 8080) {
        assert!(
            on.contains(&outside[0]),
            "{flags} to/from 8080 seen on {on:?}"
        );
    }
    let inside = seen_with_port(&v["real"], 80);
    let flags: Vec<&str> = inside.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(flags, ["syn", "syn-ack"], "{:#}", v["real"]);
    for (flags, on) in &inside {
        assert!(
            on.contains(&"node1/r1:qr0".to_string()) && !on.contains(&outside[0]),
            "{flags} seen on {on:?}"
        );
    }
    // A port nothing listens on is answered RST, as predicted: no listener is opened for it.
    let o = netloom(&[
        "simulate",
        lab.path(),
        "--from",
        "vm1",
        "--to",
        "198.51.100.1",
        "--proto",
        "tcp:22",
        "--real",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{:#}", v["real"]);
    let answers: Vec<String> = seen_with_port(&v["real"], 22)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert!(
        answers.contains(&"rst-ack".to_string()) && !answers.contains(&"syn-ack".to_string()),
        "{answers:?}"
    );
}
