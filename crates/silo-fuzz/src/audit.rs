//! `audit_verify`: the audit log's verifier (`silo-audit`) on corrupted logs. A valid
//! SQLite log of [`ENTRIES`] entries and a checkpoint signed over all of them are built once;
//! each input is a list of edits an attacker with write access to the database file could
//! make with its append-only triggers dropped (delete, move or duplicate rows, flip or
//! splice bytes of a stored entry, store bytes that are not UTF-8, replace a hash or
//! recompute it, edit or clear a query column, rewrite a field and re-canonicalise, cut the
//! tail), applied to a fresh copy of that file, which `SqliteStore` then opens and verifies.
//! Two input prefixes reach the parsers directly: `0xFF` + a checkpoint file, `0xFE` + a
//! stored entry.
//!
//! Invariants: reading and verifying report, never panic; the untouched log verifies; a log
//! whose first [`ENTRIES`] rows changed never verifies against the checkpoint; a log that
//! verifies without one holds the original rows up to its size; a reported first bad seq is
//! never before the first changed row; a checkpoint file verifies only if it is the real
//! one; an entry decodes only from its canonical bytes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rusqlite::{params, Connection};
use serde_json::{json, Value};
use silo_audit::canonical::canonical_value;
use silo_audit::merkle::leaf_hash;
use silo_audit::store::StoredRow;
use silo_audit::verify::{verify, verify_against};
use silo_audit::{
    ActionName, Actor, AgentName, AuditStore, CheckpointFile, CheckpointKey, CheckpointPublicKey,
    CustomerToken, Decision, Detail, Durability, Entry, EntryDraft, KeyId, KeyRef, RuleId,
    SignedCheckpoint, SqliteStore, TaskId, Timestamp, TokenId, VerifyError,
};

/// Entries in the valid log.
pub const ENTRIES: usize = 8;

/// Edits applied at most; the rest of a longer input is ignored.
const MAX_EDITS: usize = 32;

/// Words the mutator inserts.
pub const DICTIONARY: &[&str] = &[
    "\u{ff}{\"checkpoint\":",
    "\u{fe}{\"seq\":",
    "\"prev\":\"",
    "\"decision\":\"allow\"",
    "\"decision\":\"deny\"",
    "\"seq\":0",
    "\"time\":\"",
    "\"detail\":{}",
    "\"root\":\"",
    "\"size\":",
    "\"signature\":\"",
    "\"public_key\":\"",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "9223372036854775807",
    "-1",
    "\\u0000",
];

struct Log {
    /// The database folder (0700, as the store wants it).
    dir: tempfile::TempDir,
    /// The valid database file's bytes.
    file: Vec<u8>,
    /// Its rows as the store reads them.
    rows: Vec<StoredRow>,
    checkpoint: SignedCheckpoint,
    public_key: CheckpointPublicKey,
}

fn draft(i: usize) -> EntryDraft {
    let decisions = [
        Decision::Allow,
        Decision::Deny,
        Decision::NeedsApproval,
        Decision::NotApplicable,
    ];
    let time =
        Timestamp::from_unix_micros(1_800_000_000_000_000 + i as i64 * 1_000).expect("a timestamp");
    let mut draft = EntryDraft::new(
        Actor::new("membrane").expect("an actor"),
        ActionName::new(["refund", "kv.put", "task.complete"][i % 3]).expect("an action"),
        decisions[i % 4],
    )
    .at(time)
    .task(TaskId::new(format!("task-{}", i % 3)).expect("a task id"));
    if i.is_multiple_of(2) {
        draft = draft
            .agent(AgentName::new("refund-agent").expect("an agent"))
            .customer(CustomerToken::new("cus_001").expect("a customer"))
            .rule(RuleId::new("big-refunds").expect("a rule"))
            .base_key(KeyRef::token(
                KeyId::new("k-1").expect("a kid"),
                TokenId::new(format!("{i:032x}")).expect("a jti"),
            ));
    }
    if i.is_multiple_of(3) {
        draft = draft.detail(
            Detail::new(json!({"amount_cents": 500 * i, "status": 200, "currency": "USD"}))
                .expect("a detail"),
        );
    }
    draft
}

