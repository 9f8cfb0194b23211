//! The business database: customer records, their orders and contact history, support
//! cases, and the named write operations an agent may ask for. The agent never sends SQL:
//! it names a field list or an operation, and this connector runs fixed, parameterised
//! statements scoped to the task's customer and case.
//!
//! Every field carries its PII kind from the schema ([`FieldSpec`]), so the membrane knows
//! which values to tokenise before anything reaches a cell. The card number (PAN) is one
//! of them: it only ever crosses as `[CARD_1]`; its last four digits are clear.
//!
//! An empty database is filled once: from a project's seed file ([`load_seed_file`]) when
//! the host has one, else from the built-in demo customers.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};
use silo_pii::PiiKind;

use super::{lock, open_sqlite, secs_to_sql, sqlite_err, ConnectorError};

const NAME: &str = "data";

/// How a field must be treated on its way to a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    /// Operationally needed and not identifying (balances, statuses, counts): sent clear.
    Clear,
    /// Identifying: replaced by a typed token of this kind (`[NAME_1]`, `[EMAIL_1]`, …).
    Pii(PiiKind),
    /// Free text written by people: scanned for known and recognised PII.
    FreeText,
}

/// One field of the customer record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The field name agents ask for and base keys grant.
    pub name: &'static str,
    /// How it is protected.
    pub sensitivity: Sensitivity,
}

/// The customer record's fields, in schema order. This is the schema's PII declaration.
pub const CUSTOMER_FIELDS: [FieldSpec; 12] = [
    FieldSpec {
        name: "id",
        sensitivity: Sensitivity::Clear,
    },
    FieldSpec {
        name: "name",
        sensitivity: Sensitivity::Pii(PiiKind::Name),
    },
    FieldSpec {
        name: "email",
        sensitivity: Sensitivity::Pii(PiiKind::Email),
    },
    FieldSpec {
        name: "phone",
        sensitivity: Sensitivity::Pii(PiiKind::Phone),
    },
    FieldSpec {
        name: "address",
        sensitivity: Sensitivity::Pii(PiiKind::Address),
    },
    FieldSpec {
        name: "date_of_birth",
        sensitivity: Sensitivity::Pii(PiiKind::Dob),
    },
    FieldSpec {
        name: "tier",
        sensitivity: Sensitivity::Clear,
    },
    FieldSpec {
        name: "balance_cents",
        sensitivity: Sensitivity::Clear,
    },
    FieldSpec {
        name: "currency",
        sensitivity: Sensitivity::Clear,
    },
    FieldSpec {
        name: "customer_since",
        sensitivity: Sensitivity::Clear,
    },
    FieldSpec {
        name: "card_last4",
        sensitivity: Sensitivity::Clear,
    },
    // The full PAN: a token at most, whatever a base key grants.
    FieldSpec {
        name: "card_number",
        sensitivity: Sensitivity::Pii(PiiKind::Card),
    },
];

/// Related-record collections a base key can grant by listing their name in
/// `data.read.fields`.
pub const RELATED_RECORDS: [&str; 2] = ["orders", "history"];

/// The spec of a customer field, if the schema has it.
pub fn customer_field(name: &str) -> Option<&'static FieldSpec> {
    CUSTOMER_FIELDS.iter().find(|f| f.name == name)
}

/// A customer record: every schema field with its raw value. Stays on the host side.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    /// Field name → raw value, for every field of [`CUSTOMER_FIELDS`].
    pub fields: Map<String, Value>,
}

impl CustomerRecord {
    /// A string field's raw value.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }
}

/// One order. `note` is free text; everything else is clear.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Order id.
    pub id: String,
    /// Unix seconds.
    pub placed_at: u64,
    /// `placed`, `shipped`, `delivered`, `returned`, `cancelled`.
    pub status: String,
    /// Total in minor units.
    pub total_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Product names.
    pub items: Vec<String>,
    /// Free text from staff or the customer.
    pub note: String,
}

