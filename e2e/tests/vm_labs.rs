//! Root test: every example lab applied to two real Debian kernels in VMs
//! (OVS kernel datapath, kernel GRE/VXLAN, 802.1Q), from this machine's
//! controller, through each VM's agent over TLS (`vm_support`).
//!
//! For each lab: `plan` names the kernel datapath; `apply`; `verify` agrees
//! with `reach` on every pair; a second apply is a no-op; `status` shows no
//! drift; `destroy` leaves nothing in the VMs (OVS rows, namespaces, links,
//! nft tables, processes, files), and a bridge netloom did not make is
//! untouched. The seed lab carries VLAN tags across a kernel GRE tunnel, the
//! VXLAN lab across a kernel VXLAN one; through each, the largest packet is
//! the simulator's, byte for byte, in the kernel too. Then the seed lab again
//! with both agents reached over SSH, as the README's steps do it. Last,
//! `doctor` names a kernel datapath that loses every upcall (Open vSwitch
//! 3.1.0 started early in a boot, made so with a time namespace) and sees
//! the restart it advises mend it.

mod apply_support;
mod vm_support;

use apply_support::Lab;
use serde_json::Value;
use vm_support::{Vm, VmLab};

/// The labs, each under a name of its own (the VMs' token allows these).
const LABS: [(&str, &str); 4] = [
    ("seedlab-gre.yaml", "e2e-vmseed"),
    ("vxlan.yaml", "e2e-vmvx"),
    ("dhcp.yaml", "e2e-vmdhcp"),
    ("nat.yaml", "e2e-vmnat"),
];

/// The example with its host `i` made VM `i`: its agent (over TLS) and its underlay address.
fn on_vms(vms: &VmLab, example: &str, name: &str) -> Lab {
    on_vms_by(vms, example, name, |i| vms.url(i))
}

/// [`on_vms`] with host `i`'s agent at `agent(i)`.
fn on_vms_by(vms: &VmLab, example: &str, name: &str, agent: impl Fn(usize) -> String) -> Lab {
    Lab::from_text(name, vms.example(example, name, agent))
}

