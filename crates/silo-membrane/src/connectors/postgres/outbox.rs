//! [`PgOnceOutbox`]: a message is queued once per message id across every host, not just
//! once per host's outbox directory. The message id is stable (customer, channel and the
//! caller's idempotency key), so a turn run again on another host after its first host
//! died finds the id in `membrane_outbox_sent` and replays instead of sending again.
//!
//! Only the id and a SHA-256 digest of what was sent (recipient, template, subject, body)
//! go to the database — never the recipient or the text. The id is inserted in a
//! transaction that commits only after the local outbox (directory or SMTP relay journal)
//! took the message: a host that dies before queueing leaves no row, and the message is
//! sent by the turn that runs again; only a death between the local write and the commit
//! can still send twice.

use sha2::{Digest, Sha256};
use silo_postgres::Database;

use crate::connectors::outbox::{OutboundMessage, Outbox, SendOutcome};
use crate::connectors::{pg_conn_err, pg_err, secs_to_sql, ConnectorError};

const NAME: &str = "outbox";

/// Queues through `inner` at most once per message id across hosts.
pub struct PgOnceOutbox {
    db: Database,
    inner: Box<dyn Outbox>,
}

impl std::fmt::Debug for PgOnceOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOnceOutbox")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl PgOnceOutbox {
    /// `inner` (this host's outbox) behind the shared record of sent ids in `db`.
    pub fn new(db: Database, inner: Box<dyn Outbox>) -> Self {
        Self { db, inner }
    }
}

/// What identifies a message's content: two sends with one id and this digest are the
/// same message.
fn digest(message: &OutboundMessage) -> String {
    let mut h = Sha256::new();
    for part in [
        message.channel.as_str(),
        message.to.as_str(),
        message.template.as_str(),
        message.subject.as_deref().unwrap_or("\u{0}"),
        message.body.as_str(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Outbox for PgOnceOutbox {
    fn send(&self, message: &OutboundMessage) -> Result<SendOutcome, ConnectorError> {
        super::off_async(|| {
            let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
            let mut tx = client
                .transaction()
                .map_err(pg_err(NAME, "starting a transaction"))?;
            let digest = digest(message);
            // Waits on the unique index while another host holds the same id uncommitted.
            let inserted = tx
                .execute(
                    "INSERT INTO membrane_outbox_sent (message_id, digest, sent_at)
                     VALUES ($1, $2, $3) ON CONFLICT (message_id) DO NOTHING",
                    &[
                        &message.message_id,
                        &digest,
                        &secs_to_sql(message.created_at),
                    ],
                )
                .map_err(pg_err(NAME, "recording the message id"))?;
            if inserted == 0 {
                let row = tx
                    .query_one(
                        "SELECT digest FROM membrane_outbox_sent WHERE message_id = $1",
                        &[&message.message_id],
                    )
                    .map_err(pg_err(NAME, "reading the message id"))?;
                let sent: String = super::column(NAME, &row, 0)?;
                return Ok(if sent == digest {
                    SendOutcome::Replayed
                } else {
                    SendOutcome::Conflict
                });
            }
            let outcome = self.inner.send(message)?;
            tx.commit().map_err(pg_err(NAME, "committing"))?;
            Ok(outcome)
        })
    }
}
