//! `netloom doctor` as a user runs it on this machine: emulated hosts report
//! the machine's own facts; a real host whose agent is not configured is a
//! problem named in words, with exit code 1.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn doctor(file: &Path, env: &[(&str, &str)]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .args(["doctor", "--json"])
        .arg(file)
        .envs(env.iter().copied())
        .output()
        .expect("the netloom binary runs");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

#[test]
fn emulated_hosts_report_this_machine() {
    let (code, v) = doctor(&example("seedlab-gre.yaml"), &[]);
    let hosts = v.as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    for h in hosts {
        let check = &h["check"];
        assert_eq!(
            check["kernel_datapath"],
            Path::new("/sys/module/openvswitch").exists(),
            "{h:#}"
        );
        let modules: Vec<&str> = check["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[0].as_str().unwrap())
            .collect();
        assert_eq!(modules, ["openvswitch", "ip_gre", "vxlan", "8021q"]);
        let facts: Vec<&str> = h["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["fact"].as_str().unwrap())
            .collect();
        assert!(
            facts.iter().any(|f| f.contains("emulated on this machine")),
            "{facts:?}"
        );
    }
    // Exit 0 exactly when no finding is a problem (Open vSwitch installed here).
    let problem = hosts
        .iter()
        .flat_map(|h| h["findings"].as_array().unwrap())
        .any(|f| f["level"] == "problem");
    assert_eq!(code, i32::from(problem));
}

#[test]
fn a_real_host_without_a_configured_agent_is_a_problem() {
    let text = std::fs::read_to_string(example("seedlab-gre.yaml"))
        .unwrap()
        .replacen(
            "    bridges:",
            "    agent: https://node1.example.net:7311\n    bridges:",
            1,
        );
    let dir = std::env::temp_dir().join(format!("netloom-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lab.yaml");
    std::fs::write(&file, text).unwrap();
    let agents = dir.join("no-agents");
    let (code, v) = doctor(&file, &[("NETLOOM_AGENTS", agents.to_str().unwrap())]);
    assert_eq!(code, 1);
    let node1 = &v[0];
    assert_eq!(node1["check"], Value::Null);
    assert_eq!(node1["findings"][0]["level"], "problem");
    assert!(
        node1["findings"][0]["fact"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{node1:#}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
