//! Turn keys signed on a router host for cell hosts that hold no private key (a
//! multi-host deployment on PostgreSQL). A cell host that claimed a turn asks through the
//! shared database ([`DbKeyIssuer`]: one row in `key_requests`, and a `NOTIFY`); a router
//! host's [`KeyService`] answers only for a turn its own store shows dispatched — the same
//! task, turn number, agent, cell and task key id, in state `dispatched` — with claims it
//! builds itself from the task and its own copy of the agent folder (whose content hash
//! must match the cell host's). So a cell host cannot obtain keys for a turn the router
//! did not dispatch, for another customer, or for an agent folder the router does not
//! run; and the signing key stays on the router hosts.
//!
//! The signed tokens cross the database once: the cell host reads its answer and deletes
//! the row. A task key is bound to its cell (only that cell's membrane socket accepts it)
//! and revoked when the turn ends.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use silo_invoke::{IssuedKeys, KeyIssuer, Manifest, TurnClaims, TurnKeyRequest};
use silo_keys::{KeyStore, WorkflowRef};
use silo_postgres::postgres::fallible_iterator::FallibleIterator;
use silo_postgres::Database;

use crate::state::State;
use crate::store::Store;
use crate::task::TaskId;

/// The channel a new request is announced on.
pub const REQUESTS_CHANNEL: &str = "silo_key_requests";
/// How long a cell host waits for a router to answer.
const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// Answered requests nobody collected (their cell host died) are removed after this.
const STALE_SECS: i64 = 300;

/// Column `idx` of `row`, or why not (never a panic on a type mismatch).
fn col<'a, T: silo_postgres::postgres::types::FromSql<'a>>(
    row: &'a silo_postgres::postgres::Row,
    idx: usize,
) -> Result<T, String> {
    row.try_get(idx)
        .map_err(|e| format!("key_requests column {idx}: {e}"))
}

fn now() -> i64 {
    i64::try_from(silo_keys::now_unix()).unwrap_or(i64::MAX)
}

/// The cell-host side: asks a router host through the shared database.
#[derive(Debug, Clone)]
pub struct DbKeyIssuer {
    db: Database,
}

