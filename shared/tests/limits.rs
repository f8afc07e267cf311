//! The input budgets of `netloom_core::limits`: over one, `parse` refuses the
//! file with a problem naming the limit; a big real lab stays under them all.

mod support;

use std::fmt::Write;

use netloom_core::limits::*;
use netloom_core::{load, parse, Problem};

fn refused(text: &str) -> Problem {
    let p = parse(text).expect_err("over a limit");
    // `load` gives the same single problem, without validating.
    assert_eq!(load(text).err(), Some(vec![p.clone()]));
    p
}

#[test]
fn an_alias_bomb_is_refused_naming_the_node_limit() {
    let bomb = support::alias_bomb();
    assert!((150_000..161_000).contains(&bomb.len()));
    let p = refused(&bomb);
    assert_eq!(p.path, "");
    assert!(
        p.message.contains(&MAX_YAML_NODES.to_string()) && p.message.contains("alias"),
        "{p}"
    );
}

#[test]
fn aliases_within_the_budget_read_like_the_text_they_stand_for() {
    let aliased = "version: 1\nname: al\nhosts:\n  - name: node1\n    bridges: [{name: br0}]\n    vms:\n      - {name: vm1, nics: [&n {bridge: br0}]}\n      - {name: vm2, nics: [*n]}\n";
    let plain = aliased.replace("&n ", "").replace("*n", "{bridge: br0}");
    assert_eq!(parse(aliased).unwrap(), parse(&plain).unwrap());
}

/// One more node than the budget is refused, the budget itself is read: a
/// mapping with one key whose value is a flow sequence of scalars, one of
/// them an alias (a text without a `*` is not counted).
#[test]
fn the_node_budget_is_exact() {
    // mapping + key + sequence = 3 nodes.
    let doc = |nodes: usize| format!("x: [&a 1,*a{}]\n", ",1".repeat(nodes - 5));
    let p = parse(&doc(MAX_YAML_NODES + 1)).unwrap_err();
    assert!(p.message.contains("YAML nodes"), "{p}");
    // At the budget the typed parse runs and complains about the unknown key.
    let p = parse(&doc(MAX_YAML_NODES)).unwrap_err();
    assert!(p.message.contains("unknown field"), "{p}");
}

/// A flow sequence of `n` copies of `item`.
fn list(item: &str, n: usize) -> String {
    format!("[{}]", vec![item; n].join(","))
}

fn hosts_yaml(hosts: usize, per_host: impl Fn(usize) -> String) -> String {
    let mut y = String::from("version: 1\nname: big\nhosts:\n");
    for h in 0..hosts {
        writeln!(y, "  - name: h{h}\n{}", per_host(h)).unwrap();
    }
    y
}

#[test]
fn counts_over_their_limit_are_refused_with_their_path() {
    let vms = |n: usize| {
        move |h: usize| {
            let mut s = String::from("    vms:\n");
            for v in 0..n {
                writeln!(s, "      - {{name: v{h}x{v}}}").unwrap();
            }
            s
        }
    };
    let nics = |n: usize| list("{bridge: br}", n);
    let routes = |n: usize| list("{to: 10.0.0.0/8, via: 10.0.0.1}", n);
    let cases: Vec<(String, &str, String)> = vec![
        (
            hosts_yaml(MAX_HOSTS + 1, |_| String::new()),
            "hosts",
            format!("{} hosts; the limit is {MAX_HOSTS}", MAX_HOSTS + 1),
        ),
        (
            hosts_yaml(MAX_GUESTS / 100 + 1, vms(100)),
            "hosts",
            format!(
                "{} guests (vms, dhcp servers and routers); the limit is {MAX_GUESTS}",
                MAX_GUESTS + 100
            ),
        ),
        (
            hosts_yaml(1, |_| {
                format!("    bridges: {}", list("{name: br}", MAX_BRIDGES + 1))
            }),
            "hosts",
            format!("{} bridges; the limit is {MAX_BRIDGES}", MAX_BRIDGES + 1),
        ),
        (
            format!(
                "version: 1\nname: t\ntunnels: {}\n",
                list("{type: gre, between: [a/b, c/d]}", MAX_TUNNELS + 1)
            ),
            "tunnels",
            format!("{} tunnels; the limit is {MAX_TUNNELS}", MAX_TUNNELS + 1),
        ),
        (
            hosts_yaml(2, |h| {
                let n = if h == 1 { MAX_INTERFACES + 1 } else { 1 };
                format!(
                    "    vms:\n      - {{name: a}}\n      - {{name: b, nics: {}}}",
                    nics(n)
                )
            }),
            "hosts[1].vms[1].nics",
            format!("{} nics; the limit is {MAX_INTERFACES}", MAX_INTERFACES + 1),
        ),
        (
            hosts_yaml(1, |_| {
                format!(
                    "    routers:\n      - {{name: r, routes: {}}}",
                    routes(MAX_ROUTES + 1)
                )
            }),
            "hosts[0].routers[0].routes",
            format!("{} routes; the limit is {MAX_ROUTES}", MAX_ROUTES + 1),
        ),
    ];
    for (text, path, message) in cases {
        let p = refused(&text);
        assert_eq!(
            (p.path.as_str(), p.message.as_str()),
            (path, message.as_str())
        );
        // The same file as JSON meets the same limit.
        let spec: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(parse(&spec.to_string()).unwrap_err(), p);
    }
}

#[test]
fn a_ten_thousand_vm_lab_is_within_every_limit() {
    // An alias in a comment makes the nodes count.
    let text = support::generated(100, 100) + "# *\n";
    let checked = load(&text).unwrap_or_else(|p| panic!("{:?}", &p[..p.len().min(3)]));
    assert_eq!(
        checked.topology.guests.iter().filter(|g| g.is_vm()).count(),
        10_000
    );
}

/// `reach::pairs`, the count the server bounds, is what a report holds: every
/// sender times every address, less each sender's own addresses.
#[test]
fn pairs_bound_the_report() {
    use netloom_core::reach::{addresses, pairs, reach, senders};
    use netloom_core::sim::net::Net;
    let mut labs = support::examples();
    labs.push(("generated".into(), support::lab(&support::generated(4, 10))));
    for (name, t) in labs {
        let full = senders(&t).len() * addresses(&Net::new(&t)).len();
        assert_eq!(pairs(&t), full, "{name}");
        assert!(reach(&t).results.len() <= full, "{name}");
    }
}