/// One contact-history entry. `summary` is free text.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// Unix seconds.
    pub at: u64,
    /// `email`, `phone`, `chat`, `note`.
    pub channel: String,
    /// Free text.
    pub summary: String,
}

/// A named write operation. The only way an agent changes business data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// `case.set_status`: set the task's case status.
    SetCaseStatus(CaseStatus),
    /// `case.add_note`: append a note to the task's case.
    AddCaseNote(String),
}

impl WriteOp {
    /// The operation's name, as base keys grant it.
    pub fn name(&self) -> &'static str {
        match self {
            WriteOp::SetCaseStatus(_) => "case.set_status",
            WriteOp::AddCaseNote(_) => "case.add_note",
        }
    }
}

/// Every named write operation.
pub const WRITE_OPS: [&str; 2] = ["case.set_status", "case.add_note"];

/// The states a case can be set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    /// Being worked on.
    Open,
    /// Waiting for the customer or a third party.
    Pending,
    /// Done.
    Resolved,
}

impl CaseStatus {
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "pending" => Some(Self::Pending),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Pending => "pending",
            Self::Resolved => "resolved",
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Done; the case's status after the write.
    Done {
        /// Case status afterwards.
        case_status: String,
    },
    /// The task's case does not exist or belongs to another customer; nothing changed.
    NoSuchCase,
}

