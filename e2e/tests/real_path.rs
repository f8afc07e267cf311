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
