//! The business database: customer records, their orders and contact history, support
//! cases, and the named write operations an agent may ask for. The agent never sends SQL:
//! it names a field list or an operation, and this connector runs fixed, parameterised
//! statements scoped to the task's customer and case.
//!
//! Every field carries its PII kind from the schema ([`FieldSpec`]), so the membrane knows
//! which values to tokenise before anything reaches a cell.

use std::path::Path;
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
pub const CUSTOMER_FIELDS: [FieldSpec; 10] = [
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
    customer_since TEXT NOT NULL
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

/// The demo's seed data, loaded into an empty database: made-up people, orders with notes
/// that mention them, and open cases. `cus_001` is the customer of the demo's cases.
const SEED: &str = "
INSERT INTO customers VALUES
 ('cus_001','Jane Smith','jane.smith@example.com','+1 (555) 010-2030','12 Harbour Street, Springfield','1984-03-07','gold',1250,'USD','2019-05-02'),
 ('cus_002','Omar Haddad','omar.haddad@example.net','+1 555 010 4455','7 Elm Road, Shelbyville','1990-11-21','standard',0,'USD','2022-01-15'),
 ('cus_003','Li Wei','li.wei@example.org','+44 20 7946 0018','3 Mill Lane, Ogdenville','1977-06-30','silver',-1599,'USD','2017-09-09');
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
    /// database gets the demo seed data.
    pub fn open(path: &Path) -> Result<Self, ConnectorError> {
        let conn = open_sqlite(NAME, path, SCHEMA)?;
        {
            let c = lock(&conn);
            let customers: i64 = c
                .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
                .map_err(sqlite_err(NAME, "counting customers"))?;
            if customers == 0 {
                c.execute_batch(&format!("BEGIN; {SEED} COMMIT;"))
                    .map_err(sqlite_err(NAME, "loading the seed data"))?;
            }
        }
        Ok(Self { conn })
    }
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
                        currency, customer_since
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
