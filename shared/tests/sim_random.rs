//! Random small topologies (seeded, so failures reproduce): for every sender
//! and address, `simulate` finishes without panicking and `reach` agrees
//! with it, whatever odd gateways, VLANs, tunnels and NAT the lab has.

mod support;

use std::fmt::Write;

use netloom_core::reach::reach;
use netloom_core::sim::{Probe, Simulator};

struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.next(xs.len() as u64) as usize]
    }
}

fn lab(seed: u64) -> String {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let vlans = ["", ", vlan: 10", ", vlan: 20"];
    let hosts = 1 + r.next(3) as usize;
    let mut y = String::from(
        "version: 1\nname: rnd\nexternals:\n  - {name: ext, gateway: 192.0.2.1/24}\nhosts:\n",
    );
    let mut n = 0u32;
    let addr = |r: &mut Rng, n: &mut u32| {
        *n += 1;
        format!("10.0.{}.{}", r.next(2), *n)
    };
    for h in 0..hosts {
        writeln!(y, "  - name: h{h}\n    bridges:\n      - name: b0").unwrap();
        if r.next(2) == 0 {
            writeln!(y, "      - name: b1").unwrap();
        } else {
            writeln!(y, "      - {{name: b1, uplink: ext}}").unwrap();
        }
        writeln!(y, "    vms:").unwrap();
        for v in 0..1 + r.next(3) {
            let mut nics = Vec::new();
            for _ in 0..1 + r.next(2) {
                let ip = if r.next(5) == 0 {
                    "dhcp".to_string()
                } else {
                    format!("{}/24", addr(&mut r, &mut n))
                };
                nics.push(format!(
                    "{{bridge: b{}{}, ip: {ip}}}",
                    r.next(2),
                    r.pick(&vlans)
                ));
            }
            let gw = r.pick(&[
                "",
                ", gateway: 10.0.0.254",
                ", gateway: 10.0.1.254",
                ", gateway: 10.0.0.1",
            ]);
            writeln!(
                y,
                "      - {{name: v{h}x{v}, nics: [{}]{gw}}}",
                nics.join(", ")
            )
            .unwrap();
        }
        if r.next(2) == 0 {
            let s = r.next(2);
            writeln!(
                y,
                "    dhcp:\n      - {{name: d, bridge: b0{}, ip: 10.0.{s}.{}/24, range: [10.0.{s}.{}, 10.0.{s}.{}], gateway: 10.0.{s}.254}}",
                r.pick(&vlans),
                240 + h,
                100 + 20 * h,
                105 + 20 * h
            )
            .unwrap();
        }
        if r.next(3) == 0 {
            writeln!(y, "    routers:\n      - name: r\n        interfaces:").unwrap();
            writeln!(
                y,
                "          - {{name: a, bridge: b0{}, ip: 10.0.0.{}/24}}",
                r.pick(&vlans),
                250 - h
            )
            .unwrap();
            writeln!(
                y,
                "          - {{name: b, bridge: b0{}, ip: 10.0.1.{}/24}}",
                r.pick(&vlans),
                250 - h
            )
            .unwrap();
            writeln!(
                y,
                "          - {{name: g, bridge: b1, ip: 192.0.2.{}/24}}",
                10 + h
            )
            .unwrap();
            writeln!(y, "        gateway: 192.0.2.1").unwrap();
            if r.next(2) == 0 {
                writeln!(y, "        snat: [{{source: 10.0.0.0/16, out: g}}]").unwrap();
            }
            if r.next(2) == 0 {
                writeln!(
                    y,
                    "        routes: [{{to: 10.9.0.0/16, via: 10.0.1.{}}}]",
                    250 - ((h + 1) % hosts)
                )
                .unwrap();
            }
        }
    }
    if hosts > 1 {
        y.push_str("tunnels:\n");
        for h in 1..hosts {
            let kind = r.pick(&["gre", "vxlan"]);
            let id = if kind == "gre" { "key" } else { "vni" };
            writeln!(
                y,
                "  - {{type: {kind}, between: [h{}/b0, h{h}/b0], {id}: {h}}}",
                r.next(h as u64)
            )
            .unwrap();
        }
    }
    y
}

#[test]
fn random_labs_never_panic_and_reach_equals_simulate() {
    let mut valid = 0;
    for seed in 0..150 {
        let text = lab(seed);
        let Ok(checked) = netloom_core::load(&text) else {
            continue;
        };
        valid += 1;
        let t = checked.topology;
        let sim = Simulator::new(&t);
        for r in reach(&t).results {
            let from = t.resolve_node(&r.from).unwrap();
            let trace = sim.simulate(&Probe::icmp(from, r.to.parse().unwrap()));
            assert_eq!(
                (r.ok, r.reason),
                (trace.disposition.is_delivered(), trace.disposition.reason()),
                "seed {seed}: {} -> {}\n{text}\n{trace}",
                r.from,
                r.to
            );
            assert!(trace.hops.len() < 10_000);
        }
        // Other probe kinds finish too.
        for from in netloom_core::reach::senders(&t) {
            for proto in ["arp", "tcp:80", "udp:53", "dhcp"] {
                if let Ok(p) = Probe::parse(
                    &t,
                    &sim.net().stacks[sim.net().stack_of(from)].label,
                    "10.0.0.1",
                    proto,
                    None,
                ) {
                    let _ = sim.simulate(&p);
                }
            }
        }
    }
    assert!(valid >= 40, "only {valid} random labs were valid");
}
