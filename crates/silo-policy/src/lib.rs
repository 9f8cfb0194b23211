//! silo-policy owns the decision: may this base key + task key pair do this action with
//! these params, now? One function, [`PolicySet::decide`], answers
//! [`Decision::Allow`], [`Decision::Deny`] or [`Decision::NeedsApproval`]. It checks, in
//! order: the action is known, both keys name the same agent, the resource belongs to the
//! task's customer, the base key grants the capability within its constraints (amounts in
//! integer minor units), then the operator's YAML rules by priority (match on params, rate
//! limits, daily totals), then the policy's default.
//!
//! It must never: do IO on the decision path (counters are read through the
//! [`UsageCounters`] trait, policy files are parsed once at load), panic, let an error or an
//! unknown name turn into an allow, trust anything the agent put in params to mean
//! "approved", or let an agent approve itself.
#![forbid(unsafe_code)]

mod action;
pub mod agentos;
mod amount;
mod authorize;
mod capability;
mod condition;
mod counters;
mod decision;
mod error;
mod policy_set;
mod rules;
mod scope;

pub use action::Action;
pub use amount::{parse_currency, parse_minor_units, AmountError};
pub use authorize::Request;
pub use counters::{InMemoryCounters, NoCounters, RateScope, UsageCounters, DAY_SECS};
pub use decision::{Approval, Context, Decision};
pub use error::PolicyError;
pub use policy_set::{DefaultEffect, PolicySet};
pub use rules::{DailyTotal, Effect, RateLimit, Rule};
