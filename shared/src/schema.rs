//! The JSON Schema of the topology format, generated from [`crate::spec`].

use crate::spec::TopologySpec;

/// The schema as pretty JSON (what `netloom schema` prints and `docs/` ships).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(TopologySpec);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