/// The business database, as the membrane uses it. Every method is scoped by the caller to
/// the verified task's customer (and case).
pub trait CustomerData: Send + Sync {
    /// The customer's record, if the customer exists.
    fn customer(&self, customer: &str) -> Result<Option<CustomerRecord>, ConnectorError>;
    /// The customer's orders, newest first.
    fn orders(&self, customer: &str) -> Result<Vec<Order>, ConnectorError>;
    /// The customer's contact history, newest first.
    fn history(&self, customer: &str) -> Result<Vec<HistoryEntry>, ConnectorError>;
    /// Runs a named write on `case`, which must belong to `customer`.
    fn write(
        &self,
        customer: &str,
        case: &str,
        op: &WriteOp,
        now: u64,
    ) -> Result<WriteOutcome, ConnectorError>;
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    address TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    tier TEXT NOT NULL,
    balance_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    customer_since TEXT NOT NULL,
    card_last4 TEXT NOT NULL DEFAULT '',
    card_number TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    placed_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    items TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders(customer_id, placed_at);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    at INTEGER NOT NULL,
    channel TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_customer ON history(customer_id, at);
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    status TEXT NOT NULL,
    subject TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS case_notes (
    id INTEGER PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    at INTEGER NOT NULL,
    body TEXT NOT NULL
);
";

/// Columns added after the first release, with their definitions: an older database gets
/// them on open.
const ADDED_CUSTOMER_COLUMNS: [(&str, &str); 2] = [
    ("card_last4", "TEXT NOT NULL DEFAULT ''"),
    ("card_number", "TEXT NOT NULL DEFAULT ''"),
];

/// The built-in seed data, loaded into an empty database when the host has no seed file:
/// made-up people, orders with notes that mention them, and open cases. `cus_001` is the
/// customer most tests use. (Card numbers are the networks' published test numbers.)
const SEED: &str = "
INSERT INTO customers VALUES
 ('cus_001','Jane Smith','jane.smith@example.com','+1 (555) 010-2030','12 Harbour Street, Springfield','1984-03-07','gold',1250,'USD','2019-05-02','1111','4111 1111 1111 1111'),
 ('cus_002','Omar Haddad','omar.haddad@example.net','+1 555 010 4455','7 Elm Road, Shelbyville','1990-11-21','standard',0,'USD','2022-01-15','4444','5555 5555 5555 4444'),
 ('cus_003','Li Wei','li.wei@example.org','+44 20 7946 0018','3 Mill Lane, Ogdenville','1977-06-30','silver',-1599,'USD','2017-09-09','0005','3782 822463 10005');
INSERT INTO orders VALUES
 ('ord_1001','cus_001',1763000000,'delivered',4599,'USD','[\"Kettle\"]','Left with neighbour; Jane Smith called, kettle arrived dented. Call back on 555-010-2030.'),
 ('ord_1002','cus_001',1763500000,'shipped',12900,'USD','[\"Espresso machine\",\"Descaler\"]','Customer asked for delivery to 12 Harbour Street, Springfield only.'),
 ('ord_1003','cus_001',1762500000,'delivered',70000,'USD','[\"Sofa\"]','Delivered by the courier; one leg was broken on arrival.'),
 ('ord_2001','cus_002',1762000000,'delivered',2500,'USD','[\"Tea sampler\"]',''),
 ('ord_3001','cus_003',1761000000,'returned',1599,'USD','[\"Toaster\"]','Refund owed; email li.wei@example.org when done.');
INSERT INTO history (customer_id, at, channel, summary) VALUES
 ('cus_001',1763100000,'email','JANE SMITH wrote from jane.smith@example.com: the kettle is dented, wants money back.'),
 ('cus_001',1763200000,'phone','Spoke to Jane; she prefers email. Card on file 4111 1111 1111 1111 was not charged twice.'),
 ('cus_002',1762100000,'chat','Omar asked about loyalty points.');
INSERT INTO cases VALUES
 ('case_001','cus_001','open','Dented kettle',1763100000),
 ('case_002','cus_002','open','Loyalty points',1762100000),
 ('case_003','cus_003','open','Refund for returned toaster',1761000000);
";

/// [`CustomerData`] in SQLite.
#[derive(Debug)]
pub struct SqliteData {
    conn: Mutex<Connection>,
}

impl SqliteData {
    /// Opens (creating if needed) the business tables in the database at `path`; an empty
    /// database gets the built-in seed data. A host with a seed file loads it first
    /// ([`load_seed_file`]), so this finds the database filled.
    pub fn open(path: &Path) -> Result<Self, ConnectorError> {
        let conn = open_business(path)?;
        {
            let mut c = lock(&conn);
            if customer_count(&c)? == 0 {
                // Counted again under the write lock: another process may have seeded.
                let tx = c
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(sqlite_err(NAME, "starting the seed"))?;
                if customer_count(&tx)? == 0 {
                    tx.execute_batch(SEED)
                        .map_err(sqlite_err(NAME, "loading the seed data"))?;
                }
                tx.commit()
                    .map_err(sqlite_err(NAME, "committing the seed data"))?;
            }
        }
        Ok(Self { conn })
    }
}

/// The business tables at `path`, created or brought up to date.
fn open_business(path: &Path) -> Result<Mutex<Connection>, ConnectorError> {
    let conn = open_sqlite(NAME, path, SCHEMA)?;
    {
        let c = lock(&conn);
        for (column, definition) in ADDED_CUSTOMER_COLUMNS {
            if has_column(&c, column)? {
                continue;
            }
            let added = c.execute_batch(&format!(
                "ALTER TABLE customers ADD COLUMN {column} {definition}"
            ));
            // Another process may have added it between the check and the ALTER.
            if let Err(e) = added {
                if !has_column(&c, column)? {
                    return Err(sqlite_err(NAME, "adding a customer column")(e));
                }
            }
        }
    }
    Ok(conn)
}

fn has_column(conn: &Connection, column: &str) -> Result<bool, ConnectorError> {
    let mut stmt = conn
        .prepare("SELECT 1 FROM pragma_table_info('customers') WHERE name = ?1")
        .map_err(sqlite_err(NAME, "reading the customers columns"))?;
    stmt.exists(params![column])
        .map_err(sqlite_err(NAME, "reading the customers columns"))
}

fn customer_count(conn: &Connection) -> Result<i64, ConnectorError> {
    conn.query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
        .map_err(sqlite_err(NAME, "counting customers"))
}

/// A seed file that cannot fill the business database.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file cannot be read.
    #[error("cannot read the seed file `{path}`: {source}")]
    Read {
        /// The seed file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A statement of the file failed; nothing of it was loaded.
    #[error("the seed file `{path}` does not load (nothing of it was kept): {source}")]
    Sql {
        /// The seed file.
        path: PathBuf,
        /// SQLite's error, naming the statement's problem.
        source: rusqlite::Error,
    },
    /// The file ran but added no customer, so the database would stay empty.
    #[error("the seed file `{path}` adds no customers; insert at least one into `customers`")]
    NoCustomers {
        /// The seed file.
        path: PathBuf,
    },
    /// The database itself failed.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
}

/// Fills the business database at `db` from the SQL file `seed` (statements into the
/// schema's tables, without `BEGIN`/`COMMIT`: they run in one transaction) when it has no
/// customers yet. `Ok(true)` when it loaded, `Ok(false)` when the database already had
/// customers (a seed fills a database once; it never overwrites one).
pub fn load_seed_file(db: &Path, seed: &Path) -> Result<bool, SeedError> {
    let sql = std::fs::read_to_string(seed).map_err(|source| SeedError::Read {
        path: seed.to_path_buf(),
        source,
    })?;
    let conn = open_business(db)?;
    let mut c = lock(&conn);
    let tx = c
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sqlite_err(NAME, "starting the seed"))?;
    if customer_count(&tx)? > 0 {
        return Ok(false);
    }
    tx.execute_batch(&sql).map_err(|source| SeedError::Sql {
        path: seed.to_path_buf(),
        source,
    })?;
    // Dropping the transaction on an error rolls the whole file back.
    if customer_count(&tx)? == 0 {
        return Err(SeedError::NoCustomers {
            path: seed.to_path_buf(),
        });
    }
    tx.commit()
        .map_err(sqlite_err(NAME, "committing the seed data"))?;
    Ok(true)
}

