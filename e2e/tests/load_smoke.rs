//! A short run of the load generator (5 clients, 2 s): every request of the
//! mix must succeed. The real measurement is `e2e/load.sh`.

use std::path::PathBuf;
use std::process::Command;

/// The netloom binary of this build (built here when missing, e.g. under `cargo test -p netloom-e2e`).
fn netloom() -> PathBuf {
    let b = PathBuf::from(env!("CARGO_BIN_EXE_loadgen")).with_file_name("netloom");
    if !b.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-p", "netloom", "--bin", "netloom"])
            .status()
            .expect("cargo build");
        assert!(st.success(), "cannot build netloom");
    }
    b
}

#[test]
fn five_clients_two_seconds_no_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--clients", "5", "--seconds", "2", "--netloom"])
        .arg(netloom())
        .output()
        .expect("run loadgen");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains(", 0 errors"), "{report}");
    // Every operation of the mix ran.
    for op in ["validate", "simulate", "list", "open", "save"] {
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("| {op} |")))
            .unwrap_or_else(|| panic!("no {op} line: {report}"));
        let count: u64 = line.split('|').nth(2).unwrap().trim().parse().unwrap();
        assert!(count > 0, "{report}");
    }
}
