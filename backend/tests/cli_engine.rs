//! `--engine`: the command line chooses the engine over the file's `engine`.

use std::process::Command;

use serde_json::Value;

fn netloom(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .args(args)
        .output()
        .expect("the netloom binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        o.status.code().unwrap_or(-1),
        text(&o.stdout),
        text(&o.stderr),
    )
}

const NAT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/nat.yaml");

/// vm1 → the port forward from inside: refused by plain OVS's DNAT (only
/// on `in`), taken by OVN's load balancer (on any router port).
fn vm1_forward(args: &[&str]) -> Value {
    let (code, out, err) = netloom(args);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    r["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["from"] == "vm1")
        .cloned()
        .unwrap()
}

#[test]
fn the_engine_flag_gives_the_design_ovns_meaning() {
    assert_eq!(vm1_forward(&["reach", "--json", NAT])["ok"], false);
    assert_eq!(
        vm1_forward(&["reach", "--json", "--engine", "ovn", NAT])["ok"],
        true
    );
    assert_eq!(
        vm1_forward(&["--engine", "ovs", "reach", "--json", NAT])["ok"],
        false
    );
}

#[test]
fn an_unknown_engine_is_a_usage_error_naming_the_choices() {
    let (code, _, err) = netloom(&["reach", "--engine", "neutron", NAT]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("[possible values: ovs, ovn]"), "{err}");
}

/// The design is checked under the engine given: its OVN warnings appear only with it.
#[test]
fn the_engine_flag_validates_under_that_engine() {
    let (code, _, err) = netloom(&["--engine", "ovn", "reach", NAT]);
    assert_eq!(code, 0, "{err}");
    let (_, _, warned) = netloom(&[
        "--engine",
        "ovn",
        "reach",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/seedlab-gre.yaml"),
    ]);
    assert!(
        warned.contains("tunnels[0]: warning: under engine ovn"),
        "{warned}"
    );
    let (_, _, plain) = netloom(&[
        "reach",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/seedlab-gre.yaml"),
    ]);
    assert!(!plain.contains("engine ovn"), "{plain}");
}
