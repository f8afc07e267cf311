//! `netloom schema`: the JSON Schema that `docs/topology.schema.json` ships.

use std::process::ExitCode;

pub fn run() -> ExitCode {
    println!("{}", netloom_core::schema::json_schema());
    ExitCode::SUCCESS
}
