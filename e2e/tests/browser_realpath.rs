//! The real path in the Simulate tab, in a real headless Chromium, as root
//! on this machine: with the seed lab applied, "Real path" for vm1 → vm3
//! says reality agrees, every frame seen on its links; once vm3 ignores
//! pings, it names the first frame no link saw: vm3's reply. Before the lab
//! is applied, the server's reason is shown. Screenshot:
//! e2e/artifacts/realpath.png.

mod browser;

use browser::{ignore_pings, job, wait_for, Browser};

/// The lab deployed here (namespaces `nl-e2e-brreal.…`, used by no other test).
const DEPLOYED: &str = "e2e-brreal";

/// Fill the probe vm1 → vm3 and ask for its real path; the text that comes.
fn real_path(b: &Browser) -> String {
    b.click("#tab-sim");
    b.set_field("#sim-from", "vm1");
    b.set_field("#sim-to", "vm3");
    b.click("#sim-real");
    wait_for("the real path", 60, || {
        let t = b.text("#real-verdict");
        let e = b.text("#real-error");
        (!b.exists("#real-busy") && (!t.is_empty() || !e.is_empty())).then(|| format!("{t}{e}"))
    })
}

#[test]
fn the_real_path_beside_the_trace() {
    let Some((_guard, _server, b)) =
        browser::seed_lab_app("the_real_path_beside_the_trace", DEPLOYED)
    else {
        return;
    };
    assert!(real_path(&b).contains("is e2e-brreal applied?"));
    b.click("#tab-deploy");
    assert!(job(&b, "#deploy-apply", "apply", 300), "apply failed");
    let said = real_path(&b);
    assert!(said.starts_with("Reality agrees"), "{said}");
    assert!(b.text("#real-path").contains("seen on tunnels[0]"));
    ignore_pings(&format!("nl-{DEPLOYED}.node2.vm3"));
    let said = real_path(&b);
    assert!(
        said.starts_with("First difference") && said.contains("at vm3"),
        "{said}"
    );
    b.screenshot("realpath");
    b.assert_csp_kept();
}
