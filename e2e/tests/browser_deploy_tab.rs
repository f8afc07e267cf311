//! The Deploy tab says what is deployed and what Verify found, in a real
//! headless Chromium, as root on this machine: Verify before Apply says
//! nothing is deployed; a job waiting for its topology's lock can be
//! cancelled; Verify fills the tab's own matrix pair by pair, disagreements
//! first; Status and Plan mention the pairs Verify found broken; after
//! Destroy, Status says nothing is deployed; the canvas marks links up or
//! down as Status and Verify found them. Screenshots:
//! e2e/artifacts/deploytab-*.png.

mod browser;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use browser::{app, job, open_seed_lab, wait_for, Deployed, Server};
use serde_json::json;

/// The lab deployed here (namespaces `nl-bwebfix.…`, used by no other test).
const DEPLOYED: &str = "bwebfix";

/// Holds a topology's deploy lock (as another `netloom apply` would) until dropped.
struct LockHolder(Child);

impl LockHolder {
    fn take(topology: &str) -> LockHolder {
        use std::os::unix::fs::DirBuilderExt;
        let dir = "/run/netloom-lock";
        let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import fcntl, sys\n\
                 f = open(sys.argv[1], 'a+')\n\
                 fcntl.flock(f, fcntl.LOCK_EX)\n\
                 print('held', flush=True)\n\
                 sys.stdin.read()",
                &format!("{dir}/{topology}.lock"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 holds the lock");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held");
        LockHolder(child)
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_deploy_tab_says_what_is_deployed_and_what_verify_found() {
    if !browser::available("the_deploy_tab_says_what_is_deployed_and_what_verify_found")
        || !netloom_e2e::root("the_deploy_tab_says_what_is_deployed_and_what_verify_found")
    {
        return;
    }
    let _guard = Deployed(DEPLOYED);
    let server = Server::start();
    let b = app(&server);
    open_seed_lab(&b, DEPLOYED);
    b.click("#tab-deploy");

    // Verify before Apply: nothing is deployed, not "pairs disagree".
    b.click("#deploy-verify");
    wait_for("Verify's answer", 60, || {
        (b.exists("#deploy-error") || b.exists("#job-result")).then_some(())
    });
    assert!(!b.exists("#job-result"), "{}", b.text("#job-result"));
    let said = b.text("#deploy-error");
    assert!(said.contains("Nothing is deployed"), "{said}");
    b.screenshot("deploytab-1-verify-first");

    // An apply waiting for the lock (held by another) gives up on Cancel.
    {
        let _held = LockHolder::take(DEPLOYED);
        b.click("#deploy-apply");
        wait_for("the apply to wait for the lock", 60, || {
            b.text("#job-log")
                .contains("waiting for topology")
                .then_some(())
        });
        b.click("#deploy-cancel");
        wait_for("the apply to give up", 60, || {
            b.exists("#job-result[data-action=\"apply\"][data-ok=\"false\"]")
                .then_some(())
        });
        let result = b.text("#job-result");
        assert!(result.contains("Cancelled"), "{result}");
        assert!(
            !b.exists("#deploy-cancel"),
            "no Cancel once the job is done"
        );
        b.screenshot("deploytab-2-cancelled");
    }
    assert!(
        !netloom_e2e::netns_list()
            .iter()
            .any(|n| n.starts_with(&format!("nl-{DEPLOYED}."))),
        "a cancelled apply changed nothing"
    );

    // Apply, then vm2 stops answering pings.
    assert!(
        job(&b, "#deploy-apply", "apply", 300),
        "apply failed: {}",
        b.text("#job-result")
    );
    browser::ignore_pings(&format!("nl-{DEPLOYED}.node1.vm2"));

    // Verify: the tab's own matrix, every pair measured, the disagreement first.
    assert!(
        job(&b, "#deploy-verify", "verify", 300),
        "verify failed: {}",
        b.text("#job-result")
    );
    b.wait_css("#deploy-verify-summary[data-disagreements=\"1\"]", 30);
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#deploy-reach-matrix .cell.verified').length",
            json!([])
        ),
        json!(12),
        "every pair measured, on the Deploy tab"
    );
    let bad = b.js(
        "return [...document.querySelectorAll('#deploy-reach-matrix .cell.disagree')].map(c => [c.dataset.from, c.dataset.to])",
        json!([]),
    );
    assert_eq!(bad, json!([["vm4", "10.0.20.1"]]));
    let first = b.js(
        "const first = axis => [...document.querySelectorAll('#deploy-reach-matrix .mx-label.' + axis + ':not(.group)')]
            .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top) || parseFloat(a.style.left) - parseFloat(b.style.left))[0].dataset.name;
         return [first('row'), first('col')]",
        json!([]),
    );
    assert_eq!(
        first,
        json!(["vm2", "10.0.20.1"]),
        "the vm that stopped answering comes first on both axes"
    );
    b.js(
        "document.getElementById('deploy-reach-matrix').scrollIntoView(); return null",
        json!([]),
    );
    b.screenshot("deploytab-3-verified");

    // Status and Plan: nothing to change, but the broken pair is mentioned.
    b.click("#deploy-status-button");
    b.wait_css("#deploy-status[data-deployed=\"true\"]", 60);
    b.wait_css("#deploy-status #status-drift[data-drift=\"0\"]", 30);
    b.wait_css("#deploy-status .last-verify[data-disagreements=\"1\"]", 30);
    assert!(
        b.text("#deploy-status .last-verify")
            .contains("vm4 → 10.0.20.1"),
        "{}",
        b.text("#deploy-status")
    );
    b.click("#deploy-plan-button");
    b.wait_css("#deploy-plan[data-steps=\"0\"]", 60);
    b.wait_css("#deploy-plan .last-verify[data-disagreements=\"1\"]", 30);
    b.screenshot("deploytab-4-status");

    // Links on the canvas as Status and Verify found them: all four up; then
    // vm1's eth0 goes down: Status marks its link down, and Verify finds vm1
    // and vm3 (alone in VLAN 10) cut off both ways.
    let marked = |state: &str| {
        b.js(
            "return [...document.querySelectorAll('#canvas .linkg[data-seen=\"' + arguments[0] + '\"]')].map(g => g.id).sort()",
            json!([state]),
        )
    };
    b.click("#deploy-status-button");
    wait_for("four links up", 60, || {
        (marked("up").as_array().map_or(0, Vec::len) == 4).then_some(())
    });
    let vm1 = format!("nl-{DEPLOYED}.node1.vm1");
    let o = Command::new("ip")
        .args(["-n", &vm1, "link", "set", "eth0", "down"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    b.click("#deploy-status-button");
    wait_for("vm1's link down", 60, || {
        (marked("down") == json!(["hosts-0-vms-0-nics-0"])).then_some(())
    });
    assert!(
        b.text("#hosts-0-vms-0-nics-0 title")
            .contains("eth0 is down or missing"),
        "{}",
        b.text("#hosts-0-vms-0-nics-0 title")
    );
    assert!(
        job(&b, "#deploy-verify", "verify", 300),
        "verify failed: {}",
        b.text("#job-result")
    );
    wait_for("vm1 and vm3 marked down by Verify", 60, || {
        (marked("down") == json!(["hosts-0-vms-0-nics-0", "hosts-1-vms-0-nics-0"])).then_some(())
    });
    b.screenshot("deploytab-4b-links");

    // Destroy: Status says nothing is deployed (no drift box, no empty host).
    assert!(
        job(&b, "#deploy-destroy", "destroy", 300),
        "destroy failed: {}",
        b.text("#job-result")
    );
    b.click("#deploy-status-button");
    b.wait_css("#deploy-status[data-deployed=\"false\"]", 60);
    let status = b.text("#deploy-status");
    assert!(status.contains("Nothing is deployed"), "{status}");
    assert!(
        !b.exists("#deploy-status .result.bad") && !b.exists("#deploy-status .last-verify"),
        "{status}"
    );
    assert_eq!(marked("up"), json!([]), "nothing deployed: no link marked");
    assert_eq!(marked("down"), json!([]));
    b.screenshot("deploytab-5-destroyed");
    b.assert_csp_kept();
}
