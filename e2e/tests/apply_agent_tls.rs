//! Root test: `netloom agent` with TLS, and the controller reaching it at an
//! `https://` URL. The agent runs inside a test namespace on its loopback; the
//! controller (`netloom plan`, which asks the agent for its facts and
//! observes through it, read-only) runs in the same namespace.

mod apply_support;

use std::path::Path;
use std::process::{Child, Command, Output};

use apply_support::*;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn in_ns(ns: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(bin()).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("netloom")
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn tls_agent_and_https_controller() {
    if !netloom_e2e::root("tls_agent_and_https_controller") {
        return;
    }
    let ns = netloom_e2e::Netns::new("agenttls");
    let dir = std::env::temp_dir().join("netloom-e2e-agenttls");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(&dir);
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let (cert, key, token) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("token"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    netloom_e2e::write_secret(&token, &format!("{TOKEN} e2e-agenttls\n"));
    let p = |f: &Path| f.to_str().unwrap().to_string();

    // Plain TCP on a non-loopback address is refused without --insecure.
    let o = in_ns(
        ns.name(),
        &[
            "agent",
            "--listen",
            "tcp:0.0.0.0:7398",
            "--token-file",
            &p(&token),
        ],
        &[],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("needs TLS"), "{}", text(&o));

    let pidfile = dir.join("agent.pid");
    let _agent = Agent(
        Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(bin())
            .args(["agent", "--listen", "tcp:0.0.0.0:7398"])
            .args([
                "--token-file",
                &p(&token),
                "--tls-cert",
                &p(&cert),
                "--tls-key",
                &p(&key),
            ])
            .args(["--pidfile", &p(&pidfile)])
            .spawn()
            .expect("agent"),
    );
    // The pidfile is written once the agent listens.
    let t0 = std::time::Instant::now();
    while !pidfile.exists() {
        assert!(t0.elapsed().as_secs() < 30, "the agent did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let lab = dir.join("lab.yaml");
    std::fs::write(
        &lab,
        "version: 1\nname: e2e-agenttls\nhosts:\n  - name: real1\n    agent: https://127.0.0.1:7398\n    bridges:\n      - name: br-in\n",
    )
    .unwrap();
    let plan = |env: &[(&str, &str)]| in_ns(ns.name(), &["plan", "--json", &p(&lab)], env);

    let ca = p(&cert);
    let agents = |token: &str, cert: Option<&str>| {
        let f = agents_file(&dir, &[("https://127.0.0.1:7398", token, cert)]);
        p(&f)
    };
    let o = plan(&[("NETLOOM_AGENTS", &agents(TOKEN, Some(&ca)))]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["target"]["name"] == "real1"),
        "{v}"
    );

    // An agent the operator did not configure gets no token: the design's
    // address alone is not enough.
    let none = dir.join("no-agents");
    netloom_e2e::write_secret(&none, "# none\n");
    let o = plan(&[("NETLOOM_AGENTS", &p(&none))]);
    assert!(
        !o.status.success() && text(&o).contains("not one this controller is configured to trust"),
        "{}",
        text(&o)
    );
    // An agents file others can read is refused: it names tokens.
    let open = dir.join("open-agents");
    std::fs::copy(agents(TOKEN, Some(&ca)), &open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let o = plan(&[("NETLOOM_AGENTS", &p(&open))]);
    assert!(
        !o.status.success() && text(&o).contains("lets other users read"),
        "{}",
        text(&o)
    );
    // With the wrong token the agent refuses.
    let o = plan(&[(
        "NETLOOM_AGENTS",
        &agents("wrong-token-wrong-token", Some(&ca)),
    )]);
    assert!(
        !o.status.success() && text(&o).contains("wrong token"),
        "{}",
        text(&o)
    );
    // A certificate the controller does not trust: the handshake fails.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let other_ca = dir.join("other.pem");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let o = plan(&[("NETLOOM_AGENTS", &agents(TOKEN, Some(&p(&other_ca))))]);
    assert!(!o.status.success(), "{}", text(&o));
}

struct Cleanup<'a>(&'a Path);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0);
    }
}
