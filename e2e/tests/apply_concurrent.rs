//! Root test: applies at the same time. Two applies of one topology never
//! interleave (the second waits, then finds nothing left to do); applies of
//! different topologies on the same machine do not disturb each other.

mod apply_support;

use std::process::{Child, Command, Stdio};

use apply_support::*;

fn spawn_apply(lab: &Lab) -> Child {
    Command::new(bin())
        .args(["apply", lab.path()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netloom apply")
}

fn finish(child: Child) -> String {
    let out = child.wait_with_output().expect("wait for netloom apply");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "apply failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The N of "applied N steps".
fn steps_applied(out: &str) -> usize {
    out.split("applied ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step count in {out:?}"))
}

#[test]
fn two_applies_of_one_topology_never_interleave() {
    if !netloom_e2e::root("two_applies_of_one_topology_never_interleave") {
        return;
    }
    let links_before = root_links();
    let lab = Lab::new("seedlab-gre.yaml", "e2e-cc1");
    let (a, b) = (spawn_apply(&lab), spawn_apply(&lab));
    let mut counts = [steps_applied(&finish(a)), steps_applied(&finish(b))];
    counts.sort();
    assert_eq!(counts[0], 0, "both applies planned work: they interleaved");
    assert!(counts[1] > 0, "neither apply built the lab");
    assert!(lab.plan_steps().is_empty(), "{:#?}", lab.plan_steps());
    let d = lab.verify();
    assert!(d.is_empty(), "verify disagrees with reach: {d:#?}");
    ok(&["destroy", lab.path()]);
    assert_no_residue(&lab.name, &links_before);
}

#[test]
fn applies_of_different_topologies_run_side_by_side() {
    if !netloom_e2e::root("applies_of_different_topologies_run_side_by_side") {
        return;
    }
    let links_before = root_links();
    let gre = Lab::new("seedlab-gre.yaml", "e2e-cc2");
    let vxlan = Lab::new("vxlan.yaml", "e2e-cc3");
    let (a, b) = (spawn_apply(&gre), spawn_apply(&vxlan));
    assert!(steps_applied(&finish(a)) > 0);
    assert!(steps_applied(&finish(b)) > 0);
    for lab in [&gre, &vxlan] {
        let d = lab.verify();
        assert!(
            d.is_empty(),
            "{}: verify disagrees with reach: {d:#?}",
            lab.name
        );
    }
    ok(&["destroy", gre.path()]);
    assert_no_residue(&gre.name, &links_before);
    // Destroying one left the other whole.
    assert!(vxlan.plan_steps().is_empty(), "{:#?}", vxlan.plan_steps());
    assert!(vxlan.verify().is_empty());
    ok(&["destroy", vxlan.path()]);
    assert_no_residue(&vxlan.name, &links_before);
}
