//! `netloom agent --stdio` as the controller's SSH sessions run it: requests
//! one after another on one standard input, each answer followed by
//! `netloom-ready` (the session may serve the next), until the input ends.

mod apply_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

#[test]
fn the_stdio_agent_serves_requests_one_after_another_until_its_input_ends() {
    let mut agent = Command::new(apply_support::bin())
        .args(["agent", "--stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("netloom agent --stdio");
    let mut input = agent.stdin.take().unwrap();
    let mut output = BufReader::new(agent.stdout.take().unwrap());
    let mut line = || {
        let mut l = String::new();
        output.read_line(&mut l).unwrap();
        l
    };
    for _ in 0..3 {
        writeln!(input, r#"{{"token":"","request":"hostfacts"}}"#).unwrap();
        let answer = line();
        assert!(
            answer.starts_with(r#"{"host_facts":{"kernel_datapath":"#),
            "{answer}"
        );
        assert_eq!(line(), "netloom-ready\n");
    }
    // A line that is no request: refused, and the session ends there.
    writeln!(input, "not a request").unwrap();
    let refusal = line();
    assert!(refusal.starts_with(r#"{"error":"#), "{refusal}");
    let mut rest = String::new();
    output.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
    assert!(agent.wait().unwrap().success());

    // Nothing on its input: it exits at once, nothing said.
    let o = Command::new(apply_support::bin())
        .args(["agent", "--stdio"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success() && o.stdout.is_empty(), "{o:?}");
}