impl DbKeyIssuer {
    /// Asks through `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

impl KeyIssuer for DbKeyIssuer {
    fn issue(&self, request: &TurnKeyRequest) -> Result<IssuedKeys, String> {
        let mut client = self.db.client().map_err(|e| e.to_string())?;
        let id: i64 = client
            .query_one(
                "INSERT INTO key_requests (task, cell, task_key_jti, agent, folder_hash, requested_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &request.task,
                    &request.cell,
                    &request.task_key_jti,
                    &request.agent,
                    &request.folder_hash,
                    &now(),
                ],
            )
            .map_err(|e| format!("asking for the turn's keys: {e}"))
            .and_then(|r| col(&r, 0))?;
        let deadline = Instant::now() + ANSWER_WAIT;
        let mut pause = Duration::from_millis(1);
        // The connection goes back to the pool while waiting: many workers may wait at once.
        drop(client);
        loop {
            let mut client = self.db.client().map_err(|e| e.to_string())?;
            let row = client
                .query_one(
                    "SELECT answered_at IS NOT NULL, base_key, task_key, refused
                     FROM key_requests WHERE id = $1",
                    &[&id],
                )
                .map_err(|e| format!("reading the answer: {e}"))?;
            let answered: bool = col(&row, 0)?;
            if answered {
                let base: Option<String> = col(&row, 1)?;
                let task: Option<String> = col(&row, 2)?;
                let refused: Option<String> = col(&row, 3)?;
                // Collected: the tokens leave the database.
                let _ = client.execute("DELETE FROM key_requests WHERE id = $1", &[&id]);
                return match (base, task, refused) {
                    (Some(base), Some(task), None) => Ok(IssuedKeys { base, task }),
                    (_, _, Some(reason)) => Err(reason),
                    _ => Err("the answer is incomplete".into()),
                };
            }
            if Instant::now() > deadline {
                let _ = client.execute("DELETE FROM key_requests WHERE id = $1", &[&id]);
                return Err(format!(
                    "no router host answered within {} s (is a `silo serve --role router` running?)",
                    ANSWER_WAIT.as_secs()
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// The router-host side: answers the requests of cell hosts.
#[derive(Debug)]
pub struct KeyService {
    db: Database,
    keys_dir: PathBuf,
    agents_dir: PathBuf,
}

/// One pending request.
struct Pending {
    id: i64,
    request: TurnKeyRequest,
}

impl KeyService {
    /// Signs with the key store at `keys_dir`, for the agents of `agents_dir`.
    pub fn new(db: Database, keys_dir: &Path, agents_dir: &Path) -> Self {
        Self {
            db,
            keys_dir: keys_dir.to_path_buf(),
            agents_dir: agents_dir.to_path_buf(),
        }
    }

    /// Answers every pending request (several router hosts may do this at once: each
    /// request is answered by one); returns how many.
    pub fn answer_pending(&self, store: &dyn Store) -> Result<usize, String> {
        let mut client = self.db.client().map_err(|e| e.to_string())?;
        let mut tx = client.transaction().map_err(|e| e.to_string())?;
        let pending: Vec<Pending> = tx
            .query(
                "SELECT id, task, cell, task_key_jti, agent, folder_hash FROM key_requests
                 WHERE answered_at IS NULL ORDER BY id LIMIT 64 FOR UPDATE SKIP LOCKED",
                &[],
            )
            .map_err(|e| e.to_string())?
            .iter()
            .map(|r| {
                Ok(Pending {
                    id: col(r, 0)?,
                    request: TurnKeyRequest {
                        task: col(r, 1)?,
                        cell: col(r, 2)?,
                        task_key_jti: col(r, 3)?,
                        agent: col(r, 4)?,
                        folder_hash: col(r, 5)?,
                    },
                })
            })
            .collect::<Result<_, String>>()?;
        if pending.is_empty() {
            tx.execute(
                "DELETE FROM key_requests WHERE answered_at < $1",
                &[&(now() - STALE_SECS)],
            )
            .map_err(|e| e.to_string())?;
            tx.commit().map_err(|e| e.to_string())?;
            return Ok(0);
        }
        // Opened per batch: a rotation by another process is picked up.
        let keys = KeyStore::open_with_postgres(&self.keys_dir, &self.db)
            .map_err(|e| format!("the key store: {e}"))?;
        for p in &pending {
            let answer = self.sign(store, &keys, &p.request);
            let (base, task, refused) = match answer {
                Ok(k) => (Some(k.base), Some(k.task), None),
                Err(reason) => {
                    tracing::warn!(task = %p.request.task, cell = %p.request.cell, %reason, "turn keys refused");
                    (None, None, Some(reason))
                }
            };
            tx.execute(
                "UPDATE key_requests SET answered_at = $2, base_key = $3, task_key = $4,
                 refused = $5 WHERE id = $1",
                &[&p.id, &now(), &base, &task, &refused],
            )
            .map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(pending.len())
    }

    /// The keys of `request`, if the router's own records show that turn dispatched.
    fn sign(
        &self,
        store: &dyn Store,
        keys: &KeyStore,
        request: &TurnKeyRequest,
    ) -> Result<IssuedKeys, String> {
        let (task_id, turn) = request
            .task
            .rsplit_once('.')
            .and_then(|(t, n)| Some((t, n.parse::<u32>().ok()?)))
            .ok_or_else(|| format!("`{}` is not a turn of a router task", request.task))?;
        let view = store
            .get(&TaskId(task_id.to_owned()))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no task `{task_id}`"))?;
        let record = view
            .dispatch
            .as_ref()
            .filter(|_| view.state == State::Dispatched && view.dispatches == turn)
            .ok_or_else(|| format!("turn {turn} of `{task_id}` is not the one dispatched now"))?;
        if record.agent != request.agent
            || record.cell != request.cell
            || record.task_key_jti != request.task_key_jti
        {
            return Err(format!(
                "turn {turn} of `{task_id}` was dispatched with another agent, cell or key id"
            ));
        }
        let dir = self.agents_dir.join(&record.agent);
        let manifest = Manifest::load(&dir).map_err(|e| e.to_string())?;
        let hash = silo_keys::folder_hash(&dir).map_err(|e| e.to_string())?;
        if hash.as_str() != request.folder_hash {
            return Err(format!(
                "the cell host's `{}` folder differs from the router's (content hash)",
                record.agent
            ));
        }
        let own = manifest.limits().map_err(|e| e.to_string())?.timeout_ms;
        let timeout_ms = record.timeout_ms.map_or(own, |t| t.min(own));
        let turn_claims = TurnClaims {
            manifest: &manifest,
            folder_hash: hash.as_str(),
            task: &request.task,
            cell: &record.cell,
            task_key_jti: &record.task_key_jti,
            customer: &view.spec.customer,
            case: &view.spec.case,
            run: view.spec.privacy_scope.as_ref().map(|scope| WorkflowRef {
                run: scope.clone(),
                stage: turn.to_string(),
            }),
            timeout_ms,
        };
        let (base, task) = turn_claims
            .claims(silo_keys::now_unix())
            .map_err(|e| e.to_string())?;
        let minter = keys.minter().map_err(|e| e.to_string())?;
        Ok(IssuedKeys {
            base: minter.mint_base(&base).map_err(|e| e.to_string())?,
            task: minter.mint_task(&task).map_err(|e| e.to_string())?,
        })
    }

    /// Answers requests as they come (`LISTEN`), until the process ends.
    pub fn run(&self, store: &dyn Store) {
        let mut listener: Option<silo_postgres::postgres::Client> = None;
        loop {
            if let Err(e) = self.answer_pending(store) {
                tracing::error!(error = %e, "answering turn key requests");
                std::thread::sleep(Duration::from_millis(500));
            }
            if listener
                .as_mut()
                .is_none_or(|l| l.is_valid(Duration::from_secs(2)).is_err())
            {
                listener = self.db.dedicated().ok().and_then(|mut c| {
                    c.batch_execute(&format!("LISTEN {REQUESTS_CHANNEL}"))
                        .ok()?;
                    Some(c)
                });
            }
            let broken = match listener.as_mut() {
                Some(l) => {
                    let mut notifications = l.notifications();
                    let mut waiting = notifications.timeout_iter(Duration::from_secs(1));
                    waiting.next().is_err()
                }
                None => {
                    std::thread::sleep(Duration::from_millis(200));
                    false
                }
            };
            if broken {
                listener = None;
            }
        }
    }
}
