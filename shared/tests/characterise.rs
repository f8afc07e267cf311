//! Characterisation of the planner: for every example and scenario lab (and
//! the examples with their hosts made real), one snapshot of what the pure
//! core says about it — the resolved topology, the desired state, the plan
//! from nothing, its execution order and shell export, an update plan, a
//! partial plan and the destroy plan. Taken before the planner and validator
//! were split into modules; a refactoring must leave every one equal.

mod support;

use std::fmt::Write;

use netloom_core::plan::{self, Facts, Plan, Resource, State};
use netloom_core::Topology;
use support::{examples, test_labs};

/// A plan: each target's steps as `netloom plan` prints them, each with its JSON.
fn show_plan(out: &mut String, title: &str, p: &Plan) {
    writeln!(out, "## {title}").unwrap();
    for tp in &p.targets {
        writeln!(out, "target {:?}", tp.target.name).unwrap();
        for s in &tp.steps {
            writeln!(out, "  {s}\n    {}", serde_json::to_string(s).unwrap()).unwrap();
        }
    }
}

/// What every resource of `s` would be if it had drifted: OVS port tags and
/// sysctl values differ, so a plan against it holds updates.
fn drifted(s: &State) -> State {
    let mut out = s.clone();
    for rs in out.targets.values_mut() {
        for r in rs.values_mut() {
            match r {
                Resource::OvsPort { tag, .. } => *tag = Some(tag.map_or(99, |t| t + 1)),
                Resource::Sysctl { value, .. } => value.push('9'),
                _ => {}
            }
        }
    }
    out
}

/// Every second resource of `s` (by key order): a half-built deployment.
fn half(s: &State) -> State {
    let mut out = s.clone();
    let mut i = 0;
    for rs in out.targets.values_mut() {
        rs.retain(|_, _| {
            i += 1;
            i % 2 == 0
        });
    }
    out
}

fn characterise(t: &Topology, facts: &Facts) -> String {
    let mut out = String::new();
    writeln!(out, "# topology\n{}", serde_json::to_string(t).unwrap()).unwrap();
    writeln!(out, "# unsupported {:?}", plan::unsupported(t, facts)).unwrap();
    writeln!(out, "# neigh_table_size {:?}", plan::neigh_table_size(t)).unwrap();
    let targets = plan::targets(t, facts);
    writeln!(out, "# targets").unwrap();
    for ti in &targets {
        writeln!(out, "{}", serde_json::to_string(ti).unwrap()).unwrap();
    }
    let want = plan::desired(t, facts);
    writeln!(out, "# desired ({} resources)", want.len()).unwrap();
    for (target, r) in want.iter() {
        writeln!(out, "{target:?} {}", serde_json::to_string(r).unwrap()).unwrap();
    }
    let apply = plan::plan(&t.name, &targets, &want, &State::default());
    show_plan(&mut out, "apply from nothing", &apply);
    writeln!(
        out,
        "## execution order {:?}",
        plan::execution_order(&apply)
    )
    .unwrap();
    writeln!(out, "## shell script\n{}", plan::shell_script(&apply)).unwrap();
    assert!(
        plan::plan(&t.name, &targets, &want, &want).is_empty(),
        "{}: planning against the desired state itself is not empty",
        t.name
    );
    let update = plan::plan(&t.name, &targets, &want, &drifted(&want));
    show_plan(&mut out, "update after drift", &update);
    writeln!(out, "## shell script\n{}", plan::shell_script(&update)).unwrap();
    show_plan(
        &mut out,
        "apply over half",
        &plan::plan(&t.name, &targets, &want, &half(&want)),
    );
    let destroy = plan::plan(&t.name, &targets, &State::default(), &want);
    show_plan(&mut out, "destroy", &destroy);
    writeln!(
        out,
        "## execution order {:?}",
        plan::execution_order(&destroy)
    )
    .unwrap();
    writeln!(out, "## shell script\n{}", plan::shell_script(&destroy)).unwrap();
    out
}

/// `yaml` with every host real, reached through an agent at a documentation address.
fn all_real(yaml: &str) -> Topology {
    let mut spec = netloom_core::parse(yaml).unwrap();
    for (i, h) in spec.hosts.iter_mut().enumerate() {
        h.agent = Some(format!("https://192.0.2.{}:7443", i + 1));
    }
    match netloom_core::validate(&spec) {
        Ok(c) => c.topology,
        Err(p) => panic!("{p:#?}"),
    }
}

#[test]
fn every_example_plans_as_before() {
    for (file, t) in examples() {
        let name = file.trim_end_matches(".yaml");
        insta::assert_snapshot!(
            format!("example-{name}"),
            characterise(&t, &Facts::default())
        );
    }
}

#[test]
fn every_scenario_lab_plans_as_before() {
    for (stem, t) in test_labs() {
        insta::assert_snapshot!(format!("lab-{stem}"), characterise(&t, &Facts::default()));
    }
}

/// Real hosts: under the userspace datapath (kernel VXLAN devices) and under
/// the kernel datapath with an OVSDB socket of the agent's own.
#[test]
fn every_example_on_real_hosts_plans_as_before() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    for (file, _) in examples() {
        let name = file.trim_end_matches(".yaml");
        let t = all_real(&std::fs::read_to_string(format!("{dir}/{file}")).unwrap());
        insta::assert_snapshot!(
            format!("real-{name}-netdev"),
            characterise(&t, &Facts::default())
        );
        let kernel = Facts {
            kernel_datapath: t.hosts.iter().map(|h| h.name.clone()).collect(),
            ovsdb: t
                .hosts
                .iter()
                .map(|h| (h.name.clone(), format!("/run/ovs-{}/db.sock", h.name)))
                .collect(),
        };
        insta::assert_snapshot!(format!("real-{name}-system"), characterise(&t, &kernel));
    }
}
