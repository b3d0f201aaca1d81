//! ntsb_perf: performance tooling for the NTSB aviation-accident database, inside PostgreSQL.
//!
//! One module per SQL capability; the pure logic lives in the `ntsb_perf_core` crate so that it
//! is tested without a server. Everything public is created in schema `ntsb_perf`. What several
//! capabilities share has one module each: the `regclass` argument type, opening relations
//! (`relation`), raising errors (`error`), SPI queries (`spi_query`), aggregate transition states
//! (`aggregate_state`) and the result-row declarations (`table_functions`).

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

extension_sql!(
    r#"
COMMENT ON SCHEMA ntsb_perf IS 'ntsb_perf: performance tooling for the NTSB accident database';
-- Reports are for every role; functions that read pages are granted one by one.
GRANT USAGE ON SCHEMA ntsb_perf TO PUBLIC;
"#,
    name = "bootstrap",
    bootstrap
);

// What ntsb_perf keeps about a dropped relation ends with it: the sql_drop event trigger, which
// calls each capability's own cleanup.
extension_sql_file!(
    "../sql/dropped_objects.sql",
    name = "dropped_objects",
    requires = ["refresh", "reindex", "index_history"]
);

// First: the macro is used by the modules below.
#[macro_use]
mod table_functions;

mod aggregate_state;
mod bloat;
mod c_function;
mod error;
mod explain;
mod index_catalog;
mod index_history;
mod index_usage;
mod refresh;
mod regclass;
mod reindex;
mod relation;
mod report;
mod run_lock;
mod schedule;
mod spatial;
mod spi_query;
mod stats;
mod subtransaction;
mod uninstall;

/// Registers the extension's settings when the library is loaded.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // No Rust backtrace in any message, DETAIL or HINT, whatever the server's environment says
    // (RUST_BACKTRACE set where the server was started): pgrx captures one for errors raised
    // through SPI and puts it in the DETAIL. RUST_LIB_BACKTRACE takes precedence over
    // RUST_BACKTRACE for std::backtrace::Backtrace::capture, which reads it once; this runs
    // before any capture in this process (backends and workers are single-threaded here).
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    bloat::register_gucs();
    reindex::register_gucs();
    index_history::register_gucs();
}

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
