//! Cgroup resource limits and freezing for one silo cell.
//!
//! This crate owns the cgroup side of a cell: it finds where the current
//! process sits in the cgroup v1 and v2 hierarchies, creates one child group
//! per cell *under* that place (never at the hierarchy root, never beside
//! another cell), writes memory (no swap), pids and CPU limits, freezes and
//! thaws, reads limit events (OOM kills, pids-max hits) and removes the group.
//! On a hybrid host each controller is taken from whichever hierarchy has it,
//! v2 first. What could not be applied is reported, never silently dropped.
//!
//! It must never write outside the cell's own group and must never move a
//! process other than the one it is given.
//!
//! It talks to the kernel through cgroupfs files only, so it needs no `unsafe`;
//! we write the files directly rather than use a cgroup crate because the
//! hybrid v1+v2 per-controller choice is the whole point and no small crate
//! models it.

#![forbid(unsafe_code)]

mod controller;
mod error;
mod group;
mod hierarchy;
mod limits;

pub use controller::Controller;
pub use error::CgroupError;
pub use group::{CellCgroup, GroupPaths, LimitEvents};
pub use hierarchy::Hierarchies;
pub use limits::{CgroupLimits, CpuQuota};
