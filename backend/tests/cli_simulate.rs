//! `netloom simulate` and `netloom reach` as a user runs them.

use std::process::Command;

fn netloom(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .args(args)
        .output()
        .expect("the netloom binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example(name: &str) -> String {
    format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn simulate_prints_numbered_hops_and_the_outcome() {
    let (code, out, _) = netloom(&[
        "simulate",
        &example("seedlab-gre.yaml"),
        "--from",
        "vm1",
        "--to",
        "vm3",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("Probe: icmp from vm1 to 10.0.10.2, 84 bytes"),
        "{out}"
    );
    assert!(out.contains(" 1. vm1 (vm)"), "{out}");
    assert!(out.contains("tunnel-encap"), "{out}");
    assert!(
        out.trim_end()
            .ends_with("Final: delivered: echo reply received from 10.0.10.2"),
        "{out}"
    );
}

#[test]
fn simulate_json_is_the_trace() {
    let (code, out, _) = netloom(&[
        "simulate",
        &example("seedlab-gre.yaml"),
        "--from",
        "vm1",
        "--to",
        "10.0.10.2",
        "--size",
        "1455",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["disposition"]["outcome"], "dropped");
    assert_eq!(v["disposition"]["reason"], "mtu-exceeded");
    assert_eq!(v["probe"]["size"], 1455);
    assert_eq!(v["hops"][0]["steps"][0]["packet"][0]["layer"], "ipv4");
}

#[test]
fn simulate_dhcp_needs_no_destination() {
    let (code, out, err) = netloom(&[
        "simulate",
        &example("dhcp.yaml"),
        "--from",
        "vm3",
        "--proto",
        "dhcp",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Final: delivered: lease 10.0.10.101/24, router 10.0.10.254"),
        "{out}"
    );
}

#[test]
fn a_bad_probe_exits_two() {
    for args in [
        vec!["--from", "nobody", "--to", "vm1"],
        vec!["--from", "vm1", "--to", "vm3", "--proto", "sctp"],
        vec!["--from", "vm1"],
    ] {
        let mut all = vec!["simulate", "EXAMPLE"];
        all.extend(args.iter());
        let ex = example("seedlab-gre.yaml");
        all[1] = &ex;
        let (code, _, err) = netloom(&all);
        assert_eq!(code, 2, "{all:?}");
        assert!(err.starts_with("netloom simulate: "), "{err}");
    }
}

#[test]
fn reach_json_is_the_spec_report() {
    let (code, out, _) = netloom(&["reach", &example("seedlab-gre.yaml"), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["topology"], "seedlab");
    assert_eq!(v["source"], "simulation");
    assert_eq!(v["results"].as_array().unwrap().len(), 12);
    assert_eq!(v["results"][1]["to"], "10.0.10.2");
    assert_eq!(v["results"][1]["ok"], true);
    assert_eq!(
        v["results"][1]["detail"],
        "echo reply received from 10.0.10.2"
    );
}

#[test]
fn reach_text_is_a_matrix() {
    let (code, out, _) = netloom(&["reach", &example("seedlab-gre.yaml")]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("reach seedlab (simulation): 4 of 12 pairs answer ping"),
        "{out}"
    );
    assert!(out.contains("vm1    -  ✓  x  x"), "{out}");
    assert!(out.contains("vm1 -> 10.0.20.1: no-route"), "{out}");
}