fn all_rows(store: &SqliteStore) -> Result<Vec<StoredRow>, silo_audit::StoreError> {
    store.rows_after(None, 1 << 20)
}

fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let dir = crate::scratch_dir("audit");
        let path = dir.path().join("template.db");
        let (verified, rows) = {
            let store = SqliteStore::open_with(&path, Durability::Process).expect("a store");
            for i in 0..ENTRIES {
                store.append(draft(i)).expect("appending");
            }
            let verified = verify(&store).expect("the fuzz log verifies");
            (verified, all_rows(&store).expect("reading the rows"))
        };
        // Closed: the WAL is checkpointed into the file and removed.
        let file = std::fs::read(&path).expect("reading the database file");
        assert!(
            !wal(&path).exists(),
            "the template's WAL was not folded into the database"
        );
        // A fixed key and time: the checkpoint is the same in every run, so a seed input can
        // hold the real checkpoint file.
        let key_file = tempfile::NamedTempFile::new().expect("a key file (mode 0600)");
        std::fs::write(key_file.path(), "5a".repeat(32)).expect("writing the key file");
        let key = CheckpointKey::load(key_file.path()).expect("a checkpoint key");
        let time = Timestamp::from_unix_micros(1_800_000_100_000_000).expect("a timestamp");
        let checkpoint =
            SignedCheckpoint::sign(verified.size, verified.root, time, &key).expect("a checkpoint");
        Log {
            dir,
            file,
            rows,
            checkpoint,
            public_key: key.public_key(),
        }
    })
}

fn wal(path: &Path) -> PathBuf {
    path.with_extension("db-wal")
}

/// Reads the input front to back; zeros when it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> usize {
        usize::from(self.u8()) << 8 | usize::from(self.u8())
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One stored row, raw.
struct Raw {
    seq: i64,
    body: Vec<u8>,
}

fn raw_rows(conn: &Connection) -> Vec<Raw> {
    let Ok(mut stmt) =
        conn.prepare("SELECT seq, CAST(body AS BLOB) FROM audit_entries ORDER BY seq")
    else {
        return Vec::new();
    };
    stmt.query_map([], |r| {
        Ok(Raw {
            seq: r.get(0)?,
            body: r.get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default(),
        })
    })
    .map(|rows| rows.flatten().collect())
    .unwrap_or_default()
}

fn set_body(conn: &Connection, seq: i64, body: &[u8]) {
    // CAST: a TEXT value with whatever bytes, UTF-8 or not, as an attacker can store it.
    let _ = conn.execute(
        "UPDATE audit_entries SET body = CAST(?1 AS TEXT) WHERE seq = ?2",
        params![body, seq],
    );
}

