//! Root test: DHCP clients the model predicts no lease for (the planner's
//! `nolease` lab: vm2 asks in a VLAN without a server, vm4 after vm3 took the
//! one address of its server's range). Apply exits 0 and says "no lease
//! (predicted)" for each, verify agrees with reach, a second apply does
//! nothing, status lists their running clients. When reality differs (a DHCP
//! server the file does not know answers in vm2's VLAN), apply warns, the
//! lease is configured and verify shows the difference. Destroy leaves nothing.

mod apply_support;

use std::path::PathBuf;

use serde_json::Value;

use apply_support::*;

const NAME: &str = "e2e-nolease";

fn ns(vm: &str) -> String {
    format!("nl-{NAME}.node1.{vm}")
}

/// A dnsmasq the topology file does not know, inside a namespace of the
/// lab; stopped (and its files removed) on drop.
struct Unplanned {
    dir: PathBuf,
}

impl Unplanned {
    fn start(netns: &str, range: &str) -> Unplanned {
        let dir = std::env::temp_dir().join(format!("netloom-{NAME}-dnsmasq"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_str().unwrap();
        netloom_e2e::run(&[
            "ip",
            "netns",
            "exec",
            netns,
            "dnsmasq",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--port=0",
            "--interface=eth0",
            "--bind-interfaces",
            &format!("--dhcp-range={range},255.255.255.0,infinite"),
            "--dhcp-option=3",
            "--no-ping",
            "--user=root",
            &format!("--pid-file={d}/dnsmasq.pid"),
            &format!("--dhcp-leasefile={d}/dnsmasq.leases"),
        ]);
        Unplanned { dir }
    }
}

impl Drop for Unplanned {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.join("dnsmasq.pid")).unwrap_or_default();
        let _ = netloom_e2e::try_run(&["kill", pid.trim()]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `netloom status --json`: vm `vm`'s first interface and its processes.
fn vm_status(lab: &Lab, vm: &str) -> (Value, Vec<Value>) {
    let s: Value = serde_json::from_str(&ok(&["status", "--json", lab.path()])).unwrap();
    let g = s["hosts"][0]["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == vm)
        .unwrap_or_else(|| panic!("no {vm} in {s}"))
        .clone();
    (
        g["interfaces"][0].clone(),
        g["processes"].as_array().cloned().unwrap_or_default(),
    )
}

/// The pid of vm `vm`'s DHCP client running in the background, as status lists it.
fn client_pid(lab: &Lab, vm: &str) -> i64 {
    let (_, procs) = vm_status(lab, vm);
    let udhcpc: Vec<&Value> = procs.iter().filter(|p| p["name"] == "udhcpc").collect();
    assert_eq!(udhcpc.len(), 1, "{vm}: {procs:?}");
    udhcpc[0]["pid"].as_i64().unwrap()
}

#[test]
fn clients_without_a_predicted_lease_apply_and_a_lease_anyway_is_a_warning() {
    if !netloom_e2e::root(NAME) {
        return;
    }
    let links_before = root_links();
    let text = include_str!("../../shared/tests/labs/nolease.yaml")
        .replace("name: nolease", &format!("name: {NAME}"));
    let lab = Lab::from_text(NAME, text);

    let out = ok(&["apply", lab.path()]);
    assert!(out.contains(" steps in "), "{out}");
    // The clients start at once: their lines come in either order.
    let mut said: Vec<&str> = out.lines().filter(|l| l.contains("no lease")).collect();
    said.sort();
    assert_eq!(
        said,
        ["vm2", "vm4"]
            .map(|vm| format!("node1: + dhcp-client {}/eth0: no lease (predicted)", ns(vm))),
        "{out}"
    );
    let d = lab.verify();
    assert!(d.is_empty(), "verify disagrees with reach: {d:#?}");
    assert!(lab.plan_steps().is_empty(), "{:#?}", lab.plan_steps());
    let again = ok(&["apply", lab.path()]);
    assert!(again.contains("applied 0 steps"), "{again}");

    // Status: the clients run on, with no lease, as predicted; vm3 got its lease.
    for vm in ["vm2", "vm4"] {
        let (iface, _) = vm_status(&lab, vm);
        assert_eq!(iface["no_lease_predicted"], true, "{iface}");
        assert!(iface.get("lease").is_none(), "{iface}");
        let pid = client_pid(&lab, vm);
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{vm}"
        );
    }
    let (vm3, procs) = vm_status(&lab, "vm3");
    assert_eq!(vm3["lease"], "10.0.10.100/24", "{vm3}");
    assert!(vm3.get("no_lease_predicted").is_none() && procs.is_empty());

    // Reality differs: a server the file does not know answers in vm2's VLAN.
    // Both clients are gone (killed): the next apply starts them again. The
    // server starts after: the old client's next try would get its lease.
    for vm in ["vm2", "vm4"] {
        kill_dead(&client_pid(&lab, vm).to_string());
    }
    let _server = Unplanned::start(&ns("vm1"), "10.0.20.50,10.0.20.60");
    let planned = lab.plan_steps();
    assert_eq!(
        planned,
        ["vm2", "vm4"].map(|vm| format!("create dhcp_client {}", ns(vm))),
    );
    let o = netloom(&["apply", "--json", lab.path()]);
    assert!(o.status.success(), "{o:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let event = |vm: &str| {
        lines
            .iter()
            .find(|e| e["step"].as_str().is_some_and(|s| s.contains(&ns(vm))))
            .unwrap_or_else(|| panic!("no event for {vm}: {lines:#?}"))
    };
    assert_eq!(event("vm4")["note"], "no lease (predicted)");
    let warning = event("vm2")["warning"].as_str().unwrap_or_default();
    assert!(
        warning.starts_with("got the lease 10.0.20.5") && event("vm2")["ok"] == true,
        "{lines:#?}"
    );
    assert_eq!(lines.last().unwrap()["steps"], 2, "{lines:#?}");

    // The lease is configured; the running client is what the plan wants.
    let (vm2, _) = vm_status(&lab, "vm2");
    let lease = vm2["lease"].as_str().unwrap().to_string();
    assert!(warning.contains(&lease), "{warning} / {vm2}");
    assert_eq!(vm2["no_lease_predicted"], true);
    assert!(lab.plan_steps().is_empty(), "{:#?}", lab.plan_steps());
    // verify shows the difference: vm1 reaches vm2's lease, which reach does not know.
    let addr = lease.split('/').next().unwrap();
    let d = lab.verify();
    assert!(
        d.iter().any(|x| x["from"] == "vm1"
            && x["to"] == addr
            && x["real"] == true
            && x["simulation"].is_null()),
        "{d:#?}"
    );

    let out = ok(&["destroy", lab.path()]);
    assert!(out.contains("destroyed"), "{out}");
    assert_no_residue(NAME, &links_before);
}
