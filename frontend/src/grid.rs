//! The reachability matrix in the compact form the app draws from: senders
//! and addresses with the host each belongs to, and one byte per pair. A
//! 1,000-vm design has a million pairs; as `ReachResult`s they would be a
//! few hundred megabytes of strings to copy out of the worker, as a grid they
//! are a megabyte of cells plus the few thousand distinct details.
//!
//! [`Grid::layout`] lays the axes out for the view: grouped by host, the
//! columns in the rows' order (each sender's own cell on the diagonal), and
//! once real pings are in, the hosts and members with disagreements first.

use std::collections::HashMap;

use netloom_core::intent::IntentResult;
use netloom_core::reach::{reach, senders};
use netloom_core::sim::net::Net;
use netloom_core::topology::{NodeRef, Topology};
use serde::{Deserialize, Serialize};

/// The group of external networks (they belong to no host).
pub const EXTERNALS: &str = "external networks";

/// A cell: the sender's own address (not pinged).
pub const OWN: u8 = 0;
/// A cell: the simulation predicts an echo reply.
pub const REPLY: u8 = 1;
/// A cell: the simulation predicts no reply.
pub const NO_REPLY: u8 = 2;

/// A row (sender) or column (address), and the host it lives on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub name: String,
    pub host: String,
    /// Whose it is: a sender's label (for a row, its own name).
    pub owner: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub topology: String,
    /// Senders in the report's order (file order).
    pub rows: Vec<Axis>,
    /// Addresses: first each sender's first address, in the rows' order
    /// (`primary` of them), then the others (routers', DHCP servers', a
    /// sender's second nic) in the report's order.
    pub cols: Vec<Axis>,
    pub primary: usize,
    /// Each expectation of the design's intent (`expect:`) and whether it holds.
    #[serde(default)]
    pub intent: Vec<IntentResult>,
    /// Distinct details (a verdict in words), indexed by `detail_of`.
    pub details: Vec<String>,
    /// Row-major, `rows.len() * cols.len()`: [`OWN`], [`REPLY`] or [`NO_REPLY`].
    /// Carried beside the JSON as a byte array.
    #[serde(skip)]
    pub cells: Vec<u8>,
    /// Per cell, its detail (index into `details`).
    #[serde(skip)]
    pub detail_of: Vec<u32>,
    #[serde(skip)]
    row_index: HashMap<String, usize>,
    #[serde(skip)]
    col_index: HashMap<String, usize>,
    /// Per row, its first address's column (under `primary`).
    #[serde(skip)]
    own_col: Vec<Option<usize>>,
}

impl Grid {
    /// Predict the matrix of a topology (what `netloom_core::reach` reports).
    pub fn predict(topo: &Topology) -> Grid {
        let report = reach(topo);
        let net = Net::new(topo);
        let host_of = |node: NodeRef| match node {
            NodeRef::Guest(g) => topo.hosts[topo.guests[g].host].name.clone(),
            NodeRef::External(_) => EXTERNALS.to_string(),
        };
        let rows = senders(topo)
            .into_iter()
            .map(|n| {
                let name = net.stacks[net.stack_of(n)].label.clone();
                Axis {
                    owner: name.clone(),
                    name,
                    host: host_of(n),
                }
            })
            .collect();
        // The report's targets, in its order (`reach::addresses`), with their owners.
        let cols = net
            .stacks
            .iter()
            .flat_map(|s| {
                s.ifaces.iter().filter_map(|i| {
                    i.addr.map(|a| Axis {
                        name: a.addr().to_string(),
                        host: host_of(s.node),
                        owner: s.label.clone(),
                    })
                })
            })
            .collect();
        let mut grid = Grid {
            topology: report.topology.clone(),
            intent: report.intent.clone(),
            rows,
            cols,
            ..Grid::default()
        };
        grid.dedup();
        grid.arrange();
        grid.index();
        let n = grid.rows.len() * grid.cols.len();
        grid.cells = vec![OWN; n];
        grid.detail_of = vec![0; n];
        let mut interned: HashMap<String, u32> = HashMap::new();
        for r in report.results {
            let Some(i) = grid.at(&r.from, &r.to) else {
                continue;
            };
            grid.cells[i] = if r.ok { REPLY } else { NO_REPLY };
            grid.detail_of[i] = *interned.entry(r.detail).or_insert_with_key(|d| {
                grid.details.push(d.clone());
                (grid.details.len() - 1) as u32
            });
        }
        grid
    }