/// Applies one edit an attacker could make to the database (errors, e.g. a constraint, leave
/// it as it was).
fn edit(conn: &Connection, input: &mut Bytes<'_>) {
    let op = input.u8() % 13;
    let rows = raw_rows(conn);
    if rows.is_empty() {
        return;
    }
    let r = &rows[usize::from(input.u8()) % rows.len()];
    let seq = r.seq;
    let body = r.body.clone();
    let exec = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
        let _ = conn.execute(sql, p);
    };
    match op {
        0 => exec("DELETE FROM audit_entries WHERE seq = ?1", &[&seq]),
        1 => {
            let other = rows[usize::from(input.u8()) % rows.len()].seq;
            exec(
                "UPDATE audit_entries SET seq = CASE seq WHEN ?1 THEN -9000000000000000000 ELSE seq END WHERE seq IN (?1, ?2)",
                &[&seq, &other],
            );
            exec("UPDATE audit_entries SET seq = ?1 WHERE seq = ?2", &[&seq, &other]);
            exec(
                "UPDATE audit_entries SET seq = ?1 WHERE seq = -9000000000000000000",
                &[&other],
            );
        }
        2 => {
            let mut raw = [0u8; 8];
            let bytes = input.take(8);
            raw[..bytes.len()].copy_from_slice(bytes);
            exec(
                "UPDATE audit_entries SET seq = ?1 WHERE seq = ?2",
                &[&i64::from_le_bytes(raw), &seq],
            );
        }
        3 if !body.is_empty() => {
            let mut body = body;
            let at = input.u16() % body.len();
            body[at] ^= 1 << (input.u8() % 8);
            set_body(conn, seq, &body);
        }
        4 => {
            let mut body = body;
            let at = input.u16() % (body.len() + 1);
            let cut = usize::from(input.u8() % 16).min(body.len() - at);
            let n = usize::from(input.u8() % 64);
            body.splice(at..at + cut, input.take(n).iter().copied());
            set_body(conn, seq, &body);
        }
        5 => {
            let n = usize::from(input.u8() % 40);
            let hash = input.take(n).to_vec();
            exec("UPDATE audit_entries SET hash = ?1 WHERE seq = ?2", &[&hash, &seq]);
        }
        6 => {
            let hash = leaf_hash(&body).as_bytes().to_vec();
            exec("UPDATE audit_entries SET hash = ?1 WHERE seq = ?2", &[&hash, &seq]);
        }
        7 => {
            let n = usize::from(input.u8() % 24);
            let text = String::from_utf8_lossy(input.take(n)).into_owned();
            let value = (n > 0).then_some(text);
            let column = ["time_us", "task", "agent", "customer", "action", "decision"]
                [usize::from(input.u8()) % 6];
            let sql = format!("UPDATE audit_entries SET {column} = ?1 WHERE seq = ?2");
            if column == "time_us" {
                let number = value.and_then(|v| v.trim().parse::<i64>().ok());
                exec(&sql, &[&number, &seq]);
            } else {
                exec(&sql, &[&value, &seq]);
            }
        }
        8 => exec(
            "INSERT INTO audit_entries (seq, time_us, task, agent, customer, action, decision, body, hash)
             SELECT (SELECT MAX(seq) + 1 FROM audit_entries), time_us, task, agent, customer, action, decision, body, hash
             FROM audit_entries WHERE seq = ?1",
            &[&seq],
        ),
        9 => {
            let mut body = body;
            body.truncate(input.u16() % (body.len() + 1));
            set_body(conn, seq, &body);
        }
        10 => {
            // An attacker who rewrites a field, re-canonicalises and re-hashes the entry.
            let fields = ["seq", "prev", "decision", "task", "time", "detail", "action", "rule"];
            let field = fields[usize::from(input.u8()) % fields.len()];
            let n = usize::from(input.u8() % 80);
            let raw = input.take(n);
            let value: Value = serde_json::from_slice(raw)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(raw).into_owned()));
            if let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&body) {
                map.insert(field.to_owned(), value);
                if let Ok(new) = canonical_value(&Value::Object(map)) {
                    set_body(conn, seq, &new);
                    let hash = leaf_hash(&new).as_bytes().to_vec();
                    exec("UPDATE audit_entries SET hash = ?1 WHERE seq = ?2", &[&hash, &seq]);
                }
            }
        }
        11 => exec("DELETE FROM audit_entries WHERE seq >= ?1", &[&seq]),
        _ => {
            // Bytes that are not UTF-8 in the TEXT column.
            let mut body = body;
            let at = input.u16() % (body.len() + 1);
            body.insert(at, 0x80 | (input.u8() & 0x7f));
            set_body(conn, seq, &body);
        }
    }
}

