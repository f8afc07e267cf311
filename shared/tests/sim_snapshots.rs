//! Snapshots of traces (text, as `netloom simulate` prints them): the pings
//! of every example lab, and one trace per disposition. A change in what the
//! simulator predicts shows up here as a diff to review (`cargo insta review`).

mod support;

use netloom_core::reach::{addresses, reach};
use netloom_core::sim::{Probe, Simulator};
use support::{examples, sized, test_lab, trace};

#[test]
fn every_example_lab() {
    for (file, t) in examples() {
        let stem = file.trim_end_matches(".yaml");
        let sim = Simulator::new(&t);
        // The first vm pings every other address, each ping a snapshot.
        let from = netloom_core::reach::senders(&t)[0];
        let own = sim.net().stack_of(from);
        for to in addresses(sim.net()) {
            if sim.net().is_local(own, to) {
                continue;
            }
            let tr = sim.simulate(&Probe::icmp(from, to));
            insta::assert_snapshot!(format!("{stem}__{}__{to}", tr.probe.from), tr.to_string());
        }
        // The whole report, one pair a line.
        let lines: Vec<String> = reach(&t)
            .results
            .iter()
            .map(|r| {
                format!(
                    "{} -> {}: {}",
                    r.from,
                    r.to,
                    if r.ok {
                        "ok".to_string()
                    } else {
                        format!(
                            "{}: {}",
                            r.reason.map(|x| x.to_string()).unwrap_or_default(),
                            r.detail
                        )
                    }
                )
            })
            .collect();
        insta::assert_snapshot!(format!("{stem}__reach"), lines.join("\n"));
    }
}

#[test]
fn one_trace_per_disposition() {
    let seed = support::example("seedlab-gre.yaml");
    let nat = support::example("nat.yaml");
    let dhcp = support::example("dhcp.yaml");
    let cases = [
        ("delivered", trace(&seed, "vm1", "vm3", "icmp")),
        (
            "delivered-dhcp",
            trace(&dhcp, "vm2", "255.255.255.255", "dhcp"),
        ),
        (
            "delivered-dnat-tcp",
            trace(&nat, "internet", "198.51.100.2", "tcp:8080"),
        ),
        ("delivered-snat", trace(&nat, "vm2", "internet", "icmp")),
        ("delivered-arp", trace(&seed, "vm2", "vm4", "arp")),
        ("delivered-udp", trace(&nat, "vm1", "vm2", "udp:53")),
        ("vlan-mismatch", trace(&test_lab("split"), "a", "c", "icmp")),
        (
            "tagged-frame-at-guest",
            trace(&test_lab("mixed"), "t", "u", "icmp"),
        ),
        ("no-route", trace(&test_lab("twonets"), "a", "b", "icmp")),
        (
            "neighbor-unreachable",
            trace(&test_lab("twobr"), "a", "b", "icmp"),
        ),
        (
            "no-return-path",
            trace(&test_lab("nosnat"), "vm1", "internet", "icmp"),
        ),
        (
            "no-address",
            trace(&test_lab("nodhcp"), "a", "255.255.255.255", "dhcp"),
        ),
        ("mtu-exceeded", sized(&seed, "vm1", "vm3", 1455)),
        (
            "ttl-exceeded",
            trace(&test_lab("loop"), "a", "192.0.2.1", "icmp"),
        ),
        (
            "port-closed",
            trace(&nat, "internet", "198.51.100.2", "tcp:81"),
        ),
        (
            "not-forwarding",
            trace(&test_lab("wronggw"), "a", "d", "icmp"),
        ),
    ];
    for (name, tr) in cases {
        let expect = name.split("-").next() == Some("delivered");
        assert_eq!(tr.disposition.is_delivered(), expect, "{name}\n{tr}");
        if !expect {
            assert_eq!(
                tr.disposition.reason().map(|r| r.to_string()).as_deref(),
                Some(name)
            );
        }
        insta::assert_snapshot!(name, tr.to_string());
    }
}
