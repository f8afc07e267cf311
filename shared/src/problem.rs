//! Problems found in a topology, and the error body every API answer uses.
//!
//! A [`Problem`] is `path: message`, where the path names the place in the
//! file (`hosts[1].vms[0].nics[0].vlan`). The server answers bad input with an
//! [`ErrorBody`] of the same shape, so the browser decodes both alike.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How bad a problem is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is rejected.
    Error,
    /// The file is valid but the outcome may surprise (e.g. ARP flux).
    Warning,
}

/// One finding: where it is and what is wrong (and what is allowed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    /// Place in the file, like `hosts[1].vms[0].nics[0].vlan`; empty for the whole file.
    pub path: String,
    pub message: String,
    pub severity: Severity,
}

impl Problem {
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
            severity: Severity::Warning,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        if self.path.is_empty() {
            write!(f, "{tag}{}", self.message)
        } else {
            write!(f, "{}: {tag}{}", self.path, self.message)
        }
    }
}

/// The JSON body of every error answer: `{"error": {"path", "message"}}`,
/// plus all problems when there are several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    pub path: String,
    pub message: String,
    /// Every problem, when the error is a list of them (the first is repeated above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

impl ErrorBody {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                path: path.into(),
                message: message.into(),
                problems: Vec::new(),
            },
        }
    }

    /// The body for a list of problems; the first error leads.
    pub fn from_problems(problems: Vec<Problem>) -> Self {
        let first = problems
            .iter()
            .find(|p| p.is_error())
            .or(problems.first())
            .cloned()
            .unwrap_or_else(|| Problem::error("", "invalid input"));
        ErrorBody {
            error: ErrorDetail {
                path: first.path,
                message: first.message,
                problems,
            },
        }
    }
}
