//! The planner's DHCP clients: the one the model predicts a lease for waits
//! for it, those it predicts none for run in the background. A snapshot of
//! each client's step (as `plan` prints it, its JSON, its exported commands),
//! and the guard that labs without such a client plan exactly as before.

mod support;

use netloom_core::plan::{self, Action, Facts, Resource, State};
use support::{examples, test_lab};

#[test]
fn no_lease_clients_of_the_nolease_lab() {
    let t = test_lab("nolease");
    let f = Facts::default();
    let targets = plan::targets(&t, &f);
    let p = plan::plan(&t.name, &targets, &plan::desired(&t, &f), &State::default());
    let mut out = String::new();
    for tp in &p.targets {
        for s in &tp.steps {
            if !matches!(s.resource, Resource::DhcpClient { .. }) {
                continue;
            }
            assert_eq!(s.action, Action::Create);
            out.push_str(&format!(
                "{s}\n  {}\n",
                serde_json::to_string(&s.resource).unwrap()
            ));
            for argv in plan::commands(s, &tp.target, &t.name) {
                out.push_str(&format!("  $ {}\n", argv.join(" ")));
            }
        }
    }
    insta::assert_snapshot!(out);
}

/// Every example lab's clients get their lease: their plans hold no `no_lease`.
#[test]
fn labs_whose_clients_all_get_a_lease_plan_as_before() {
    for (file, t) in examples() {
        let f = Facts::default();
        let want = plan::desired(&t, &f);
        let json = serde_json::to_string(&plan::plan(
            &t.name,
            &plan::targets(&t, &f),
            &want,
            &State::default(),
        ))
        .unwrap();
        let leases = netloom_core::sim::dhcp::leases(&t).len();
        let clients = want
            .iter()
            .filter(|(_, r)| matches!(r, Resource::DhcpClient { .. }))
            .count();
        assert_eq!(leases, clients, "{file}");
        assert!(!json.contains("no_lease"), "{file}");
    }
}
