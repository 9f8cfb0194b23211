//! Message templates from the agent folder's `templates/` directory, and the one place
//! real customer values enter a message body.
//!
//! `templates/<name>.email`: a `Subject: …` line, a blank line, then the body.
//! `templates/<name>.sms`: the body.
//!
//! Placeholders are `{{customer.name}}`, `{{customer.first_name}}` and `{{vars.<name>}}`.
//! The hydration rule: a real value goes into a message only where the template's author
//! wrote a `customer.*` placeholder, and the recipient only comes from a token the
//! membrane resolves itself. What the agent supplies in `vars` is inserted verbatim and is
//! never hydrated, so an agent cannot smuggle `[CARD_1]` into a body and have it filled in.
//! The agent must supply exactly the template's `vars` (missing or extra ones are refused),
//! and it never sees the rendered text.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::connectors::outbox::Channel;

/// Largest template file.
pub const MAX_TEMPLATE_BYTES: u64 = 16 * 1024;
/// Longest value of one agent-supplied variable, in characters.
pub const MAX_VAR_CHARS: usize = 500;
/// Most variables one send may carry.
pub const MAX_VARS: usize = 32;

/// Customer fields a template author may place, and how they are derived from the record.
pub const CUSTOMER_PLACEHOLDERS: [&str; 2] = ["name", "first_name"];

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The name is not `[a-z0-9_-]{1,64}`.
    #[error("template name `{0}` must be 1..=64 characters of a-z, 0-9, `_` or `-`")]
    BadName(String),
    /// No such file in the agent folder.
    #[error("the agent folder has no {channel} template `{name}`")]
    Missing {
        /// Template name.
        name: String,
        /// Its channel.
        channel: &'static str,
    },
    /// The file is broken (too large, not UTF-8, bad placeholder, no subject).
    #[error("template `{name}` is broken: {reason}")]
    Broken {
        /// Template name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The agent's variables do not match the template's.
    #[error("{0}")]
    Vars(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Customer(&'static str),
    Var(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    name: String,
    subject: Option<Vec<Piece>>,
    body: Vec<Piece>,
}

/// A rendered message: subject (email only) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Email subject.
    pub subject: Option<String>,
    /// Body.
    pub body: String,
}

/// Checks a template name (it becomes part of a path).
pub fn check_name(name: &str) -> Result<(), TemplateError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(TemplateError::BadName(name.chars().take(80).collect()))
    }
}

