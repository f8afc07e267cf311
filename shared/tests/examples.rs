//! Every example lab validates and round-trips.

use std::fs;

fn examples() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut out: Vec<_> = fs::read_dir(dir)
        .expect("examples/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| (p.display().to_string(), fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_validates_without_warnings() {
    let all = examples();
    assert!(
        all.len() >= 4,
        "expected at least 4 examples, found {}",
        all.len()
    );
    for (path, text) in all {
        match netloom_core::load(&text) {
            Ok(checked) => assert!(
                checked.warnings.is_empty(),
                "{path}: {:?}",
                checked.warnings
            ),
            Err(problems) => panic!("{path}: {problems:#?}"),
        }
    }
}

#[test]
fn every_example_round_trips_through_yaml_and_json() {
    for (path, text) in examples() {
        let spec = netloom_core::parse(&text).unwrap();
        let yaml = netloom_core::format::to_yaml(&spec);
        let json = netloom_core::format::to_json(&spec);
        assert_eq!(netloom_core::parse(&yaml).unwrap(), spec, "{path} via YAML");
        assert_eq!(netloom_core::parse(&json).unwrap(), spec, "{path} via JSON");
        let a = netloom_core::load(&text).unwrap().topology;
        let b = netloom_core::load(&yaml).unwrap().topology;
        assert_eq!(a, b, "{path}: resolved topology differs after a round trip");
    }
}
