//! An agent reached over SSH: `ssh://[USER@]HOST[:PORT]`.
//!
//! The destination ends up in `ssh`'s argument list on the controller, so
//! it is parsed here into parts that cannot be read as an option or carry
//! a second argument: a user and a host of plain characters, never starting
//! with `-`, and a port number.

use std::fmt;

/// Where `ssh` logs in to reach an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshDest {
    /// `None`: ssh's own choice (the configured or local user name).
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshDest {
    /// `USER@HOST` (or `HOST`), as ssh takes it after `--`.
    pub fn login(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }

    /// Whether commands there run as root without `sudo`.
    pub fn is_root(&self) -> bool {
        self.user.as_deref() == Some("root")
    }
}

impl fmt::Display for SshDest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ssh://{}", self.login())?;
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// A user or host part: letters, digits and `.`, `_`, `-`, not starting with `-`.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with('-')
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Parses `ssh://[USER@]HOST[:PORT]`; `None` when `url` is not an ssh URL
/// at all, `Some(Err(why))` when it is one that is malformed.
pub fn parse(url: &str) -> Option<Result<SshDest, String>> {
    let rest = url.strip_prefix("ssh://")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (user, hostport) = match rest.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(n) if n > 0 => (h, Some(n)),
            _ => return Some(Err(format!("port {p:?} is not 1..65535"))),
        },
        None => (hostport, None),
    };
    if let Some(u) = user.filter(|u| !plain(u)) {
        return Some(Err(format!(
            "user {u:?}: letters, digits, '.', '_' and '-' only, not starting with '-'"
        )));
    }
    if !plain(host) {
        return Some(Err(format!(
            "host {host:?}: a name or IPv4 address (letters, digits, '.', '-'), not starting with '-'"
        )));
    }
    Some(Ok(SshDest {
        user: user.map(str::to_string),
        host: host.to_string(),
        port,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_host_and_port() {
        let d = parse("ssh://root@10.0.0.1:2222").unwrap().unwrap();
        assert_eq!(
            (d.user.as_deref(), d.host.as_str(), d.port),
            (Some("root"), "10.0.0.1", Some(2222))
        );
        assert_eq!((d.login(), d.is_root()), ("root@10.0.0.1".into(), true));
        assert_eq!(d.to_string(), "ssh://root@10.0.0.1:2222");
        let d = parse("ssh://node1.example.net").unwrap().unwrap();
        assert_eq!(
            (d.user, d.port, d.host.as_str()),
            (None, None, "node1.example.net")
        );
    }

    #[test]
    fn nothing_that_ssh_could_read_as_an_option_or_a_command() {
        assert!(parse("https://h:1").is_none());
        for bad in [
            "ssh://-oProxyCommand=touch%20x",
            "ssh://-oProxyCommand=x@h",
            "ssh://a b@h",
            "ssh://h;reboot",
            "ssh://h:0",
            "ssh://h:99999",
            "ssh://",
            "ssh://u@",
            "ssh://$(id)@h",
        ] {
            assert!(matches!(parse(bad), Some(Err(_))), "{bad}");
        }
    }
}