fn corrupt(reason: impl Into<String>) -> ConnectorError {
    ConnectorError::Corrupt {
        connector: NAME,
        reason: reason.into(),
    }
}

impl CustomerData for SqliteData {
    fn customer(&self, customer: &str) -> Result<Option<CustomerRecord>, ConnectorError> {
        let conn = lock(&self.conn);
        let row = conn
            .query_row(
                "SELECT id, name, email, phone, address, date_of_birth, tier, balance_cents,
                        currency, customer_since, card_last4, card_number
                 FROM customers WHERE id = ?1",
                params![customer],
                |r| {
                    let mut fields = Map::new();
                    for (i, spec) in CUSTOMER_FIELDS.iter().enumerate() {
                        let v: rusqlite::types::Value = r.get(i)?;
                        let v = match v {
                            rusqlite::types::Value::Integer(n) => Value::from(n),
                            rusqlite::types::Value::Text(s) => Value::from(s),
                            rusqlite::types::Value::Real(x) => Value::from(x),
                            _ => Value::Null,
                        };
                        fields.insert(spec.name.to_string(), v);
                    }
                    Ok(CustomerRecord { fields })
                },
            )
            .optional()
            .map_err(sqlite_err(NAME, "reading a customer"))?;
        Ok(row)
    }

    fn orders(&self, customer: &str) -> Result<Vec<Order>, ConnectorError> {
        let conn = lock(&self.conn);
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, placed_at, status, total_cents, currency, items, note
                 FROM orders WHERE customer_id = ?1 ORDER BY placed_at DESC LIMIT 100",
            )
            .map_err(sqlite_err(NAME, "preparing the orders query"))?;
        let rows = stmt
            .query_map(params![customer], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(sqlite_err(NAME, "reading orders"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, placed_at, status, total_cents, currency, items, note) =
                row.map_err(sqlite_err(NAME, "reading an order"))?;
            let items: Vec<String> = serde_json::from_str(&items)
                .map_err(|e| corrupt(format!("order `{id}` items: {e}")))?;
            out.push(Order {
                id,
                placed_at: u64::try_from(placed_at).unwrap_or(0),
                status,
                total_cents,
                currency,
                items,
                note,
            });
        }
        Ok(out)
    }

