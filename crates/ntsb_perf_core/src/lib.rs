//! Pure logic of ntsb_perf: everything here is plain Rust, testable with `cargo test`
//! without a PostgreSQL server. The extension (`src/`) only gathers the facts (catalog rows,
//! index pages read through the buffer manager, EXPLAIN output, ...) and hands them to these
//! functions.
//!
//! Each module is named after the capability of `src/` it serves, so `src/X` and this crate's
//! `X` read one to one: `bloat`, `explain`, `index_history` (snapshot measurement, forecasts),
//! `index_usage` (redundant and invalid indexes), `report`, `schedule` (pg_cron's schedule
//! syntax, shared by every scheduled job), `spatial` (radius search, hotspots) and `stats`.
//! `severity` (the NTSB injury-severity codes) is a vocabulary, not a capability: `stats` folds
//! by it, `normalize_severity` exposes it, the report shows its counts.
//!
//! No unsafe code here: page bytes from the server are parsed with bounds-checked reads only,
//! so a corrupt page can give wrong figures or a "corrupt" verdict, never undefined behaviour.

#![forbid(unsafe_code)]

pub mod bloat;
pub mod explain;
pub mod index_history;
pub mod index_usage;
pub mod report;
pub mod schedule;
pub mod severity;
pub mod spatial;
pub mod stats;
