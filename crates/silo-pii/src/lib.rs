//! silo's PII layer: finding personal data in what flows towards a cell, replacing it with
//! typed task-scoped tokens (`[NAME_1]`, `[EMAIL_2]`…), keeping the token → value mapping in
//! an encrypted vault, and hydrating tokens back — only the vault's own, only for their task.
//!
//! This crate owns detection ([`scan()`]: the customer's [known values](KnownSet) whatever the
//! spelling, and [recognizers](recognize) with validators — Luhn, IBAN mod-97, SSA rules,
//! `std::net` parsing, context words for dates of birth), the [token format](Token) and the
//! escape of token-shaped input (`[NAME_1]` → `⟦NAME_1⟧`), [normalisation](normalize()) per
//! kind, and the [`Vault`]: an embedded SQLite file or, for several hosts, a shared
//! PostgreSQL database ([`Vault::open_postgres`]), AES-256-GCM envelope encryption under a
//! master key file (never in the database), an HMAC-SHA256 blind index. It must never write a plaintext value anywhere but the
//! caller's return value — not to the database, a log or an error message — never resolve a
//! token for a task other than the one that minted it, and never hydrate a string it did not
//! issue. It decides *what* is personal data and *how* it is replaced; *where* hydration is
//! allowed is the membrane's call.
//!
//! ```
//! use silo_pii::{KnownSet, KnownValue, PiiKind, Vault};
//! # fn main() -> Result<(), silo_pii::PiiError> {
//! let vault = Vault::scratch()?;
//! let known = KnownSet::new(&[
//!     KnownValue::new(PiiKind::Name, "Jane Smith"),
//!     KnownValue::new(PiiKind::Phone, "+1 (555) 010-2030"),
//! ])?;
//! let out = vault.tokenize_text("task-1", "SMITH, JANE called from 555.010.2030 [NAME_2]", &known)?;
//! assert_eq!(out.text, "[NAME_1] called from [PHONE_1] ⟦NAME_2⟧");
//! assert_eq!(
//!     vault.hydrate_tokens("task-1", "Dear [NAME_1]", &[PiiKind::Name])?,
//!     "Dear Jane Smith"
//! );
//! assert_eq!(vault.resolve("task-2", "[NAME_1]")?, None);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod date;
mod envelope;
pub mod error;
pub mod kind;
pub mod known;
pub mod master_key;
pub mod normalize;
pub mod phone;
pub mod recognize;
pub mod scan;
pub mod token;
pub mod validate;
pub mod vault;

pub use error::PiiError;
pub use kind::{PiiKind, UnknownKind};
pub use known::{KnownSet, KnownValue};
pub use normalize::normalize;
pub use scan::{scan, Layer, Span};
pub use token::{escape_token_shaped, Token};
pub use vault::{Tokenized, Vault, DEFAULT_TENANT};
