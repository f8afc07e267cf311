//! Root test: `netloom export --shell` is the same deployment as `apply`.
//! The script of each lab, run with `sh` (one `ip` / `ovs-vsctl` / `nft` /
//! `dnsmasq` / `udhcpc` process per step), builds a network that `verify`
//! finds equal to `reach`, which `apply` then finds complete (an empty plan),
//! and which `destroy --name` removes without residue.

mod apply_support;

use std::process::Command;

use apply_support::*;

/// `bookkeeping`: what apply alone keeps and so still plans after the
/// script: the hosts' agents, and netloom's own record of each DHCP client's
/// lease (the script's clients configure their lease themselves).
fn script_builds_what_apply_would(example: &str, name: &str, bookkeeping: &[&str]) {
    if !netloom_e2e::root(name) {
        return;
    }
    script_builds_what_apply_would_of(Lab::new(example, name), bookkeeping);
}

fn script_builds_what_apply_would_of(lab: Lab, bookkeeping: &[&str]) {
    let name = lab.name.as_str();
    let links_before = root_links();
    let script = ok(&["export", "--shell", lab.path()]);
    let file = std::env::temp_dir().join(format!("netloom-{name}.sh"));
    std::fs::write(&file, &script).unwrap();
    let out = Command::new("sh").arg(&file).output().expect("sh");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "the script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_ipv6(name);
    assert_tuning(name, !lab.text.contains("engine: ovn"));
    let d = lab.verify();
    assert!(d.is_empty(), "verify disagrees after the script: {d:#?}");
    let plan = lab.plan();
    assert!(
        plan.get("northbound").is_none(),
        "the northbound database still differs: {:#}",
        plan["northbound"]
    );
    let left = steps(&plan);
    assert!(
        left.iter().all(|s| s.starts_with("create agent ")
            || bookkeeping
                .iter()
                .any(|b| s.contains(&format!("{name}.{b}")))),
        "apply would still change: {left:#?}"
    );
    let out = ok(&["destroy", "--name", name]);
    assert!(out.contains("destroyed"), "{out}");
    assert_no_residue(name, &links_before);
}

/// Every emulated host's switch the script started has apply's tuning
/// (`tuned`), or, on an OVN chassis, none of it.
fn assert_tuning(name: &str, tuned: bool) {
    let mut hosts = 0;
    for e in std::fs::read_dir(format!("/run/netloom/{name}")).unwrap() {
        let sock = e.unwrap().path().join("db.sock");
        if !sock.exists() {
            continue;
        }
        hosts += 1;
        for (k, v) in netloom_core::plan::EMULATED_OVS_TUNING {
            let out = netloom_e2e::try_run(&[
                "ovs-vsctl",
                &format!("--db=unix:{}", sock.display()),
                "--if-exists",
                "get",
                "Open_vSwitch",
                ".",
                &format!("other_config:{k}"),
            ]);
            let got = String::from_utf8_lossy(&out.stdout);
            let want = if tuned {
                format!("\"{v}\"")
            } else {
                String::new()
            };
            assert_eq!(got.trim(), want, "{}: {k}", sock.display());
        }
    }
    assert!(
        hosts > 0,
        "no emulated host's OVSDB under /run/netloom/{name}"
    );
}

#[test]
fn seed_lab_script() {
    script_builds_what_apply_would("seedlab-gre.yaml", "e2e-xseed", &[]);
}

#[test]
fn dhcp_lab_script() {
    script_builds_what_apply_would("dhcp.yaml", "e2e-xdhcp", &["node2.vm2", "node2.vm3"]);
}

/// Clients the model predicts no lease for start in the background, as
/// apply starts them (apply then finds them running, and plans nothing for them).
#[test]
fn no_lease_lab_script() {
    let name = "e2e-xnolease";
    if !netloom_e2e::root(name) {
        return;
    }
    let text = include_str!("../../shared/tests/labs/nolease.yaml")
        .replace("name: nolease", &format!("name: {name}"));
    script_builds_what_apply_would_of(Lab::from_text(name, text), &["node1.vm3"]);
}

/// The same under `engine: ovn`: the central, each chassis and the one
/// northbound transaction, as plain commands; then nothing is left to plan,
/// not even in the northbound database.
fn ovn_script(example: &str, name: &str) {
    if !netloom_e2e::root(name) {
        return;
    }
    let base = Lab::new(example, name);
    let text = base.text.replacen(
        &format!("name: {name}\n"),
        &format!("name: {name}\nengine: ovn\n"),
        1,
    );
    drop(base);
    let lab = Lab::from_text(name, text);
    let script = ok(&["export", "--shell", lab.path()]);
    assert!(script.contains("ovsdb-client transact"), "{script}");
    script_builds_what_apply_would_of(lab, &[]);
}

#[test]
fn seed_lab_script_on_ovn() {
    ovn_script("seedlab-gre.yaml", "e2e-xovseed");
}

#[test]
fn nat_lab_script_on_ovn() {
    ovn_script("nat.yaml", "e2e-xovnat");
}
