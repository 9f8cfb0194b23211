//! silo-fuzz's tests: the runner catches what it must (`runner`), and the seed corpora are
//! complete and written from code and the repository's examples (`corpus`). The targets
//! themselves run in `tests/fuzz_smoke.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod corpus;
mod runner;