    fn history(&self, customer: &str) -> Result<Vec<HistoryEntry>, ConnectorError> {
        let conn = lock(&self.conn);
        let mut stmt = conn
            .prepare_cached(
                "SELECT at, channel, summary FROM history WHERE customer_id = ?1
                 ORDER BY at DESC, id DESC LIMIT 100",
            )
            .map_err(sqlite_err(NAME, "preparing the history query"))?;
        let rows = stmt
            .query_map(params![customer], |r| {
                Ok(HistoryEntry {
                    at: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    channel: r.get(1)?,
                    summary: r.get(2)?,
                })
            })
            .map_err(sqlite_err(NAME, "reading history"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(sqlite_err(NAME, "reading a history entry"))
    }

    fn write(
        &self,
        customer: &str,
        case: &str,
        op: &WriteOp,
        now: u64,
    ) -> Result<WriteOutcome, ConnectorError> {
        let mut conn = lock(&self.conn);
        let tx = conn
            .transaction()
            .map_err(sqlite_err(NAME, "starting a write"))?;
        let status: Option<String> = tx
            .query_row(
                "SELECT status FROM cases WHERE id = ?1 AND customer_id = ?2",
                params![case, customer],
                |r| r.get(0),
            )
            .optional()
            .map_err(sqlite_err(NAME, "finding the case"))?;
        let Some(mut status) = status else {
            return Ok(WriteOutcome::NoSuchCase);
        };
        match op {
            WriteOp::SetCaseStatus(s) => {
                tx.execute(
                    "UPDATE cases SET status = ?1, updated_at = ?2 WHERE id = ?3",
                    params![s.as_str(), secs_to_sql(now), case],
                )
                .map_err(sqlite_err(NAME, "setting the case status"))?;
                status = s.as_str().to_string();
            }
            WriteOp::AddCaseNote(body) => {
                tx.execute(
                    "INSERT INTO case_notes (case_id, at, body) VALUES (?1, ?2, ?3)",
                    params![case, secs_to_sql(now), body],
                )
                .map_err(sqlite_err(NAME, "adding a case note"))?;
                tx.execute(
                    "UPDATE cases SET updated_at = ?1 WHERE id = ?2",
                    params![secs_to_sql(now), case],
                )
                .map_err(sqlite_err(NAME, "touching the case"))?;
            }
        }
        tx.commit()
            .map_err(sqlite_err(NAME, "committing a write"))?;
        Ok(WriteOutcome::Done {
            case_status: status,
        })
    }
}

impl SqliteData {
    /// A case's status and notes, for the host (tests, the demo, the console).
    pub fn case(&self, case: &str) -> Result<Option<(String, Vec<String>)>, ConnectorError> {
        let conn = lock(&self.conn);
        let status: Option<String> = conn
            .query_row(
                "SELECT status FROM cases WHERE id = ?1",
                params![case],
                |r| r.get(0),
            )
            .optional()
            .map_err(sqlite_err(NAME, "reading a case"))?;
        let Some(status) = status else {
            return Ok(None);
        };
        let mut stmt = conn
            .prepare_cached("SELECT body FROM case_notes WHERE case_id = ?1 ORDER BY id")
            .map_err(sqlite_err(NAME, "preparing the notes query"))?;
        let notes = stmt
            .query_map(params![case], |r| r.get::<_, String>(0))
            .map_err(sqlite_err(NAME, "reading notes"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sqlite_err(NAME, "reading a note"))?;
        Ok(Some((status, notes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_loads_once_and_reads_are_scoped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("business.db");
        let data = SqliteData::open(&path).unwrap();
        drop(data);
        let data = SqliteData::open(&path).unwrap();
        let jane = data.customer("cus_001").unwrap().unwrap();
        assert_eq!(jane.text("name"), Some("Jane Smith"));
        assert_eq!(jane.fields.len(), CUSTOMER_FIELDS.len());
        assert!(data.customer("cus_999").unwrap().is_none());
        let orders = data.orders("cus_001").unwrap();
        assert_eq!(orders.len(), 3);
        assert!(orders.iter().all(|o| o.id.starts_with("ord_10")));
        assert_eq!(data.history("cus_002").unwrap().len(), 1);
    }

    #[test]
    fn the_card_number_is_declared_a_card_and_only_its_last_four_are_clear() {
        let pan = customer_field("card_number").unwrap();
        assert_eq!(pan.sensitivity, Sensitivity::Pii(PiiKind::Card));
        assert_eq!(
            customer_field("card_last4").unwrap().sensitivity,
            Sensitivity::Clear
        );
        let dir = tempfile::tempdir().unwrap();
        let data = SqliteData::open(&dir.path().join("b.db")).unwrap();
        let jane = data.customer("cus_001").unwrap().unwrap();
        assert_eq!(jane.text("card_last4"), Some("1111"));
        assert_eq!(jane.text("card_number"), Some("4111 1111 1111 1111"));
    }

    fn seed_file(dir: &Path, sql: &str) -> PathBuf {
        let path = dir.join("seed.sql");
        std::fs::write(&path, sql).unwrap();
        path
    }

    const ONE_CUSTOMER: &str = "INSERT INTO customers (id, name, email, phone, address,
        date_of_birth, tier, balance_cents, currency, customer_since)
        VALUES ('cus_900', 'Ada Quill', 'ada@example.com', '+1 555 010 9999', '1 Way',
        '1990-01-01', 'gold', 0, 'USD', '2020-01-01');";

    #[test]
    fn a_seed_file_fills_an_empty_database_once_instead_of_the_built_in_customers() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("b.db");
        let seed = seed_file(dir.path(), ONE_CUSTOMER);
        assert!(load_seed_file(&db, &seed).unwrap());
        // Filled: a second load and a plain open add nothing.
        assert!(!load_seed_file(&db, &seed).unwrap());
        let data = SqliteData::open(&db).unwrap();
        assert!(data.customer("cus_001").unwrap().is_none());
        let ada = data.customer("cus_900").unwrap().unwrap();
        assert_eq!(ada.text("name"), Some("Ada Quill"));
        assert_eq!(ada.text("card_number"), Some(""));
    }

    #[test]
    fn a_seed_file_that_fails_names_the_file_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("b.db");
        let seed = seed_file(
            dir.path(),
            &format!("{ONE_CUSTOMER}\nINSERT INTO customers (id) VALUES ('cus_901');"),
        );
        let err = load_seed_file(&db, &seed).unwrap_err();
        assert!(matches!(err, SeedError::Sql { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!("`{}`", seed.display())),
            "{err}"
        );
        let conn = open_business(&db).unwrap();
        assert_eq!(customer_count(&lock(&conn)).unwrap(), 0, "rolled back");

        let empty = seed_file(dir.path(), "-- nothing yet");
        let err = load_seed_file(&db, &empty).unwrap_err();
        assert!(matches!(err, SeedError::NoCustomers { .. }), "{err}");
        let missing = dir.path().join("nope.sql");
        let err = load_seed_file(&db, &missing).unwrap_err();
        assert!(err.to_string().contains("nope.sql"), "{err}");
    }

    #[test]
    fn an_older_database_gains_the_card_columns() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("b.db");
        {
            let old = SCHEMA.replace(
                "customer_since TEXT NOT NULL,\n    card_last4 TEXT NOT NULL DEFAULT '',\n    card_number TEXT NOT NULL DEFAULT ''",
                "customer_since TEXT NOT NULL",
            );
            assert_ne!(old, SCHEMA);
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch(&old).unwrap();
            conn.execute_batch(
                "INSERT INTO customers VALUES ('cus_1','A B','a@example.com','1','x','y','t',0,'USD','z');",
            )
            .unwrap();
        }
        let data = SqliteData::open(&db).unwrap();
        let record = data.customer("cus_1").unwrap().unwrap();
        assert_eq!(record.text("card_last4"), Some(""));
        assert_eq!(record.fields.len(), CUSTOMER_FIELDS.len());
    }

    fn luhn(digits: &str) -> bool {
        let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
        let sum: u32 = d
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &x)| match (i % 2, x * 2) {
                (0, _) => x,
                (_, y) if y > 9 => y - 9,
                (_, y) => y,
            })
            .sum();
        d.len() >= 13 && sum.is_multiple_of(10)
    }

    /// The customer-service example's seed loads, and its data is what the demo's cases
    /// and the scenario rely on.
    #[test]
    fn the_customer_service_example_seed_loads() {
        let seed =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/customer-service/seed.sql");
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("b.db");
        assert!(load_seed_file(&db, &seed).unwrap());
        let data = SqliteData::open(&db).unwrap();
        let conn = open_business(&db).unwrap();
        let ids: Vec<String> = {
            let c = lock(&conn);
            let mut stmt = c.prepare("SELECT id FROM customers ORDER BY id").unwrap();
            let rows = stmt.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert!(ids.len() >= 6, "{ids:?}");
        for id in &ids {
            let c = data.customer(id).unwrap().unwrap();
            let pan = c.text("card_number").unwrap();
            assert!(luhn(pan), "{id}: {pan} is not a Luhn-valid test number");
            let last4: String = pan.chars().filter(char::is_ascii_digit).collect();
            assert_eq!(
                c.text("card_last4"),
                Some(&last4[last4.len() - 4..]),
                "{id}"
            );
            for field in ["name", "email", "phone", "address"] {
                assert!(!c.text(field).unwrap_or("").is_empty(), "{id}.{field}");
            }
        }
        let totals: Vec<(String, i64)> = data
            .orders("cus_001")
            .unwrap()
            .into_iter()
            .map(|o| (o.id, o.total_cents))
            .collect();
        assert!(totals.contains(&("ord_1002".into(), 12000)), "{totals:?}");
        assert!(totals.contains(&("ord_1003".into(), 70000)), "{totals:?}");
        for (case, customer) in [("case_001", "cus_001"), ("case_003", "cus_003")] {
            assert!(
                data.write(customer, case, &WriteOp::AddCaseNote("x".into()), 1)
                    .unwrap()
                    != WriteOutcome::NoSuchCase
            );
        }
    }

    #[test]
    fn writes_only_touch_the_customers_own_case() {
        let dir = tempfile::tempdir().unwrap();
        let data = SqliteData::open(&dir.path().join("b.db")).unwrap();
        let op = WriteOp::SetCaseStatus(CaseStatus::Resolved);
        assert_eq!(
            data.write("cus_001", "case_002", &op, 10).unwrap(),
            WriteOutcome::NoSuchCase
        );
        assert_eq!(data.case("case_002").unwrap().unwrap().0, "open");
        assert_eq!(
            data.write("cus_001", "case_001", &op, 10).unwrap(),
            WriteOutcome::Done {
                case_status: "resolved".into()
            }
        );
        data.write(
            "cus_001",
            "case_001",
            &WriteOp::AddCaseNote("'); DROP TABLE cases; --".into()),
            11,
        )
        .unwrap();
        let (status, notes) = data.case("case_001").unwrap().unwrap();
        assert_eq!(status, "resolved");
        assert_eq!(notes, vec!["'); DROP TABLE cases; --".to_string()]);
    }
}
