//! Pure logic of ntsb_perf: everything here is plain Rust, testable with `cargo test`
//! without a PostgreSQL server. The extension (`src/`) only gathers the facts (catalog rows,
//! index pages read through the buffer manager, EXPLAIN output, ...) and hands them to these
//! functions.
//!
//! No unsafe code here: page bytes from the server are parsed with bounds-checked reads only,
//! so a corrupt page can give wrong figures or a "corrupt" verdict, never undefined behaviour.

#![forbid(unsafe_code)]

pub mod bloat;
pub mod cron;
pub mod explain;
pub mod forecast;
pub mod geo;
pub mod hotspots;
pub mod index_rules;
pub mod report;
pub mod severity;
pub mod snapshot;
pub mod stats;
