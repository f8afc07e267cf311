//! `netloom validate` as a user runs it: exit codes and `FILE: path: message` lines.

use std::path::PathBuf;
use std::process::Command;

use netloom_core::limits::MAX_YAML_NODES;

#[path = "../../shared/tests/support/mod.rs"]
mod labs;

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

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netloom-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn example(name: &str) -> String {
    format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_valid_file_exits_zero_and_prints_nothing() {
    let (code, out, _) = netloom(&["validate", &example("seedlab-gre.yaml")]);
    assert_eq!(code, 0);
    assert_eq!(out, "");
}

#[test]
fn an_invalid_file_exits_one_with_one_line_per_problem() {
    let text = std::fs::read_to_string(example("seedlab-gre.yaml"))
        .unwrap()
        .replace("vlan: 10, ip: 10.0.10.1/24", "vlan: 5000, ip: 10.0.10.1/24")
        .replace("key: 5", "key: -1");
    let path = temp_file("bad.yaml", &text);
    let p = path.display().to_string();
    let (code, out, _) = netloom(&["validate", &p]);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let has = |path: &str, says: &str| {
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{p}: {path}: ")) && l.contains(says))
    };
    assert!(
        has("hosts[0].vms[0].nics[0].vlan", "5000 is outside 1..4094"),
        "{out}"
    );
    assert!(
        has("tunnels[0].key", "-1 is outside 0..4294967295"),
        "{out}"
    );
}

/// 160 KB of nested aliases (1.3 million vms once expanded) is refused with
/// the one problem that names the limit, not millions of duplicate names.
#[test]
fn an_alias_bomb_is_refused_naming_the_node_limit() {
    let path = temp_file("bomb.yaml", &labs::alias_bomb());
    let p = path.display().to_string();
    let (code, out, _) = netloom(&["validate", &p]);
    assert_eq!(code, 1, "{}", &out[..out.len().min(500)]);
    assert_eq!(
        out,
        format!("{p}: the document has more than {MAX_YAML_NODES} YAML nodes once its aliases are expanded (an alias counts its anchor's nodes again); the limit is {MAX_YAML_NODES}\n")
    );
}

#[test]
fn an_unreadable_file_exits_two() {
    let (code, _, err) = netloom(&["validate", "/nonexistent/netloom.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/netloom.yaml"), "{err}");
}

#[test]
fn usage_errors_exit_two_and_help_lists_the_commands() {
    let (code, _, _) = netloom(&["validate"]);
    assert_eq!(code, 2);
    let (code, out, _) = netloom(&["--help"]);
    assert_eq!(code, 0);
    for cmd in [
        "validate", "simulate", "reach", "plan", "apply", "verify", "destroy", "serve",
    ] {
        assert!(out.contains(cmd), "--help does not list {cmd}: {out}");
    }
}

#[test]
fn schema_prints_the_json_schema_of_the_format() {
    let (code, out, _) = netloom(&["schema"]);
    assert_eq!(code, 0);
    let schema: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(schema["title"], "TopologySpec");
    assert!(schema["properties"]["hosts"].is_object());
}
