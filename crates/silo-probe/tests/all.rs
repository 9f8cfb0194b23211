//! The escape suite: every attack of the threat model, run by the probe
//! inside a real cell (must be BLOCKED) and, as a control, on the host or in
//! a cell with the relevant defence switched off (must be ESCAPED), so that
//! no test here can pass by a probe that simply fails.
//!
//! Needs root (cgroups, user namespaces with several ids); the suite skips
//! itself, loudly, when not run as root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod harness;

mod filesystem;
mod kernel;
mod lifecycle;
mod limits;
mod network;
mod positive;