    /// An address held twice (in separate layer-2 domains) or a sender
    /// label seen twice is one row or column, as a pair is named by its two words.
    fn dedup(&mut self) {
        for axis in [&mut self.rows, &mut self.cols] {
            let mut seen = std::collections::HashSet::new();
            axis.retain(|a| seen.insert(a.name.clone()));
        }
    }

    /// Put each sender's first address first, in the rows' order, so the
    /// square of senders × their addresses has every sender's own cell on
    /// its diagonal; the other addresses follow, grouped apart per host.
    fn arrange(&mut self) {
        let rows: HashMap<&str, usize> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.as_str(), i))
            .collect();
        let mut first: Vec<Option<usize>> = vec![None; self.rows.len()];
        for (c, a) in self.cols.iter().enumerate() {
            if let Some(&r) = rows.get(a.owner.as_str()) {
                first[r].get_or_insert(c);
            }
        }
        let primary: Vec<usize> = first.iter().flatten().copied().collect();
        let mut taken = vec![false; self.cols.len()];
        for &c in &primary {
            taken[c] = true;
        }
        let mut cols: Vec<Axis> = primary.iter().map(|&c| self.cols[c].clone()).collect();
        cols.extend(
            self.cols
                .iter()
                .zip(&taken)
                .filter(|(_, t)| !**t)
                .map(|(a, _)| Axis {
                    host: format!("{} (others)", a.host),
                    ..a.clone()
                }),
        );
        self.primary = primary.len();
        self.cols = cols;
    }

    /// Rebuild the name lookups (after decoding, which skips them).
    pub fn index(&mut self) {
        let map = |axis: &[Axis]| {
            axis.iter()
                .enumerate()
                .map(|(i, a)| (a.name.clone(), i))
                .collect()
        };
        self.row_index = map(&self.rows);
        self.col_index = map(&self.cols);
        self.own_col = vec![None; self.rows.len()];
        for c in 0..self.primary.min(self.cols.len()) {
            if let Some(r) = self.row_of(&self.cols[c].owner) {
                self.own_col[r] = Some(c);
            }
        }
    }

    /// Lay both axes out for the view: the rows by [`order`], the columns
    /// under them (each sender's first address in its row's place), then
    /// the other addresses by [`order`]. With disagreements (per row and per
    /// column), a sender counts those of its row and of its addresses: one
    /// that stopped answering comes first too.
    pub fn layout(&self, bad: Option<(&[u32], &[u32])>) -> (Vec<Slot>, Vec<Slot>) {
        let score = bad.map(|(rows, cols)| {
            let mut s = rows.to_vec();
            for (c, a) in self.cols.iter().enumerate() {
                if let (Some(r), Some(n)) = (self.row_of(&a.owner), cols.get(c)) {
                    s[r] += n;
                }
            }
            s
        });
        let rows = order(&self.rows, score.as_deref());
        let mut cols: Vec<Slot> = Vec::with_capacity(self.cols.len() + rows.len());
        let mut heading = 0;
        for slot in &rows {
            match slot {
                Slot::Group(host, _) => {
                    heading = cols.len();
                    cols.push(Slot::Group(host.clone(), 0));
                }
                Slot::Item(r) => match self.own_col.get(*r).copied().flatten() {
                    Some(c) => {
                        cols.push(Slot::Item(c));
                        if let Slot::Group(_, n) = &mut cols[heading] {
                            *n += 1;
                        }
                    }
                    None => cols.push(Slot::Blank(*r)),
                },
                Slot::Blank(_) => {}
            }
        }
        let primary = self.primary.min(self.cols.len());
        let rest_bad = bad.map(|(_, c)| c.get(primary..).unwrap_or_default());
        cols.extend(
            order(&self.cols[primary..], rest_bad)
                .into_iter()
                .map(|s| match s {
                    Slot::Item(i) => Slot::Item(primary + i),
                    group => group,
                }),
        );
        (rows, cols)
    }

    pub fn row_of(&self, name: &str) -> Option<usize> {
        self.row_index.get(name).copied()
    }

    pub fn col_of(&self, name: &str) -> Option<usize> {
        self.col_index.get(name).copied()
    }

    /// The cell index of a pair.
    fn at(&self, from: &str, to: &str) -> Option<usize> {
        Some(self.row_of(from)? * self.cols.len() + self.col_of(to)?)
    }

    /// The prediction for row `r`, column `c`: `None` for a sender's own address.
    pub fn cell(&self, r: usize, c: usize) -> Option<(bool, &str)> {
        let i = r * self.cols.len() + c;
        match self.cells.get(i) {
            Some(&REPLY) => Some((true, self.detail(i))),
            Some(&NO_REPLY) => Some((false, self.detail(i))),
            _ => None,
        }
    }

    fn detail(&self, i: usize) -> &str {
        self.detail_of
            .get(i)
            .and_then(|&d| self.details.get(d as usize))
            .map_or("", String::as_str)
    }

    /// Pairs pinged (cells that are not a sender's own address).
    pub fn pairs(&self) -> usize {
        self.cells.iter().filter(|&&c| c != OWN).count()
    }

    /// How many measured pairs disagree with the prediction: in all, per row and per column.
    pub fn disagreements(&self, real: &Measured) -> (usize, Vec<u32>, Vec<u32>) {
        let (mut rows, mut cols) = (vec![0; self.rows.len()], vec![0; self.cols.len()]);
        let mut all = 0;
        for (from, tos) in &real.pairs {
            let Some(r) = self.row_of(from) else { continue };
            for (to, &ok) in tos {
                let Some(c) = self.col_of(to) else { continue };
                if self.cell(r, c).is_some_and(|(want, _)| want != ok) {
                    rows[r] += 1;
                    cols[c] += 1;
                    all += 1;
                }
            }
        }
        (all, rows, cols)
    }
}

