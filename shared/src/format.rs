//! Reading and writing topology files: YAML and JSON in, YAML and JSON out.
//!
//! Syntax and shape errors become [`Problem`]s with the path serde reached and
//! the line and column; everything else is [`crate::validate`]'s job. Input
//! over a budget of [`crate::limits`] is refused before the work it would cost.

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

use crate::limits::{self, MAX_FILE_BYTES, MAX_NESTING, MAX_YAML_NODES};
use crate::problem::Problem;
use crate::spec::TopologySpec;
use crate::validate::{validate, Checked};

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

/// Why a text was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Over a budget of [`crate::limits`], refused before the work it would
    /// cost; the problem names the limit (the server answers 413).
    OverLimit(Problem),
    /// Not a valid topology: every problem found (at least one).
    Invalid(Vec<Problem>),
}

impl Refusal {
    pub fn into_problems(self) -> Vec<Problem> {
        match self {
            Refusal::OverLimit(p) => vec![p],
            Refusal::Invalid(ps) => ps,
        }
    }
}

/// Parse a file's text into the raw spec.
pub fn parse(text: &str) -> Result<TopologySpec, Problem> {
    try_parse(text).map_err(|r| r.into_problems().swap_remove(0))
}

/// [`parse`], telling a text over a limit apart from an invalid one.
pub fn try_parse(text: &str) -> Result<TopologySpec, Refusal> {
    let invalid = |p: Problem| Refusal::Invalid(vec![p]);
    if text.len() > MAX_FILE_BYTES {
        return Err(Refusal::OverLimit(Problem::error(
            "",
            format!(
                "the file is {} bytes; the limit is {MAX_FILE_BYTES}",
                text.len()
            ),
        )));
    }
    if text.trim().is_empty() {
        return Err(invalid(Problem::error(
            "",
            "the file is empty: a topology starts with `version: 1` and a `name`",
        )));
    }
    if too_deep(text) {
        return Err(Refusal::OverLimit(Problem::error(
            "",
            format!("brackets are nested more than {MAX_NESTING} levels deep; the limit is {MAX_NESTING}"),
        )));
    }
    let spec = match Syntax::detect(text) {
        Syntax::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let spec: TopologySpec =
                serde_path_to_error::deserialize(&mut de).map_err(|e| invalid(json_problem(e)))?;
            // Like serde_json::from_str: nothing but whitespace may follow.
            de.end()
                .map_err(|e| invalid(Problem::error("", e.to_string())))?;
            spec
        }
        Syntax::Yaml => {
            check_yaml_nodes(text).map_err(Refusal::OverLimit)?;
            serde_yaml_ng::from_str(text).map_err(|e| invalid(yaml_problem(e)))?
        }
    };
    limits::check(&spec).map_err(Refusal::OverLimit)?;
    Ok(spec)
}

/// Refuse a YAML document whose aliases expand it past [`MAX_YAML_NODES`],
/// before the typed parse would build the expanded values (160 KB of nested
/// aliases are millions of vms). Other errors are left to the typed parse,
/// which reports them with their path.
fn check_yaml_nodes(text: &str) -> Result<(), Problem> {
    if !text.contains('*') {
        // No alias: the document is as big as its text, which is bounded.
        return Ok(());
    }
    let mut budget = NodeBudget {
        left: MAX_YAML_NODES,
        spent: false,
    };
    let _ = (&mut budget).deserialize(serde_yaml_ng::Deserializer::from_str(text));
    if budget.spent {
        return Err(Problem::error(
            "",
            format!("the document has more than {MAX_YAML_NODES} YAML nodes once its aliases are expanded (an alias counts its anchor's nodes again); the limit is {MAX_YAML_NODES}"),
        ));
    }
    Ok(())
}

/// Counts nodes as serde_yaml_ng replays the document (each alias replays its
/// anchor's events) and fails at the first node over the budget, so the walk
/// costs at most [`MAX_YAML_NODES`] steps and keeps nothing.
struct NodeBudget {
    left: usize,
    spent: bool,
}

impl NodeBudget {
    fn take<E: de::Error>(&mut self) -> Result<(), E> {
        if self.left == 0 {
            self.spent = true;
            return Err(E::custom("over the node budget"));
        }
        self.left -= 1;
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for &mut NodeBudget {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut NodeBudget {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.take()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.take()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.take()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.take()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.take()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.take()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.take()
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.take()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.take()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.take()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.take()?;
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.take()?;
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.take()?;
        while seq.next_element_seed(&mut *self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.take()?;
        while map.next_key_seed(&mut *self)?.is_some() {
            map.next_value_seed(&mut *self)?;
        }
        Ok(())
    }
    /// A tagged node (`!tag value`): the tag, then its value.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let ((), variant) = data.variant_seed(&mut *self)?;
        variant.newtype_variant_seed(self)
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
    try_load(text).map_err(Refusal::into_problems)
}

/// [`load`], telling a text over a limit apart from an invalid one.
pub fn try_load(text: &str) -> Result<Checked, Refusal> {
    validate(&try_parse(text)?).map_err(Refusal::Invalid)
}

/// Write a spec as YAML.
pub fn to_yaml(spec: &TopologySpec) -> String {
    serde_yaml_ng::to_string(spec).unwrap_or_default()
}

/// Write a spec as pretty JSON.
pub fn to_json(spec: &TopologySpec) -> String {
    serde_json::to_string_pretty(spec).unwrap_or_default()
}
