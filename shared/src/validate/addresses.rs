//! Addresses across the whole file: each used once, statics outside the
//! DHCP ranges, ranges apart.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use super::{AddrUse, Validator};
use crate::problem::Problem;
use crate::topology::Mac;

/// What the per-host pass found, for the checks across hosts.
pub(super) struct Uses<'u> {
    pub addrs: &'u [AddrUse],
    pub underlay_ips: &'u [AddrUse],
    pub user_macs: &'u [(Mac, String)],
    pub static_addrs: &'u [AddrUse],
    /// (first, last, path of the range)
    pub dhcp_ranges: &'u [(Ipv4Addr, Ipv4Addr, String)],
}

impl Validator<'_> {
    pub(super) fn check_addresses(&mut self, u: &Uses) {
        // Addresses used twice.
        self.check_duplicate_addrs(u.addrs, "address");
        self.check_duplicate_addrs(u.underlay_ips, "underlay address");
        let mut seen_macs: HashMap<Mac, &str> = HashMap::new();
        for (m, path) in u.user_macs {
            if let Some(first) = seen_macs.get(m) {
                self.problems.push(Problem::error(
                    path.clone(),
                    format!("MAC {m} is already used by {first}"),
                ));
            } else {
                seen_macs.insert(*m, path);
            }
        }
        // Static addresses inside a DHCP range.
        for a in u.static_addrs {
            for (lo, hi, rp) in u.dhcp_ranges {
                // The server's own address is reported by the range check itself.
                let server = rp.trim_end_matches(".range");
                let own = a
                    .path
                    .strip_prefix(server)
                    .is_some_and(|rest| rest.starts_with('.'));
                if (*lo..=*hi).contains(&a.addr) && !own {
                    self.err(a.path.clone(), format!("{} lies inside the dhcp range {lo}..{hi} of {server}: a lease could take it; use an address outside the range", a.addr));
                }
            }
        }
        // Overlapping ranges would hand out one address twice.
        for (i, (lo1, hi1, p1)) in u.dhcp_ranges.iter().enumerate() {
            for (lo2, hi2, p2) in &u.dhcp_ranges[..i] {
                if lo1 <= hi2 && lo2 <= hi1 {
                    self.err(p1.clone(), format!("{lo1}..{hi1} overlaps the range {lo2}..{hi2} of {}: a lease could be handed out twice", p2.trim_end_matches(".range")));
                }
            }
        }
    }

    fn check_duplicate_addrs(&mut self, uses: &[AddrUse], what: &str) {
        let mut seen: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
        for u in uses {
            if let Some(first) = seen.get(&u.addr) {
                self.problems.push(Problem::error(
                    u.path.clone(),
                    format!("{what} {} is already used by {first}", u.addr),
                ));
            } else {
                seen.insert(u.addr, &u.path);
            }
        }
    }
}
