//! netloom's end-to-end test harness: real namespaces, real processes.
//!
//! - [`root`]: whether root-only tests can run, and the skip message when not.
//! - [`Netns`]: a network namespace that is deleted when the guard drops,
//!   even when the test panics; [`sweep`] removes leftovers by name prefix.
//!
//! Traffic rule: tests send packets only between namespaces they created
//! (or on loopback), never to any other address.

use std::process::{Command, Output};

/// Every namespace a test creates starts with this, so a sweep finds them.
pub const TEST_PREFIX: &str = "nl-e2e-";

/// True when running as root; otherwise prints why the test is skipped.
pub fn root(test: &str) -> bool {
    // /proc/self/status names the effective uid; no libc call needed.
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        });
    let is_root = euid.as_deref() == Some("0");
    if !is_root {
        eprintln!("SKIPPED {test}: needs root (network namespaces); run `make test` as root");
    }
    is_root
}

/// Run a command (argv, no shell); panic with its stderr if it fails.
pub fn run(argv: &[&str]) -> Output {
    let out = try_run(argv);
    assert!(
        out.status.success(),
        "`{}` failed: {}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run a command (argv, no shell) and return its output whatever the status.
pub fn try_run(argv: &[&str]) -> Output {
    Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", argv[0]))
}

/// Write a secret (a token file): 0600, as netloom requires of them.
pub fn write_secret(path: &std::path::Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // Private from its first byte: made 0600, never chmod-ed after.
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Names of the network namespaces that exist now.
pub fn netns_list() -> Vec<String> {
    let out = try_run(&["ip", "netns", "list"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// A network namespace owned by a test; deleted (with its processes) on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// `ip netns add <TEST_PREFIX><suffix>`; a leftover of the same name is removed first.
    pub fn new(suffix: &str) -> Netns {
        let name = format!("{TEST_PREFIX}{suffix}");
        delete_netns(&name);
        run(&["ip", "netns", "add", &name]);
        run(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        Netns { name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec <ns> argv...`
    pub fn exec(&self, argv: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(argv);
        try_run(&full)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete_netns(&self.name);
    }
}

/// Kill what runs in a namespace, then delete it; quiet when it is absent.
pub fn delete_netns(name: &str) {
    let pids = try_run(&["ip", "netns", "pids", name]);
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
        try_run(&["kill", "-9", pid]);
    }
    try_run(&["ip", "netns", "delete", name]);
}

/// Delete every namespace whose name starts with `prefix` (a leftover sweep).
pub fn sweep(prefix: &str) {
    for ns in netns_list() {
        if ns.starts_with(prefix) {
            delete_netns(&ns);
        }
    }
}