/// Runs one input (see the module docs).
pub fn run(data: &[u8]) {
    let log = log();
    match data.first() {
        Some(0xFF) => return checkpoint_file(log, &data[1..]),
        Some(0xFE) => {
            if let Ok(entry) = Entry::decode(&data[1..]) {
                assert_eq!(
                    entry.canonical().ok().as_deref(),
                    Some(&data[1..]),
                    "an entry decoded from bytes that are not its canonical form"
                );
            }
            return;
        }
        _ => {}
    }
    // One file per thread: the smoke runner and libFuzzer run one input at a time per thread.
    let path = log
        .dir
        .path()
        .join(format!("fuzz-{:?}.db", std::thread::current().id()).replace(['(', ')'], ""));
    let _ = std::fs::remove_file(wal(&path));
    let _ = std::fs::remove_file(path.with_extension("db-shm"));
    std::fs::write(&path, &log.file).expect("copying the template log");
    {
        let conn = Connection::open(&path).expect("opening the copy");
        conn.execute_batch(
            "DROP TRIGGER IF EXISTS audit_entries_no_update;
             DROP TRIGGER IF EXISTS audit_entries_no_delete;",
        )
        .expect("dropping the append-only triggers");
        let mut input = Bytes(data);
        // Enough edits to combine a few; more only make the input slow, not new.
        for _ in 0..MAX_EDITS {
            if input.is_empty() {
                break;
            }
            edit(&conn, &mut input);
        }
    }
    let store = match SqliteStore::open_with(&path, Durability::Process) {
        Ok(store) => store,
        Err(e) => panic!("the edited log does not open: {e}"),
    };
    let Ok(rows) = all_rows(&store) else {
        // Unreadable rows: verification must say so, not panic.
        assert!(verify(&store).is_err(), "rows that do not read verified");
        return;
    };
    let first_change = rows
        .iter()
        .zip(&log.rows)
        .position(|(a, b)| a != b)
        .unwrap_or(rows.len().min(log.rows.len()));
    let unchanged = rows == log.rows;
    let plain = verify(&store);
    let pinned = verify_against(&store, &log.checkpoint, &log.public_key);
    if unchanged {
        let v = pinned.unwrap_or_else(|e| panic!("the untouched log does not verify: {e}"));
        assert_eq!(v.root, log.checkpoint.checkpoint.root);
        assert!(plain.is_ok(), "the untouched log does not verify");
        return;
    }
    if first_change < ENTRIES {
        assert!(
            pinned.is_err(),
            "row {first_change} changed, yet the log verifies against its checkpoint"
        );
    }
    for result in [&plain, &pinned] {
        match result {
            Ok(v) => assert!(
                v.size as usize <= first_change || first_change >= ENTRIES,
                "a log whose row {first_change} changed verified with {} entries",
                v.size
            ),
            Err(VerifyError::Tamper(t)) => {
                if let Some(seq) = t.first_bad_seq() {
                    assert!(
                        seq as usize >= first_change,
                        "the first bad seq reported is {seq}, but rows up to {first_change} are untouched ({t})"
                    );
                }
            }
            Err(e) => {
                panic!("verification of an in-memory log failed other than by tampering: {e}")
            }
        }
    }
}

/// The real checkpoint file of the fuzz log (a seed input for the `0xFF` prefix).
pub fn checkpoint_json() -> Vec<u8> {
    let log = log();
    CheckpointFile::new(log.checkpoint.clone(), log.public_key)
        .to_json()
        .expect("the checkpoint as JSON")
}

/// The stored bytes of entry `seq` of the fuzz log (a seed input for the `0xFE` prefix).
pub fn entry_bytes(seq: usize) -> Vec<u8> {
    log().rows[seq % ENTRIES].body.clone()
}

fn checkpoint_file(log: &Log, data: &[u8]) {
    let Ok(file) = CheckpointFile::from_json(data) else {
        return;
    };
    let signed = file.signed();
    if signed.verify(&log.public_key).is_ok() {
        assert_eq!(
            signed, log.checkpoint,
            "a checkpoint that is not the one signed verified"
        );
    }
    let _ = file.to_json();
}
