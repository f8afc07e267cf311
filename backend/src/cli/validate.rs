//! `netloom validate FILE...`

use std::process::ExitCode;

use super::read_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology files (YAML or JSON); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
}

/// 0 when every file is valid, 1 when any has problems, 2 when a file cannot be read.
pub fn run(args: Args) -> ExitCode {
    let mut invalid = false;
    let mut unreadable = false;
    for path in &args.files {
        let text = match read_input(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{path}: {e}");
                unreadable = true;
                continue;
            }
        };
        match netloom_core::load(&text) {
            Ok(checked) => {
                for w in &checked.warnings {
                    println!("{path}: {w}");
                }
            }
            Err(problems) => {
                invalid |= problems.iter().any(|p| p.is_error());
                for p in &problems {
                    println!("{path}: {p}");
                }
            }
        }
    }
    if unreadable {
        ExitCode::from(2)
    } else if invalid {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