/// "1 pair disagrees", "3 pairs disagree": for the sentences about Verify.
pub fn pairs_disagree(n: usize) -> String {
    if n == 1 {
        "1 pair disagrees".into()
    } else {
        format!("{n} pairs disagree")
    }
}

/// Pairs measured by real pings: sender → address → a reply came.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    pairs: HashMap<String, HashMap<String, bool>>,
    len: usize,
}

impl Measured {
    pub fn insert(&mut self, from: &str, to: &str, ok: bool) {
        let row = self.pairs.entry(from.to_string()).or_default();
        if row.insert(to.to_string(), ok).is_none() {
            self.len += 1;
        }
    }

    pub fn get(&self, from: &str, to: &str) -> Option<bool> {
        self.pairs.get(from)?.get(to).copied()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One line (row) or column of the view: a host's heading or a member.
#[derive(Clone, Debug, PartialEq)]
pub enum Slot {
    /// A host's heading and how many members follow it.
    Group(String, usize),
    /// A member, by its index on the axis.
    Item(usize),
    /// A column kept for a sender (by its row) that has no address, so the
    /// senders after it stay on the diagonal.
    Blank(usize),
}

/// Lay an axis out: members grouped by host, hosts in order of first
/// appearance. With `bad` (disagreements per member), hosts with more
/// disagreements come first and so do such members within a host; ties
/// keep that order.
pub fn order(axis: &[Axis], bad: Option<&[u32]>) -> Vec<Slot> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for (i, a) in axis.iter().enumerate() {
        let g = *at.entry(&a.host).or_insert_with(|| {
            groups.push((&a.host, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    if let Some(bad) = bad {
        let count = |i: &usize| bad.get(*i).copied().unwrap_or(0);
        for (_, members) in &mut groups {
            members.sort_by_key(|i| std::cmp::Reverse(count(i)));
        }
        groups.sort_by_key(|(_, m)| std::cmp::Reverse(m.iter().map(count).sum::<u32>()));
    }
    let mut out = Vec::with_capacity(axis.len() + groups.len());
    for (host, members) in groups {
        out.push(Slot::Group(host.to_string(), members.len()));
        out.extend(members.into_iter().map(Slot::Item));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(text: &str) -> Grid {
        let checked = netloom_core::format::try_load(text).expect("a valid design");
        Grid::predict(&checked.topology)
    }

    /// Row slot by slot: the column in the same place is the same host's
    /// heading, or the sender's own (first) address.
    fn assert_diagonal(g: &Grid, rows: &[Slot], cols: &[Slot]) {
        for (i, r) in rows.iter().enumerate() {
            match (r, &cols[i]) {
                (Slot::Group(a, _), Slot::Group(b, _)) => assert_eq!(a, b, "slot {i}"),
                (Slot::Item(r), Slot::Item(c)) => {
                    assert_eq!(g.cols[*c].owner, g.rows[*r].name, "slot {i}");
                    assert!(g.cell(*r, *c).is_none(), "slot {i}: an own cell");
                }
                (Slot::Item(r), Slot::Blank(b)) => assert_eq!(r, b, "slot {i}"),
                (r, c) => panic!("slot {i}: row {r:?} against column {c:?}"),
            }
        }
    }

    #[test]
    fn every_example_has_each_senders_own_cell_on_the_diagonal() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "yaml") {
                continue;
            }
            let g = grid(&std::fs::read_to_string(&path).unwrap());
            let (rows, cols) = g.layout(None);
            assert_diagonal(&g, &rows, &cols);
            // Every address once: the senders' first ones, then the others.
            let mut seen: Vec<usize> = cols
                .iter()
                .filter_map(|s| match s {
                    Slot::Item(c) => Some(*c),
                    _ => None,
                })
                .collect();
            seen.sort();
            assert_eq!(seen, (0..g.cols.len()).collect::<Vec<_>>(), "{path:?}");
        }
    }

    /// A vm with two nics: its first address on the diagonal, the second
    /// among its host's others, named as its. A vm with none keeps its
    /// place, blank.
    #[test]
    fn a_second_address_goes_after_the_senders() {
        let g = grid(
            "version: 1\nname: two\nhosts:\n- name: h\n  bridges: [{name: a}, {name: b}]\n  vms:\n  \
             - {name: v0, nics: [{bridge: a}]}\n  \
             - {name: v1, nics: [{bridge: a, ip: 10.0.0.1/24}, {bridge: b, ip: 10.0.1.1/24}]}\n  \
             - {name: v2, nics: [{bridge: a, ip: 10.0.0.2/24}]}\n",
        );
        let (rows, cols) = g.layout(None);
        assert_diagonal(&g, &rows, &cols);
        let names: Vec<String> = cols
            .iter()
            .map(|s| match s {
                Slot::Group(h, n) => format!("#{h} {n}"),
                Slot::Item(c) => format!("{} {}", g.cols[*c].owner, g.cols[*c].name),
                Slot::Blank(r) => format!("{} -", g.rows[*r].name),
            })
            .collect();
        assert_eq!(
            names,
            [
                "#h 2",
                "v0 -",
                "v1 10.0.0.1",
                "v2 10.0.0.2",
                "#h (others) 1",
                "v1 10.0.1.1"
            ]
        );
    }

    /// One sender that stopped answering: it comes first on both axes, so
    /// the diagonal stays.
    #[test]
    fn a_disagreement_moves_both_axes_alike() {
        let g = grid(include_str!("../../examples/seedlab-gre.yaml"));
        let mut real = Measured::default();
        real.insert("vm4", "10.0.20.1", false);
        let (_, rows_bad, cols_bad) = g.disagreements(&real);
        let (rows, cols) = g.layout(Some((&rows_bad, &cols_bad)));
        assert_diagonal(&g, &rows, &cols);
        let first = |slots: &[Slot], axis: &[Axis]| match slots[1] {
            Slot::Item(i) => axis[i].owner.clone(),
            _ => unreachable!("a member follows its host's heading"),
        };
        assert_eq!(first(&rows, &g.rows), "vm2");
        assert_eq!(first(&cols, &g.cols), "vm2");
    }
}
