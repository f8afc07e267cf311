//! docs/topology.schema.json is what the code generates, and its required
//! keys are those the spec requires.

const COMMITTED: &str = include_str!("../../docs/topology.schema.json");

#[test]
fn committed_schema_matches_the_code() {
    assert!(
        COMMITTED.trim_end() == netloom_core::schema::json_schema().trim_end(),
        "docs/topology.schema.json is out of date; regenerate it with\n    cargo run -p netloom -- schema > docs/topology.schema.json"
    );
}

#[test]
fn required_keys_are_those_of_the_spec() {
    let schema: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    let required = |def: Option<&str>| -> Vec<String> {
        let node = match def {
            None => &schema,
            Some(d) => &schema["$defs"][d],
        };
        let mut r: Vec<String> = node["required"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        r.sort();
        r
    };
    for (def, keys) in [
        (None, &["name", "version"][..]),
        (Some("ExternalSpec"), &["gateway", "name"]),
        (Some("HostSpec"), &["name"]),
        (Some("BridgeSpec"), &["name"]),
        (Some("VmSpec"), &["name"]),
        (Some("NicSpec"), &["bridge"]),
        (Some("RouteSpec"), &["to", "via"]),
        (Some("DhcpSpec"), &["bridge", "ip", "name", "range"]),
        (Some("RouterSpec"), &["name"]),
        (Some("RouterIfaceSpec"), &["bridge", "ip", "name"]),
        (Some("SnatSpec"), &["out", "source"]),
        (Some("DnatSpec"), &["in", "port", "proto", "to", "to_port"]),
        (Some("TunnelSpec"), &["between", "type"]),
        (Some("Position"), &["x", "y"]),
    ] {
        assert_eq!(required(def), keys, "required keys of {def:?}");
    }
    // Unknown keys are an error everywhere (spec: "Unknown keys are an error").
    assert_eq!(schema["additionalProperties"], false);
    for (name, def) in schema["$defs"].as_object().unwrap() {
        // A choice of words (`engine`) has no keys at all.
        let words = def["oneOf"]
            .as_array()
            .is_some_and(|o| o.iter().all(|w| w["type"] == "string"));
        if words {
            continue;
        }
        assert_eq!(
            def["additionalProperties"], false,
            "{name} allows unknown keys"
        );
    }
}