impl Template {
    /// Loads `<agent_dir>/templates/<name>.<channel>` (symlinks are not followed).
    pub fn load(agent_dir: &Path, name: &str, channel: Channel) -> Result<Self, TemplateError> {
        check_name(name)?;
        let path = agent_dir
            .join("templates")
            .join(format!("{name}.{}", channel.as_str()));
        let broken = |reason: String| TemplateError::Broken {
            name: name.to_string(),
            reason,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc_o_nofollow())
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => TemplateError::Missing {
                    name: name.to_string(),
                    channel: channel.as_str(),
                },
                _ => broken(format!("cannot open it: {e}")),
            })?;
        let mut text = String::new();
        file.take(MAX_TEMPLATE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| broken(format!("cannot read it as UTF-8: {e}")))?;
        if text.len() as u64 > MAX_TEMPLATE_BYTES {
            return Err(broken(format!("larger than {MAX_TEMPLATE_BYTES} bytes")));
        }
        Self::parse(name, &text, channel).map_err(broken)
    }

    /// Parses template text.
    pub fn parse(name: &str, text: &str, channel: Channel) -> Result<Self, String> {
        let (subject, body) = match channel {
            Channel::Email => {
                let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
                let subject = first
                    .strip_prefix("Subject:")
                    .ok_or("an email template starts with a `Subject:` line")?
                    .trim();
                let body = rest.strip_prefix('\n').unwrap_or(rest);
                (Some(parse_pieces(subject)?), body)
            }
            Channel::Sms => (None, text),
        };
        Ok(Self {
            name: name.to_string(),
            subject,
            body: parse_pieces(body.trim_end_matches('\n'))?,
        })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `vars.*` names the template uses.
    pub fn vars(&self) -> BTreeSet<&str> {
        self.subject
            .iter()
            .flatten()
            .chain(&self.body)
            .filter_map(|p| match p {
                Piece::Var(v) => Some(v.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Renders with the author-placed customer values and the agent's variables, which
    /// must be exactly [`Self::vars`].
    pub fn render(
        &self,
        customer: &dyn Fn(&str) -> Option<String>,
        vars: &BTreeMap<String, String>,
    ) -> Result<Rendered, TemplateError> {
        check_vars(&self.vars(), vars)?;
        let fill = |pieces: &[Piece]| -> Result<String, TemplateError> {
            let mut out = String::new();
            for p in pieces {
                match p {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Var(v) => out.push_str(vars.get(v).map_or("", String::as_str)),
                    Piece::Customer(f) => {
                        let value = customer(f).ok_or_else(|| TemplateError::Broken {
                            name: self.name.clone(),
                            reason: format!("the customer record has no `{f}`"),
                        })?;
                        out.push_str(&value);
                    }
                }
            }
            Ok(out)
        };
        Ok(Rendered {
            subject: self.subject.as_deref().map(fill).transpose()?,
            body: fill(&self.body)?,
        })
    }
}

fn check_vars(
    wanted: &BTreeSet<&str>,
    given: &BTreeMap<String, String>,
) -> Result<(), TemplateError> {
    if given.len() > MAX_VARS {
        return Err(TemplateError::Vars(format!(
            "at most {MAX_VARS} variables are allowed"
        )));
    }
    if let Some(extra) = given.keys().find(|k| !wanted.contains(k.as_str())) {
        return Err(TemplateError::Vars(format!(
            "the template has no variable `{}`",
            extra.chars().take(64).collect::<String>()
        )));
    }
    if let Some(missing) = wanted.iter().find(|w| !given.contains_key(**w)) {
        return Err(TemplateError::Vars(format!(
            "the template needs variable `{missing}`"
        )));
    }
    for (k, v) in given {
        if v.chars().count() > MAX_VAR_CHARS {
            return Err(TemplateError::Vars(format!(
                "variable `{k}` is longer than {MAX_VAR_CHARS} characters"
            )));
        }
        if v.chars().any(|c| c.is_control() && c != '\n') {
            return Err(TemplateError::Vars(format!(
                "variable `{k}` contains control characters"
            )));
        }
    }
    Ok(())
}

fn parse_pieces(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or("a `{{` placeholder is never closed")?;
        let inner = after[..end].trim();
        let piece = if let Some(field) = inner.strip_prefix("customer.") {
            let field = CUSTOMER_PLACEHOLDERS
                .iter()
                .find(|f| **f == field)
                .ok_or_else(|| {
                    format!(
                        "`{{{{{inner}}}}}`: customer placeholders are {}",
                        CUSTOMER_PLACEHOLDERS.join(", ")
                    )
                })?;
            Piece::Customer(field)
        } else if let Some(var) = inner.strip_prefix("vars.") {
            let ok = !var.is_empty()
                && var.len() <= 64
                && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(format!("`{{{{{inner}}}}}` is not a valid variable name"));
            }
            Piece::Var(var.to_string())
        } else {
            return Err(format!(
                "`{{{{{inner}}}}}`: placeholders are `customer.<field>` or `vars.<name>`"
            ));
        };
        pieces.push(piece);
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err("a `}}` has no opening `{{`".into());
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// `O_NOFOLLOW` without a libc dependency (the value is the same on every Linux arch we
/// build for).
fn libc_o_nofollow() -> i32 {
    0o400000
}

/// The customer placeholders' values from a record's raw name.
pub fn customer_value(field: &str, full_name: Option<&str>) -> Option<String> {
    let name = full_name?.trim();
    match field {
        "name" => Some(name.to_string()),
        "first_name" => name.split_whitespace().next().map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_author_placed_customer_values_and_verbatim_vars() {
        let t = Template::parse(
            "refund",
            "Subject: Refund {{vars.id}}\n\nHi {{ customer.first_name }}, {{vars.note}}\n",
            Channel::Email,
        )
        .unwrap();
        assert_eq!(t.vars().into_iter().collect::<Vec<_>>(), ["id", "note"]);
        let r = t
            .render(
                &|f| customer_value(f, Some("Jane Smith")),
                &vars(&[
                    ("id", "R-1"),
                    ("note", "your card [CARD_1] {{customer.name}}"),
                ]),
            )
            .unwrap();
        assert_eq!(r.subject.as_deref(), Some("Refund R-1"));
        // The agent's text stays literal: neither the token nor the placeholder is filled.
        assert_eq!(r.body, "Hi Jane, your card [CARD_1] {{customer.name}}");
    }

    #[test]
    fn vars_must_match_exactly() {
        let t = Template::parse("s", "Code {{vars.code}}", Channel::Sms).unwrap();
        let c = |_: &str| None;
        assert!(matches!(
            t.render(&c, &vars(&[])),
            Err(TemplateError::Vars(_))
        ));
        assert!(matches!(
            t.render(&c, &vars(&[("code", "1"), ("extra", "2")])),
            Err(TemplateError::Vars(_))
        ));
        assert!(matches!(
            t.render(&c, &vars(&[("code", "a\u{7}")])),
            Err(TemplateError::Vars(_))
        ));
        assert_eq!(
            t.render(&c, &vars(&[("code", "1")])).unwrap().body,
            "Code 1"
        );
    }

    #[test]
    fn bad_templates_and_names_are_refused() {
        for (text, channel) in [
            ("no subject", Channel::Email),
            ("Subject: x\n\n{{customer.email}}", Channel::Email),
            ("{{vars.a", Channel::Sms),
            ("{{secrets.key}}", Channel::Sms),
            ("a }} b", Channel::Sms),
            ("{{vars.a-b}}", Channel::Sms),
        ] {
            assert!(Template::parse("t", text, channel).is_err(), "{text}");
        }
        for name in ["", "../x", "A", "a/b", &"a".repeat(65)] {
            assert!(check_name(name).is_err(), "{name}");
        }
    }
}
