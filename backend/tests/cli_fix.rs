//! `netloom simulate --fix`, `netloom reach --fix` and the intent
//! (`expect:`) as a user runs them.

use std::io::Write;
use std::process::{Command, Stdio};

/// Run netloom with `input` on standard input (the file argument `-`).
fn netloom(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the netloom binary runs");
    let mut stdin = child.stdin.take().unwrap();
    // A usage error exits before reading its input: then the pipe is closed.
    if let Err(e) = stdin.write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SEED: &str = include_str!("../../examples/seedlab-gre.yaml");

/// The seed lab with vm3 in VLAN 20: vm1 no longer reaches it.
fn broken() -> String {
    SEED.replace(
        "{bridge: br-in, vlan: 10, ip: 10.0.10.2/24}",
        "{bridge: br-in, vlan: 20, ip: 10.0.10.2/24}",
    )
}

#[test]
fn simulate_fix_prints_the_proven_suggestions() {
    let args = ["simulate", "-", "--from", "vm1", "--to", "vm3", "--fix"];
    let (code, out, _) = netloom(&args, &broken());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Final: dropped (vlan-mismatch)"), "{out}");
    assert!(
        out.contains("fix suggestions, each proven by the simulator:\n  1. tag vm3's nic eth0 with VLAN 10\n     vm1 -> 10.0.10.2 then succeeds; 1 other pairs start answering, 0 stop:\n       vm3 -> 10.0.10.1 starts\n"),
        "{out}"
    );
    // A probe that succeeds needs nothing.
    let (_, out, _) = netloom(&args, SEED);
    assert!(
        out.trim_end()
            .ends_with("--fix: the probe succeeds already"),
        "{out}"
    );
}

#[test]
fn simulate_fix_json_has_the_trace_and_the_edits() {
    let args = [
        "simulate", "-", "--from", "vm1", "--to", "vm3", "--fix", "--json",
    ];
    let (code, out, _) = netloom(&args, &broken());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["trace"]["disposition"]["reason"], "vlan-mismatch");
    let first = &v["fixes"][0];
    assert_eq!(first["text"][0], "tag vm3's nic eth0 with VLAN 10");
    assert_eq!(first["edits"][0]["edit"], "set-vlan");
    assert_eq!(first["edits"][0]["vlan"], 10);
    assert_eq!(first["edits"][0]["at"]["guest"]["kind"], "vm");
    assert_eq!(first["side_effects"]["started"], 1);
    // Without --fix the JSON is the trace itself, as before.
    let plain = ["simulate", "-", "--from", "vm1", "--to", "vm3", "--json"];
    let (_, out, _) = netloom(&plain, &broken());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["disposition"]["reason"], "vlan-mismatch");
}

#[test]
fn reach_reports_the_intent_and_fixes_it() {
    let text = format!(
        "{}expect:\n  reach: [{{from: vm1, to: vm3}}]\n  isolate: [{{from: vm1, to: vm2}}]\n",
        broken()
    );
    let (code, out, _) = netloom(&["reach", "-"], &text);
    assert_eq!(code, 0);
    assert!(out.contains("\nintent: 1 of 2 expectations hold\n  expect.reach[0]: vm1 -> 10.0.10.2 must reach: VIOLATED (vlan-mismatch at vm1: "), "{out}");
    assert!(
        out.contains("  expect.isolate[0]: vm1 -> 10.0.20.1 must not reach: holds"),
        "{out}"
    );
    assert!(!out.contains("fix suggestions"), "{out}");
    let (_, out, _) = netloom(&["reach", "-", "--fix"], &text);
    assert!(out.contains("\nintent: fix suggestions, each proven by the simulator:\n  1. tag vm3's nic eth0 with VLAN 10\n     the intent then holds; "), "{out}");
    let (_, out, _) = netloom(&["reach", "-", "--fix", "--json"], &text);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["report"]["intent"][0]["holds"], false);
    assert_eq!(v["fixes"][0]["for"], "intent");
    assert_eq!(
        v["fixes"][0]["suggestions"][0]["text"][0],
        "tag vm3's nic eth0 with VLAN 10"
    );
}

#[test]
fn reach_without_intent_fixes_the_first_failed_pairs() {
    let (_, out, _) = netloom(&["reach", "-", "--fix"], &broken());
    assert!(
        out.contains(
            "--fix: the design has no `expect:` section; suggestions for the first failed pairs:"
        ),
        "{out}"
    );
    assert!(out.contains("\nvm1 -> 10.0.10.2: fix suggestions, each proven by the simulator:\n  1. tag vm3's nic eth0 with VLAN 10\n"), "{out}");
    // Without --fix or expect, the text and the JSON are as they were.
    let (_, out, _) = netloom(&["reach", "-", "--json"], SEED);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v.get("intent").is_none() && v.get("fixes").is_none(), "{v}");
    assert_eq!(v["topology"], "seedlab");
}

#[test]
fn a_bad_expect_is_refused_with_its_place() {
    let text = format!("{SEED}expect:\n  reach: [{{from: vm1, to: vm9}}]\n");
    let (code, _, err) = netloom(&["reach", "-", "--fix"], &text);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "-: expect.reach[0].to: no vm, router, dhcp server or external network named \"vm9\""
        ),
        "{err}"
    );
}

#[test]
fn fix_and_real_do_not_go_together() {
    let args = [
        "simulate", "-", "--from", "vm1", "--to", "vm3", "--fix", "--real",
    ];
    let (code, _, err) = netloom(&args, SEED);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
}
