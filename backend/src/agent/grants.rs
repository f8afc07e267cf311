//! Which topologies each token may touch: the agent's `--token-file`.
//!
//! ```text
//! # TOKEN                            TOPOLOGIES it may observe, change and destroy
//! 4f1c0e9a7b2d4c66a1e0f3b5c7d9e2a4   seedlab nat
//! 9b7e3c1d5f2a4b68c0d2e4f6a8b0c1d3   dhcp
//! ```
//! A token names at least one topology; questions about the host itself
//! (`facts`, `hostfacts`) need any token of the file. The file is read on
//! every request, so an edit takes effect without a restart, and it must not
//! be readable by group or others.

use std::collections::BTreeSet;
use std::path::Path;

use crate::host::confine::TopologyName;

/// Shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// The tokens of an agent and what each may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants(Vec<(String, BTreeSet<TopologyName>)>);

impl Grants {
    /// Read and check a token file.
    pub fn load(path: &Path) -> Result<Grants, String> {
        let text = super::read_private(path)?;
        Grants::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Grants, String> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            let Some(token) = words.next().filter(|w| !w.starts_with('#')) else {
                continue;
            };
            token_ok(token).map_err(|e| format!("line {}: {e}", i + 1))?;
            let topologies = words
                .map(|w| TopologyName::parse(w).map_err(|e| format!("line {}: {e}", i + 1)))
                .collect::<Result<BTreeSet<_>, _>>()?;
            if topologies.is_empty() {
                return Err(format!(
                    "line {}: name the topologies this token may touch after it (TOKEN TOPOLOGY...)",
                    i + 1
                ));
            }
            out.push((token.to_string(), topologies));
        }
        if out.is_empty() {
            return Err("no token in it".into());
        }
        Ok(Grants(out))
    }

    /// The topologies `token` may touch, `None` for an unknown token.
    /// Every entry is compared, in constant time each.
    pub fn of(&self, token: &str) -> Option<&BTreeSet<TopologyName>> {
        self.0.iter().fold(
            None,
            |found, (t, tops)| if same(t, token) { Some(tops) } else { found },
        )
    }
}

/// Tokens are plain words: the agent finds one in the first bytes of a request.
pub fn token_ok(token: &str) -> Result<(), String> {
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "a token must be at least {MIN_TOKEN_LEN} characters"
        ));
    }
    if token.len() > 256
        || !token.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+' | b'/' | b'=')
        })
    {
        return Err("a token is up to 256 characters of letters, digits and - _ . + / =".into());
    }
    Ok(())
}

/// Compare without leaking where the first difference is.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn each_token_touches_only_its_topologies() {
        let g = Grants::parse(&format!("# comment\n{A} seedlab nat\n\n{B}   dhcp\n")).unwrap();
        let names = |t| {
            g.of(t)
                .map(|s| s.iter().map(|n| n.as_str().to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            names(A),
            Some(vec!["nat".to_string(), "seedlab".to_string()])
        );
        assert_eq!(names(B), Some(vec!["dhcp".to_string()]));
        assert_eq!(names("0123456789abcdef0123456789abcdeX"), None);
        assert_eq!(names(""), None);
    }

    #[test]
    fn a_bad_file_says_which_line() {
        for (text, says) in [
            (format!("{A}\n"), "line 1: name the topologies"),
            (format!("{A} ../etc\n"), "line 1:"),
            ("short seedlab\n".to_string(), "at least 16"),
            (format!("{A} seedlab\nx\"{A} nat\n"), "line 2:"),
            ("# nothing\n".to_string(), "no token"),
        ] {
            let e = Grants::parse(&text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
