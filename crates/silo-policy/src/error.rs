//! Errors of loading a policy. Errors while deciding never escape: they become a deny.

use std::path::PathBuf;

/// A policy could not be loaded. The message says which rule and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The YAML does not parse or has unknown keys.
    #[error("policy `{source_name}` does not parse: {message}")]
    Yaml {
        /// File name or label.
        source_name: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A rule names an action that does not exist.
    #[error("rule `{rule}`: unknown action `{action}`")]
    UnknownAction {
        /// The rule.
        rule: String,
        /// The unknown name.
        action: String,
    },
    /// A rule is malformed.
    #[error("rule `{rule}`: {reason}")]
    InvalidRule {
        /// The rule.
        rule: String,
        /// What is wrong.
        reason: String,
    },
    /// Two rules share a name.
    #[error("rule `{rule}` is defined twice; rule names must be unique")]
    DuplicateRule {
        /// The name.
        rule: String,
    },
    /// A document given to an importer (`agentos::import`) is malformed or in no format
    /// the importer reads.
    #[error("cannot import `{source_name}`: {message}")]
    Import {
        /// File name or label.
        source_name: String,
        /// What is wrong, with the line, column and field where the parser gives them.
        message: String,
    },
    /// One of a rule's own examples disagrees with the rule.
    #[error("rule `{rule}`: example {kind}[{index}] `{example}` is wrong: {detail}")]
    ExampleFailed {
        /// The rule.
        rule: String,
        /// `match` or `no_match`.
        kind: &'static str,
        /// Position in that list.
        index: usize,
        /// The example, as JSON.
        example: String,
        /// What happened instead.
        detail: String,
    },
}
