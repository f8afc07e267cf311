//! Reading and writing topology files: YAML and JSON in, YAML and JSON out.
//!
//! Syntax and shape errors become [`Problem`]s with the path serde reached and
//! the line and column; everything else is [`crate::validate`]'s job.

use crate::problem::Problem;
use crate::spec::TopologySpec;
use crate::validate::{validate, Checked};

/// Largest file accepted (bytes): far above any real topology, small enough
/// that no input can exhaust memory.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Deepest bracket nesting accepted. A topology nests a handful of levels;
/// libyaml's scanner is quadratic in flow nesting depth, so deeper input is
/// refused before parsing (100k `[` would take minutes).
pub const MAX_NESTING: usize = 100;

/// Nesting of `[`/`{` counted on the raw text, quotes and comments included,
/// so it never counts less than the parser would for the same openers.
fn too_deep(text: &str) -> bool {
    let mut depth = 0usize;
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Which syntax a text is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Yaml,
    Json,
}

impl Syntax {
    /// JSON when the text starts with `{`, YAML otherwise (YAML's flow style
    /// would read JSON too, but JSON's own parser gives better messages).
    pub fn detect(text: &str) -> Syntax {
        if text.trim_start().starts_with('{') {
            Syntax::Json
        } else {
            Syntax::Yaml
        }
    }
}

/// Parse a file's text into the raw spec.
pub fn parse(text: &str) -> Result<TopologySpec, Problem> {
    if text.len() > MAX_FILE_BYTES {
        return Err(Problem::error(
            "",
            format!(
                "the file is {} bytes; the limit is {MAX_FILE_BYTES}",
                text.len()
            ),
        ));
    }
    if text.trim().is_empty() {
        return Err(Problem::error(
            "",
            "the file is empty: a topology starts with `version: 1` and a `name`",
        ));
    }
    if too_deep(text) {
        return Err(Problem::error(
            "",
            format!("brackets are nested more than {MAX_NESTING} levels deep; a topology needs far fewer"),
        ));
    }
    match Syntax::detect(text) {
        Syntax::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let spec: TopologySpec =
                serde_path_to_error::deserialize(&mut de).map_err(json_problem)?;
            // Like serde_json::from_str: nothing but whitespace may follow.
            de.end().map_err(|e| Problem::error("", e.to_string()))?;
            Ok(spec)
        }
        Syntax::Yaml => serde_yaml_ng::from_str(text).map_err(yaml_problem),
    }
}

fn json_problem(e: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    // The path is "." at the top level; serde_json already says "at line L column C".
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    Problem::error(path, e.into_inner().to_string())
}

fn yaml_problem(e: serde_yaml_ng::Error) -> Problem {
    let text = e.to_string();
    // serde_yaml_ng writes "path: message at line L column C" when it knows the path.
    let (path, message) = match text.split_once(": ") {
        Some((p, m)) if !p.contains(' ') && !p.is_empty() => (p.to_string(), m.to_string()),
        _ => (String::new(), text.clone()),
    };
    // Point at the unknown key itself, as the JSON path does.
    let path = match message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
    {
        Some((key, _)) if path.is_empty() => key.to_string(),
        Some((key, _)) => format!("{path}.{key}"),
        None => path,
    };
    let message = match e.location() {
        Some(loc) if !message.contains("line ") => {
            format!("{message} (line {}, column {})", loc.line(), loc.column())
        }
        _ => message,
    };
    Problem::error(path, message)
}

/// Parse and validate. `Err` holds every problem found.
pub fn load(text: &str) -> Result<Checked, Vec<Problem>> {
    let spec = parse(text).map_err(|p| vec![p])?;
    validate(&spec)
}

/// Write a spec as YAML.
pub fn to_yaml(spec: &TopologySpec) -> String {
    serde_yaml_ng::to_string(spec).unwrap_or_default()
}

/// Write a spec as pretty JSON.
pub fn to_json(spec: &TopologySpec) -> String {
    serde_json::to_string_pretty(spec).unwrap_or_default()
}
