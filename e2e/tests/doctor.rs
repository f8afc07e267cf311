//! Root test: `netloom doctor` asks a real host's agent what it has. The
//! agent is this machine's, its OVSDB the applied lab's node1 database, so
//! the bridges it reports are the lab's own; the underlay address is one no
//! device holds here, which doctor names as a problem.

mod apply_support;

use std::time::{Duration, Instant};

use apply_support::*;
use serde_json::Value;

#[test]
fn a_real_hosts_agent_says_what_its_host_has() {
    if !netloom_e2e::root("a_real_hosts_agent_says_what_its_host_has") {
        return;
    }
    let lab = Lab::new("seedlab-gre.yaml", "e2e-doc");
    ok(&["apply", lab.path()]);
    let dir = std::env::temp_dir().join("netloom-e2e-doc");
    let db = format!("unix:/run/netloom/{}/node1/db.sock", lab.name);
    let agent = LocalAgent::start(&dir, &lab, &["--ovsdb", &db]);
    let env = [("NETLOOM_AGENTS", agent.agents.to_str().unwrap())];
    let args = ["doctor", "--json", agent.design.to_str().unwrap()];
    // The agent may still be starting: asked again until it answers.
    let until = Instant::now() + Duration::from_secs(30);
    let v: Value = loop {
        let o = netloom_env(&args, &env);
        let v: Value = serde_json::from_slice(&o.stdout).expect("doctor's JSON");
        if v[0]["check"] != Value::Null {
            assert_eq!(
                o.status.code(),
                Some(1),
                "the underlay address is nowhere: {v:#}"
            );
            break v;
        }
        assert!(Instant::now() < until, "the agent never answered: {v:#}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let node1 = &v[0];
    let topo = netloom_core::load(&lab.text).unwrap().topology;
    let ours = &topo.bridges[topo.hosts[0].bridges[0]].ovs_name;
    let bridges = node1["check"]["bridges"].as_array().unwrap();
    assert!(
        bridges.contains(&serde_json::json!([ours, lab.name])),
        "{node1:#}"
    );
    let says = |fact: &str| {
        node1["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["fact"].as_str().unwrap().contains(fact))
    };
    assert!(
        says(&format!("bridge {ours} is this topology's")),
        "{node1:#}"
    );
    assert!(
        says("no device holds the underlay address 172.31.0.1"),
        "{node1:#}"
    );
    // node2 stays emulated: this machine, told as such.
    assert!(v[1]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["fact"].as_str().unwrap().contains("emulated")));
}
