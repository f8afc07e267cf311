//! Print the generated lab the benchmarks use (`generated(hosts, vms)` of
//! shared/tests/support/mod.rs) as YAML, for timing the CLI on the same lab:
//! `cargo run -p netloom-core --example generated -- 1000 10 > lab.yaml`

#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("hosts and vms are numbers"))
    };
    print!("{}", support::generated(arg(1, 100), arg(2, 10)));
}
