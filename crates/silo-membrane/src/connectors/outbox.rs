//! Where rendered email and SMS go. The embedded default is a directory with one JSON file
//! per message (`<dir>/<channel>/<message_id>.json`, mode 0600) that the demo and the tests
//! read; a relay (SMTP, an SMS webhook) plugs in behind the same trait.
//!
//! Sending is idempotent: the message id is derived from the customer and the caller's
//! idempotency key (like refunds, so a retried task — which gets a new task id — does not
//! send again), and a file is published with a hard link that fails if the id exists,
//! so a retried or replayed send never delivers twice.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ConnectorError;

/// Email or SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// An email: has a subject.
    Email,
    /// A text message: body only.
    Sms,
}

impl Channel {
    /// The wire and directory name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// A rendered message with its real recipient. Built inside the membrane, never shown to
/// a cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// Stable id: the same customer, channel and idempotency key give the same id.
    pub message_id: String,
    /// Email or SMS.
    pub channel: Channel,
    /// The real address or phone number (hydrated from a token).
    pub to: String,
    /// Email subject; `None` for SMS.
    pub subject: Option<String>,
    /// The rendered body.
    pub body: String,
    /// Template name.
    pub template: String,
    /// Task that sent it.
    pub task: String,
    /// Agent that sent it.
    pub agent: String,
    /// Unix seconds.
    pub created_at: u64,
}

impl OutboundMessage {
    /// The id for `(customer, channel, idempotency_key)`: `msg-` and 24 hex digits of
    /// SHA-256.
    pub fn id_for(customer: &str, channel: Channel, idempotency_key: &str) -> String {
        let mut h = Sha256::new();
        for part in [customer, channel.as_str(), idempotency_key] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!("msg-{hex}")
    }
}

/// What a send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued for delivery now.
    Queued,
    /// A message with this id was already queued (same recipient, template and body);
    /// nothing new was sent.
    Replayed,
    /// The id was used for a different message; nothing was sent.
    Conflict,
}

/// A delivery channel for rendered messages.
pub trait Outbox: Send + Sync {
    /// Queues `message` once per `message_id`.
    fn send(&self, message: &OutboundMessage) -> Result<SendOutcome, ConnectorError>;
}

/// [`Outbox`] as a directory of JSON files.
#[derive(Debug, Clone)]
pub struct DirOutbox {
    dir: PathBuf,
}

impl DirOutbox {
    /// An outbox under `dir` (created 0700 on first use).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The outbox directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every queued message of `channel`, oldest id order (for the host: tests, the demo).
    pub fn messages(&self, channel: Channel) -> Result<Vec<OutboundMessage>, ConnectorError> {
        let dir = self.dir.join(channel.as_str());
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(ConnectorError::Io { path: dir, source }),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ConnectorError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            out.push(read_message(&path)?);
        }
        out.sort_by(|a, b| (a.created_at, &a.message_id).cmp(&(b.created_at, &b.message_id)));
        Ok(out)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ConnectorError + '_ {
    move |source| ConnectorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_message(path: &Path) -> Result<OutboundMessage, ConnectorError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|e| ConnectorError::Corrupt {
        connector: "outbox",
        reason: format!("{}: {e}", path.display()),
    })
}

impl Outbox for DirOutbox {
    fn send(&self, message: &OutboundMessage) -> Result<SendOutcome, ConnectorError> {
        let dir = self.dir.join(message.channel.as_str());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err(&dir))?;
        let target = dir.join(format!("{}.json", message.message_id));
        if target.exists() {
            return replay_or_conflict(&target, message);
        }
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            message.message_id,
            std::process::id()
        ));
        let bytes = serde_json::to_vec_pretty(message).map_err(|e| ConnectorError::Corrupt {
            connector: "outbox",
            reason: e.to_string(),
        })?;
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            // A hard link never replaces an existing file: of two racing sends with one id,
            // exactly one publishes.
            std::fs::hard_link(&tmp, &target)
        })();
        let _ = std::fs::remove_file(&tmp);
        match written {
            Ok(()) => {
                std::fs::File::open(&dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io_err(&dir))?;
                Ok(SendOutcome::Queued)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                replay_or_conflict(&target, message)
            }
            Err(source) => Err(ConnectorError::Io {
                path: target,
                source,
            }),
        }
    }
}

fn replay_or_conflict(
    target: &Path,
    message: &OutboundMessage,
) -> Result<SendOutcome, ConnectorError> {
    let existing = read_message(target)?;
    let same = existing.to == message.to
        && existing.template == message.template
        && existing.subject == message.subject
        && existing.body == message.body;
    Ok(if same {
        SendOutcome::Replayed
    } else {
        SendOutcome::Conflict
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> OutboundMessage {
        OutboundMessage {
            message_id: OutboundMessage::id_for("t1", Channel::Email, "k1"),
            channel: Channel::Email,
            to: "a@example.com".into(),
            subject: Some("s".into()),
            body: body.into(),
            template: "tpl".into(),
            task: "t1".into(),
            agent: "a".into(),
            created_at: 1,
        }
    }

    #[test]
    fn one_file_per_id_and_replays_do_not_resend() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = DirOutbox::new(dir.path());
        assert_eq!(outbox.send(&msg("hello")).unwrap(), SendOutcome::Queued);
        assert_eq!(outbox.send(&msg("hello")).unwrap(), SendOutcome::Replayed);
        assert_eq!(outbox.send(&msg("other")).unwrap(), SendOutcome::Conflict);
        let all = outbox.messages(Channel::Email).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].body, "hello");
        assert!(outbox.messages(Channel::Sms).unwrap().is_empty());
    }

    #[test]
    fn ids_depend_on_task_channel_and_key() {
        let a = OutboundMessage::id_for("t1", Channel::Email, "k");
        assert_ne!(a, OutboundMessage::id_for("t2", Channel::Email, "k"));
        assert_ne!(a, OutboundMessage::id_for("t1", Channel::Sms, "k"));
        assert_ne!(a, OutboundMessage::id_for("t1", Channel::Email, "k2"));
        // Length-prefixed: shifting characters between parts changes the id.
        assert_ne!(
            OutboundMessage::id_for("ab", Channel::Email, "c"),
            OutboundMessage::id_for("a", Channel::Email, "bc")
        );
    }
}
