//! End-to-end tests: the real binary in a temporary git repository, hermetic (own HOME, no
//! colour, no terminal, explicit output mode). One binary, one module per command.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

mod agent_info;
mod best;
mod cluster;
mod coaching;
mod colour;
mod completions;
mod crash;
mod demo;
mod diff;
mod docs;
mod doctor;
mod eval_limits;
mod export;
mod fixture;
mod forks;
mod fuzz;
mod git_safety;
mod guide;
mod import;
mod init;
mod input;
mod install;
mod integrity;
mod layers;
mod ledger;
mod log;
mod loops;
mod noise;
mod output;
mod record;
mod report;
mod review;
mod run;
mod snapshots;
mod status;
mod sync;
mod targets;
mod watch;
mod workers;
