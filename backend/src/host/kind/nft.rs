//! nftables: the ruleset of table `ip netloom` in one namespace, recorded
//! under the run directory since the kernel's listing does not read back as
//! the JSON that was given.

use netloom_core::names;
use netloom_core::plan::Resource;

use crate::host::confine::{self, refuse, Refusal, TopologyName};
use crate::host::snapshot::Mapping;
use crate::host::{procs, StepError};

/// Record of the ruleset applied in a namespace.
pub fn record(topology: &str, ns: &str) -> String {
    format!("{}/nft/{ns}.json", names::run_dir(topology))
}

pub fn create(topology: &str, netns: &str, ruleset: &str) -> Result<(), StepError> {
    procs::run(netns, &["nft", "-j", "-f", "-"], Some(ruleset))?;
    std::fs::write(record(topology, netns), ruleset)?;
    Ok(())
}

pub fn delete(topology: &str, netns: &str) {
    let _ = procs::run(netns, &["nft", "delete", "table", "ip", "netloom"], None);
    let _ = std::fs::remove_file(record(topology, netns));
}

/// The recorded ruleset of namespace `ns`, if the table is there.
pub fn read(topology: &str, ns: &str) -> Option<String> {
    let text = std::fs::read_to_string(record(topology, ns)).ok()?;
    procs::run(ns, &["nft", "list", "table", "ip", "netloom"], None).ok()?;
    Some(text)
}

/// The rulesets of the topology's namespaces.
pub fn map(m: &Mapping) -> Vec<(String, Resource)> {
    m.namespaces()
        .filter_map(|(ns, v)| {
            let r = Resource::Nft {
                netns: ns.to_string(),
                ruleset: v.nft.clone()?,
            };
            Some((m.target(ns), r))
        })
        .collect()
}

pub fn confine(t: &TopologyName, ns: &str, ruleset: &str) -> Result<(), Refusal> {
    confine::netns(t, ns)?;
    ruleset_ours(ruleset)
}

/// An nftables JSON ruleset that touches table `ip netloom` only: each
/// command adds or deletes that table, or adds a chain or rule in it.
fn ruleset_ours(text: &str) -> Result<(), Refusal> {
    use serde_json::Value;
    let ours = |cmd: &Value| -> bool {
        let Some((verb, what)) = cmd
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
        else {
            return false;
        };
        let Some((kind, obj)) = what
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
        else {
            return false;
        };
        let in_ours = obj["family"] == "ip" && obj["table"] == "netloom";
        match (verb.as_str(), kind.as_str()) {
            ("add" | "delete", "table") => obj["family"] == "ip" && obj["name"] == "netloom",
            ("add", "chain" | "rule") => in_ours,
            _ => false,
        }
    };
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Refusal(format!("the nftables ruleset is not JSON: {e}")))?;
    match v
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("nftables"))
    {
        Some(Value::Array(cmds)) if cmds.iter().all(ours) => Ok(()),
        _ => refuse("the nftables ruleset touches more than table ip netloom"),
    }
}
