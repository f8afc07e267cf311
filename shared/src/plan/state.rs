//! A set of resources per target: what a topology needs, or what exists.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

/// A set of resources per target: what a topology needs, or what exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// target → key → resource.
    pub targets: BTreeMap<String, BTreeMap<String, Resource>>,
}

impl State {
    pub fn insert(&mut self, target: &str, r: Resource) {
        self.targets
            .entry(target.to_string())
            .or_default()
            .insert(r.key(), r);
    }

    pub fn len(&self) -> usize {
        self.targets.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every resource with its target.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Resource)> {
        self.targets
            .iter()
            .flat_map(|(t, m)| m.values().map(move |r| (t.as_str(), r)))
    }
}
