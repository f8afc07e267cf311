//! The agents this controller talks to: an operator's file, never the design.
//!
//! An `agent:` address in a topology file says where a host's agent is, but
//! the controller sends a token only to an agent listed here, with that
//! agent's own token and, for `https://`, the certificate (or CA) it must
//! present. The file is `NETLOOM_AGENTS`, else `/etc/netloom/agents`, one
//! agent a line, and must not be readable by group or others:
//!
//! ```text
//! # URL                       TOKEN FILE               CERTIFICATE (https only)
//! https://10.0.0.5:7311       /etc/netloom/h1.token    /etc/netloom/h1.pem
//! tcp:127.0.0.1:7399          /etc/netloom/lab.token
//! ssh://root@10.0.0.6
//! ```
//! A token file's first word is the token (an agent's own `--token-file`
//! serves, its topologies are ignored here). An `ssh://` agent needs no
//! token (SSH authenticates it), but must be listed all the same: a design
//! must not make the controller log in wherever the operator's keys reach.

use std::path::{Path, PathBuf};

/// The file naming the configured agents.
pub const AGENTS_ENV: &str = "NETLOOM_AGENTS";
/// Where it is when [`AGENTS_ENV`] is not set.
pub const DEFAULT_AGENTS_FILE: &str = "/etc/netloom/agents";

/// An agent the controller may talk to, with what it needs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `unix:PATH`, `tcp:HOST:PORT`, `http://HOST:PORT`, `https://HOST:PORT`
    /// or `ssh://[USER@]HOST[:PORT]`.
    pub addr: String,
    pub token: String,
    /// The certificates trusted for an `https://` agent.
    pub ca: Option<PathBuf>,
}

/// The configured agent at `url`, or why there is none.
pub fn configured(url: &str) -> Result<Peer, String> {
    let path = std::env::var_os(AGENTS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_AGENTS_FILE));
    let ssh = url.starts_with("ssh://");
    let unknown = || {
        format!(
            "agent {url} is not one this controller is configured to trust: add `{url}{}` to {} ({AGENTS_ENV} names another file)",
            match (ssh, url.starts_with("https://")) {
                (true, _) => "",
                (false, true) => " TOKEN-FILE CERTIFICATE",
                (false, false) => " TOKEN-FILE",
            },
            path.display()
        )
    };
    if !path.exists() {
        return Err(unknown());
    }
    let text = super::read_private(&path)?;
    let line = find(&text, url).map_err(|e| format!("{}: {e}", path.display()))?;
    let Some((token_file, ca)) = line else {
        return Err(unknown());
    };
    // SSH authenticates both ends itself (known_hosts, the user's keys): no token.
    if ssh {
        return Ok(Peer {
            addr: url.to_string(),
            token: String::new(),
            ca: None,
        });
    }
    let token = super::read_private(Path::new(token_file))?
        .split_whitespace()
        .find(|w| !w.starts_with('#'))
        .map(str::to_string)
        .ok_or_else(|| format!("{token_file}: no token in it"))?;
    super::grants::token_ok(&token).map_err(|e| format!("{token_file}: {e}"))?;
    Ok(Peer {
        addr: url.to_string(),
        token,
        ca: ca.map(PathBuf::from),
    })
}

/// The token file and certificate of `url` in an agents file.
fn find<'a>(text: &'a str, url: &str) -> Result<Option<(&'a str, Option<&'a str>)>, String> {
    for (i, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            [w, ..] if w.starts_with('#') => {}
            [u] if u.starts_with("ssh://") => {
                if *u == url {
                    return Ok(Some(("", None)));
                }
            }
            [u, token, rest @ ..] if rest.len() <= 1 => {
                let https = u.starts_with("https://");
                if https && rest.is_empty() {
                    return Err(format!(
                        "line {}: an https agent needs its certificate file",
                        i + 1
                    ));
                }
                if *u == url {
                    return Ok(Some((token, rest.first().copied())));
                }
            }
            _ => {
                return Err(format!(
                    "line {}: expected URL TOKEN-FILE [CERTIFICATE]",
                    i + 1
                ))
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ssh_agent_is_listed_alone_on_its_line() {
        let text = "ssh://root@10.0.0.6\nhttps://10.0.0.5:7311 /t1 /c1\n";
        assert_eq!(find(text, "ssh://root@10.0.0.6"), Ok(Some(("", None))));
        assert_eq!(find(text, "ssh://10.0.0.6"), Ok(None));
    }

    #[test]
    fn an_agent_is_found_only_by_its_exact_url() {
        let text = "# agents\nhttps://10.0.0.5:7311 /t1 /c1\ntcp:127.0.0.1:7399 /t2\n";
        assert_eq!(
            find(text, "https://10.0.0.5:7311"),
            Ok(Some(("/t1", Some("/c1"))))
        );
        assert_eq!(find(text, "tcp:127.0.0.1:7399"), Ok(Some(("/t2", None))));
        assert_eq!(find(text, "https://10.0.0.5:7312"), Ok(None));
        assert_eq!(find(text, "https://10.0.0.5"), Ok(None));
    }

    #[test]
    fn a_bad_agents_file_says_which_line() {
        let e = find("https://h:1 /t\n", "x").unwrap_err();
        assert!(e.contains("line 1") && e.contains("certificate"), "{e}");
        let e = find("ok /t\nonlyone\n", "x").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
