//! The autoresearch library: the domain of the experiment loop, usable without a terminal.
//!
//! It reads and validates the config, keeps the ledger, drives git through git2, runs the eval
//! under its budget, reads metrics, and performs one experiment step. It never prints, never
//! looks at the output mode and never writes hints: it returns data (typed outcomes, events,
//! warnings as values) and errors that carry a stable code and a literal suggestion. The
//! `autoresearch` binary turns that data into envelopes, tables, hints and exit codes.
//!
//! `docs/ARCHITECTURE.md` describes the layers; `docs/CONTRACT.md` the interface they serve.

pub mod analysis;
pub mod config;
pub mod engine;
pub mod error;
pub mod eval;
pub mod forkfile;
pub mod forks;
pub mod fsutil;
pub mod git;
pub mod import;
pub mod ledger;
pub mod loopfile;
pub mod metric;
pub mod names;
pub mod noise;
pub mod project;
pub mod report;
pub mod review;
pub mod skills;
pub mod sync;
pub mod text;
pub mod watch;