/// One lab's whole cycle on the VMs.
fn cycle(vms: &mut VmLab, example: &str, name: &str) {
    let lab = on_vms(vms, example, name);
    let before: Vec<String> = vms.vms.iter_mut().map(vm_support::inventory).collect();

    let plan = vms.json(&["plan", "--json", lab.path()]);
    // The first target is the controller's own (its run directory).
    for t in plan["targets"].as_array().unwrap().iter().skip(1) {
        assert_eq!(t["target"]["emulated"], false, "{name}: {t}");
        assert_eq!(t["target"]["datapath"], "system", "{name}: {t}");
    }
    let out = vms.ok(&["apply", lab.path()]);
    assert!(out.contains("applied"), "{name}: {out}");

    // verify fails when reality and prediction disagree: its report says where.
    let o = vms.netloom(&["verify", "--json", lab.path()]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: verify: {e}\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let reach = vms.json(&["reach", "--json", lab.path()]);
    assert_eq!(v["report"]["source"], "real", "{name}: {v}");
    assert_eq!(
        v["report"]["results"].as_array().unwrap().len(),
        reach["results"].as_array().unwrap().len(),
        "{name}: {v}"
    );
    if v["disagreements"] != Value::Array(vec![]) {
        let state: Vec<String> = vms.vms.iter_mut().map(vm_support::diagnose).collect();
        panic!("{name}: {v}\n{}", state.join("\n"));
    }
    assert!(
        v["report"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ok"] == true),
        "{name}: nothing reaches: {v}"
    );

    let again = vms.json(&["plan", "--json", lab.path()]);
    assert!(apply_support::steps(&again).is_empty(), "{name}: {again}");
    let out = vms.ok(&["apply", lab.path()]);
    assert!(out.contains("applied 0 steps"), "{name}: {out}");
    let status = vms.json(&["status", "--json", lab.path()]);
    assert_eq!(status["drift"], Value::Array(vec![]), "{name}: {status}");

    if name == "e2e-vmnat" {
        uplink_capture(vms, &lab);
    }
    // GRE and VXLAN (with VLAN 10 inside) in the kernel: the simulator's MTU.
    if ["e2e-vmseed", "e2e-vmvx"].contains(&name) {
        vm_support::largest_packet(vms, &lab);
    }

    let out = vms.ok(&["destroy", lab.path()]);
    assert!(out.contains("destroyed"), "{name}: {out}");
    for (vm, was) in vms.vms.iter_mut().zip(&before) {
        let rows = vm.sh(&format!(
            "ovs-vsctl --columns=name find bridge external_ids:netloom-topology={name}; \
             ovs-vsctl --columns=name find port external_ids:netloom-topology={name}"
        ));
        assert_eq!(rows.trim(), "", "{name}: OVS rows left in {}", vm.name);
        assert_eq!(
            &vm_support::inventory(vm),
            was,
            "{name}: {} changed",
            vm.name
        );
    }
}

/// The NAT lab's uplink captured through node1's agent: vm1's pings to the
/// upstream router leave masqueraded as r1's outside address.
fn uplink_capture(vms: &mut VmLab, lab: &Lab) {
    let mut capture = vms
        .command(&[
            "capture",
            lab.path(),
            "--link",
            "node1/br-ex:uplink",
            "-c",
            "6",
            "--duration",
            "60",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("netloom capture");
    // Pings (and their replies) until it has six packets, however long the
    // agent takes to open it.
    let vm1 = format!("nl-{}.node1.vm1", lab.name);
    let t0 = std::time::Instant::now();
    while capture.try_wait().expect("capture status").is_none() && t0.elapsed().as_secs() < 60 {
        vms.vms[0].sh(&format!(
            "ip netns exec {vm1} ping -c 2 -i 0.5 -W 1 -q -n 198.51.100.1 >/dev/null; true"
        ));
    }
    let o = capture.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(out.lines().count(), 6, "{out}");
    assert!(
        out.contains("ipv4 198.51.100.2 > 198.51.100.1") && out.contains("icmp echo request"),
        "{out}"
    );
    // The inside address never shows outside.
    assert!(!out.contains("10.0.0."), "{out}");
}

#[test]
fn every_example_on_two_vms() {
    if !netloom_e2e::root("every_example_on_two_vms") {
        return;
    }
    let names: Vec<&str> = LABS.iter().map(|(_, n)| *n).collect();
    let t0 = std::time::Instant::now();
    let mut vms = VmLab::boot("vmlabs", 2, &names);
    eprintln!("vm_labs: boot: {:.1?}", t0.elapsed());
    // A bridge of the machine's own, not netloom's: it must come through untouched.
    vms.vms[0].sh("ovs-vsctl add-br br-user");
    // Each part's time, for docs/performance.md ("Real hosts in VMs").
    let timed =
        |what: &str, t0: std::time::Instant| eprintln!("vm_labs: {what}: {:.1?}", t0.elapsed());
    for (example, name) in LABS {
        let t0 = std::time::Instant::now();
        cycle(&mut vms, example, name);
        timed(name, t0);
    }
    let t0 = std::time::Instant::now();
    over_ssh(&mut vms);
    timed("over ssh", t0);
    let t0 = std::time::Instant::now();
    lost_upcalls(&mut vms);
    timed("lost upcalls", t0);
    assert!(
        vms.vms[0].sh("ovs-vsctl list-br").contains("br-user"),
        "the machine's own bridge is gone"
    );
}

/// `doctor` names a kernel datapath that loses every upcall: vm1's
/// `ovs-vswitchd` restarted in a time namespace whose clock says the host
/// has been up 1 s, so Open vSwitch 3.1.0 gives the datapath it makes again
/// no handler (e2e/vm/guest.sh says why); then a real restart mends it.
fn lost_upcalls(vms: &mut VmLab) {
    let lab = on_vms(vms, "seedlab-gre.yaml", "e2e-vmseed");
    let vswitchd = "ovs-vswitchd --pidfile=/run/openvswitch/ovs-vswitchd.pid --detach \
                    --log-file=/var/log/openvswitch/ovs-vswitchd.log";
    let vm1 = &mut vms.vms[0];
    vm1.sh(&format!(
        "ovs-appctl -t ovs-vswitchd exit && ovs-dpctl del-dp system@ovs-system && \
         : > /var/log/openvswitch/ovs-vswitchd.log && \
         unshare --time --fork --monotonic=-$(( $(cut -d. -f1 /proc/uptime) - 1 )) {vswitchd} && \
         ip link add nlt0 type veth peer name nlt1 && ovs-vsctl add-port br-user nlt0 && \
         ip link set nlt0 up && ip link set nlt1 up && ip addr add 192.168.77.1/24 dev nlt1"
    ));
    let log = vm1.sh("cat /var/log/openvswitch/ovs-vswitchd.log");
    assert!(
        log.contains("n-handler-threads to 0"),
        "the datapath got a handler after all:\n{log}"
    );
    // ARP requests from nlt1 into br-user: each a packet with no flow.
    let arp = "ping -c 3 -i 0.3 -W 1 -q 192.168.77.2; ovs-dpctl show system@ovs-system";
    let shown = vm1.sh(&format!("{arp} | grep lookups"));
    let doctor = |vms: &VmLab| {
        let o = vms.netloom(&["doctor", "--json", lab.path()]);
        let v: Value = serde_json::from_slice(&o.stdout).expect("doctor's JSON");
        let node1 = v
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == "node1")
            .cloned()
            .unwrap_or_else(|| panic!("{v}"));
        let about: Vec<Value> = node1["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                f["fact"]
                    .as_str()
                    .unwrap()
                    .contains("passed up to ovs-vswitchd")
            })
            .cloned()
            .collect();
        (o.status.success(), node1, about)
    };
    let count = |node1: &Value, key: &str| node1["check"]["upcalls"][key].as_u64();
    let (ok, first, about) = doctor(vms);
    assert!(
        !ok && count(&first, "lost") > Some(0) && count(&first, "handlers") == Some(0),
        "{shown}\n{first}"
    );
    assert_eq!(about.len(), 1, "{first}");
    assert_eq!(about[0]["level"], "problem", "{first}");
    assert!(
        about[0]["action"]
            .as_str()
            .unwrap()
            .contains("restart ovs-vswitchd"),
        "{first}"
    );

    // The mend doctor names: the losses stay counted, new misses reach the switch.
    let vm1 = &mut vms.vms[0];
    vm1.sh(&format!("ovs-appctl -t ovs-vswitchd exit && {vswitchd}"));
    let shown = vm1.sh(&format!("{arp} | grep lookups"));
    let (ok, node1, about) = doctor(vms);
    // What arrived while no ovs-vswitchd ran is lost too: of the misses
    // since, fewer were lost (the ARP's first is read and makes a flow).
    let since = |key: &str| count(&node1, key).unwrap_or(0) - count(&first, key).unwrap_or(0);
    assert!(
        ok && count(&node1, "handlers") > Some(0) && since("missed") > since("lost"),
        "{shown}\n{node1}"
    );
    assert_eq!(about.len(), 1, "{node1}");
    assert_eq!(about[0]["level"], "note", "{node1}");
    vms.vms[0].sh("ovs-vsctl del-port br-user nlt0 && ip link del nlt1");
}

/// Logins to `vm`'s sshd as `user` so far.
fn logins(vm: &mut Vm, user: &str) -> usize {
    let (out, _) = vm.sh_status(&format!(
        "grep -c 'Accepted publickey for {user} ' /var/log/sshd.log"
    ));
    out.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}: {out}", vm.name))
}

/// The seed lab with both agents reached over SSH (`ssh://root@ADDR`):
/// no token, no certificate. vm1 has no netloom of this version, so this one
/// is copied there first; vm2 has one on its PATH, which is used. All the
/// commands' requests to a VM share one login. Then a user other than root,
/// through `sudo -n`.
fn over_ssh(vms: &mut VmLab) {
    let name = "e2e-vmssh";
    let lab = on_vms_by(vms, "seedlab-gre.yaml", name, |i| vms.ssh_url(i));
    let before: Vec<String> = vms.vms.iter_mut().map(vm_support::inventory).collect();
    let bin = apply_support::bin().canonicalize().unwrap();
    vms.vms[1].sh(&format!("ln -s {} /usr/local/bin/netloom", bin.display()));

    // An ssh agent the operator did not list is not logged in to.
    let unlisted = on_vms_by(vms, "seedlab-gre.yaml", "e2e-vmssh2", |i| {
        format!("ssh://{}", vms.vms[i].ip)
    });
    let o = vms.netloom(&["plan", unlisted.path()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("is not one this controller is configured to trust"),
        "{err}"
    );

    // A host key the controller does not know is refused, in ssh's words.
    let stranger = vms.dir.join("ssh_config_stranger");
    let config = std::fs::read_to_string(&vms.ssh_config).unwrap();
    std::fs::write(
        &stranger,
        config.replace("known_hosts", "known_hosts_empty"),
    )
    .unwrap();
    std::fs::write(vms.dir.join("known_hosts_empty"), "").unwrap();
    let o = vms.netloom_with(&["plan", lab.path()], &[("NETLOOM_SSH_CONFIG", &stranger)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("Host key verification failed"),
        "{err}"
    );

    // The README's steps: doctor, plan, apply, verify, destroy.
    let t0 = std::time::Instant::now();
    let doctor = vms.json(&["doctor", "--json", lab.path()]);
    eprintln!(
        "vm_labs: first logins, netloom copied to vm1: {:.1?}",
        t0.elapsed()
    );
    for h in doctor.as_array().unwrap() {
        assert_eq!(h["check"]["kernel_datapath"], true, "{h}");
    }
    let plan = vms.json(&["plan", "--json", lab.path()]);
    for t in plan["targets"].as_array().unwrap().iter().skip(1) {
        assert_eq!(t["target"]["datapath"], "system", "{t}");
    }
    let pushed = "/usr/local/lib/netloom/netloom-0.1.0";
    let (_, there) = vms.vms[0].sh_status(&format!("test -x {pushed}"));
    assert_eq!(there, 0, "netloom was not copied to vm1");
    let (_, there) = vms.vms[1].sh_status(&format!("test -e {pushed}"));
    assert_ne!(there, 0, "vm2's own netloom was not used");

    vms.ok(&["apply", lab.path()]);
    let o = vms.netloom(&["verify", "--json", lab.path()]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["disagreements"], Value::Array(vec![]), "{v}");
    assert!(vms.ok(&["apply", lab.path()]).contains("applied 0 steps"));
    vms.ok(&["destroy", lab.path()]);
    for (vm, was) in vms.vms.iter_mut().zip(&before) {
        vm.sh("rm -f /usr/local/bin/netloom");
        assert_eq!(
            &vm_support::inventory(vm),
            was,
            "{name}: {} changed",
            vm.name
        );
        // doctor, plan, apply, verify, apply, destroy: one login (the host
        // key refusal above never got that far).
        assert_eq!(logins(vm, "root"), 1, "{}: root's logins", vm.name);
    }
    eprintln!("vm_labs: over ssh as root: {:.1?}", t0.elapsed());
    as_a_sudoer(vms);
}

/// `plan` through `ssh://netloom-op@ADDR`, a user who runs netloom through
/// `sudo -n`: netloom (gone from both VMs now) is copied to each through sudo.
fn as_a_sudoer(vms: &mut VmLab) {
    let t0 = std::time::Instant::now();
    let pushed = "/usr/local/lib/netloom/netloom-0.1.0";
    let mut listed = std::fs::read_to_string(&vms.agents).unwrap();
    for vm in &mut vms.vms {
        vm.add_sudoer("netloom-op");
        vm.sh(&format!("rm -f {pushed}"));
        listed.push_str(&format!("ssh://netloom-op@{}\n", vm.ip));
    }
    std::fs::write(&vms.agents, listed).unwrap();
    let lab = on_vms_by(vms, "seedlab-gre.yaml", "e2e-vmssh", |i| {
        format!("ssh://netloom-op@{}", vms.vms[i].ip)
    });
    let plan = vms.json(&["plan", "--json", lab.path()]);
    for t in plan["targets"].as_array().unwrap().iter().skip(1) {
        assert_eq!(t["target"]["datapath"], "system", "{t}");
    }
    for vm in &mut vms.vms {
        let owner = vm.sh(&format!("stat -c '%U %a' {pushed}"));
        assert_eq!(owner.trim(), "root 755", "{}: {pushed}", vm.name);
        assert_eq!(logins(vm, "netloom-op"), 1, "{}", vm.name);
    }
    eprintln!(
        "vm_labs: over ssh through sudo (plan, netloom copied): {:.1?}",
        t0.elapsed()
    );
}

/// The figures of docs/performance.md ("Real hosts in VMs"): two VMs' boot,
/// the seed lab applied by netloom through the agents and by its
/// `export --shell` scripts run in the same VMs, one run each.
#[test]
#[ignore = "a benchmark, run by hand: cargo test -p netloom-e2e --test vm_labs -- --ignored --nocapture"]
fn seed_lab_apply_vs_its_shell_script() {
    if !netloom_e2e::root("seed_lab_apply_vs_its_shell_script") {
        return;
    }
    let t0 = std::time::Instant::now();
    let mut vms = VmLab::boot("vmbench", 2, &["e2e-vmbench"]);
    let boot = t0.elapsed();
    let lab = on_vms(&vms, "seedlab-gre.yaml", "e2e-vmbench");
    let t0 = std::time::Instant::now();
    vms.ok(&["apply", lab.path()]);
    let apply = t0.elapsed();
    let disagree = |vms: &VmLab| {
        let o = vms.netloom(&["verify", "--json", lab.path()]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["disagreements"].as_array().unwrap().len()
    };
    assert_eq!(disagree(&vms), 0);
    vms.ok(&["destroy", lab.path()]);
    let scripts: Vec<String> = ["node1", "node2"]
        .iter()
        .map(|h| {
            let args = [
                "export",
                "--shell",
                "--host",
                h,
                "--datapath",
                "system",
                lab.path(),
            ];
            let f = vms.dir.join(format!("{h}.sh"));
            std::fs::write(&f, vms.ok(&args)).unwrap();
            f.display().to_string()
        })
        .collect();
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        for (vm, script) in vms.vms.iter_mut().zip(&scripts) {
            s.spawn(move || vm.sh(&format!("sh {script} >/dev/null")));
        }
    });
    let script = t0.elapsed();
    assert_eq!(disagree(&vms), 0, "the scripts' network");
    vms.ok(&["destroy", lab.path()]);
    println!("two VMs booted (agents up): {boot:.1?}");
    println!("seed lab, netloom apply through the agents: {apply:.2?}");
    println!("seed lab, its export --shell scripts in both VMs at once: {script:.2?}");
}
