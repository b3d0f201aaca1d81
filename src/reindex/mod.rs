//! Auto-reindex: the plan (from the bloat measurements), and `REINDEX INDEX CONCURRENTLY` run
//! from inside the database by a dynamic background worker ([`worker`]), with history and
//! per-index baselines. The waiting side (`reindex_index`, `auto_reindex`) is PL/pgSQL
//! procedures in `sql/reindex/reindex.sql` that COMMIT while they poll: a caller that held a
//! snapshot while REINDEX CONCURRENTLY waits for older snapshots would wait for itself.

mod worker;

pub use worker::register_gucs;

use pgrx::prelude::*;

use crate::error::raise_error;
use crate::regclass::RegClass;
use crate::spi_query::{not_null_column, query_rows};

/// Facts of one rebuild, kept from its start to its record in `reindex_history`.
struct Started {
    run: i32,
    index: pg_sys::Oid,
    index_name: String,
    table_name: String,
    bytes_before: i64,
    started_at: TimestampWithTimeZone,
    triggered_by: String,
    predicted_reclaim: Option<i64>,
    density_before: Option<f64>,
    user: pg_sys::Oid,
    statement: String,
    /// Its `reindex_history` row once `_reindex_begin` wrote it ('running').
    history_id: Option<i64>,
}

thread_local! {
    static STARTED: std::cell::RefCell<Vec<Started>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether the caller is inside a transaction block (BEGIN ... ): the waiting procedures refuse
/// to start there, since their COMMITs would fail and a wait there could never end.
#[pg_extern(volatile)]
fn _reindex_in_block() -> bool {
    // SAFETY: reads the transaction state of this backend.
    unsafe { pg_sys::IsTransactionBlock() || pg_sys::IsSubTransaction() }
}

/// Starts the worker for one index (leaf index, not a partitioned one) and returns the run
/// number. Everything a user can get wrong is checked first, before any worker starts.
#[pg_extern(volatile)]
fn _reindex_start(
    index: Option<RegClass>,
    concurrently: Option<bool>,
    triggered_by: Option<String>,
    predicted_reclaim: Option<i64>,
    density_before: Option<f64>,
) -> i32 {
    let Some(index) = index else {
        raise_error(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "index must not be NULL",
            None,
        )
    };
    let concurrently = concurrently.unwrap_or(true);
    let triggered_by = triggered_by.unwrap_or_else(|| "manual".into());
    if !["manual", "auto", "schedule"].contains(&triggered_by.as_str()) {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "triggered_by is manual, auto or schedule",
            None,
        );
    }
    let facts = query_rows(
        "SELECT c.relkind::text AS relkind, format('%I.%I', n.nspname, c.relname) AS qname,
                i.indrelid::regclass::text AS table_name, pg_relation_size(c.oid) AS bytes,
                c.relpersistence::text AS persistence,
                (SELECT rolcanlogin FROM pg_roles WHERE oid = $2) AS can_login,
                current_user::text AS user_name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_index i ON i.indexrelid = c.oid
         WHERE c.oid = $1",
        // SAFETY: reads the current user id.
        &[index.into(), unsafe { pg_sys::GetUserId() }.into()],
        |r| {
            Ok((
                not_null_column::<String>(r, "relkind")?,
                not_null_column::<String>(r, "qname")?,
                r.get_by_name::<String, _>("table_name")?
                    .unwrap_or_default(),
                not_null_column::<i64>(r, "bytes")?,
                not_null_column::<String>(r, "persistence")?,
                r.get_by_name::<bool, _>("can_login")?.unwrap_or(false),
                not_null_column::<String>(r, "user_name")?,
            ))
        },
    );
    let Some((relkind, qname, table, bytes, persistence, can_login, user)) =
        facts.into_iter().next()
    else {
        raise_error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("relation with OID {} does not exist", index.0.to_u32()),
            None,
        )
    };
    if relkind == "I" {
        raise_error(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("{qname} is a partitioned index: rebuild it partition by partition"),
            Some("CALL ntsb_perf.reindex_index(...) does this for a partitioned index."),
        );
    }
    if relkind != "i" {
        raise_error(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("{qname} is not an index"),
            None,
        );
    }
    if persistence == "t" {
        raise_error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("{qname} is an index of a temporary table: the worker cannot see it"),
            Some("REINDEX INDEX it in this session."),
        );
    }
    if !can_login {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            format!("role \"{user}\" may not log in, so no worker can connect as it"),
            Some("Rebuild as a role with LOGIN (the worker connects as the calling role, never as another)."),
        );
    }
    let statement = format!(
        "REINDEX INDEX {}{qname}",
        if concurrently { "CONCURRENTLY " } else { "" }
    );
    let started_at = Spi::get_one::<TimestampWithTimeZone>("SELECT clock_timestamp()")
        .ok()
        .flatten()
        .unwrap_or_else(TimestampWithTimeZone::positive_infinity);
    let run = worker::start(&statement);
    STARTED.with(|s| {
        s.borrow_mut().push(Started {
            run,
            index: index.0,
            index_name: qname,
            table_name: table,
            bytes_before: bytes,
            started_at,
            triggered_by,
            predicted_reclaim,
            density_before,
            // SAFETY: reads the current user id.
            user: unsafe { pg_sys::GetUserId() },
            statement,
            history_id: None,
        })
    });
    run
}

/// Called by auto_reindex once it holds its one-run lock: an abort of this session's
/// transaction (the run cancelled, or ended by an error) releases the lock.
#[pg_extern(volatile)]
fn _reindex_release_run_lock_on_abort() {
    worker::release_run_lock_on_abort();
}

/// Where a run is: `phase` starting / running / done / failed / gone (the worker exited without
/// an outcome: terminated or killed), the worker's pid while it runs, and its error.
#[pg_extern(volatile)]
#[allow(clippy::type_complexity)]
fn _reindex_poll(
    run: i32,
) -> TableIterator<
    'static,
    (
        name!(phase, String),
        name!(pid, Option<i32>),
        name!(sqlstate, Option<String>),
        name!(message, Option<String>),
        name!(detail, Option<String>),
        name!(hint, Option<String>),
    ),
> {
    let o = worker::poll(run);
    let phase = match o.phase {
        worker::Phase::Done => "done",
        worker::Phase::Failed => "failed",
        _ if o.exited => "gone",
        worker::Phase::Starting => "starting",
        worker::Phase::Running => "running",
    };
    TableIterator::once((
        phase.to_string(),
        o.pid,
        o.sqlstate,
        o.message,
        o.detail,
        o.hint,
    ))
}

/// Cancels the run's statement (as pg_cancel_backend would).
#[pg_extern(volatile)]
fn _reindex_cancel(run: i32) -> bool {
    worker::cancel(run)
}

/// Records a started rebuild in `reindex_history` as 'running' (the waiting procedure commits it
/// at once), so that a run whose session dies before it reports (the caller terminated, or every
/// backend ended by a server restart after a `kill -9`) still reads in the history;
/// `_reindex_sweep` marks such a row 'terminated' later. Returns the row's id.
/// SECURITY DEFINER: the history is written only from a run's own facts.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _reindex_begin(run: Option<i32>) -> i64 {
    let run = run_arg(run);
    STARTED.with(|s| {
        let mut s = s.borrow_mut();
        let Some(f) = s.iter_mut().find(|f| f.run == run) else {
            not_started(run)
        };
        let id = record(f, "running", None, None);
        f.history_id = Some(id);
        id
    })
}

/// Ends a run and records it in `reindex_history` from its own facts (nothing the caller passes
/// now), with `status` done / failed / cancelled / terminated; after a successful rebuild the fresh
/// index is measured and kept as the index's baseline. Returns the history row's id.
/// SECURITY DEFINER: the history and the baselines are written only here.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _reindex_finish(run: Option<i32>, cancelled_because: Option<String>) -> i64 {
    let run = run_arg(run);
    let o = worker::poll(run);
    let facts = STARTED.with(|s| {
        let mut s = s.borrow_mut();
        s.iter()
            .position(|f| f.run == run)
            .map(|i| s.swap_remove(i))
    });
    worker::finish(run);
    let Some(f) = facts else { not_started(run) };
    let status = match o.phase {
        worker::Phase::Done => "done",
        worker::Phase::Failed
            if o.sqlstate.as_deref() == Some("57014") && cancelled_because.is_some() =>
        {
            "cancelled"
        }
        worker::Phase::Failed => "failed",
        _ => "terminated",
    };
    let error = match (status, &o.message, &cancelled_because) {
        ("cancelled", _, Some(why)) => Some(why.clone()),
        ("terminated", _, _) => {
            Some("the worker exited before it reported (terminated or killed)".to_string())
        }
        (_, m, _) => m.clone(),
    };
    record(&f, status, o.sqlstate, error)
}

fn run_arg(run: Option<i32>) -> i32 {
    run.unwrap_or_else(|| {
        raise_error(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "run must not be NULL",
            None,
        )
    })
}

fn not_started(run: i32) -> ! {
    raise_error(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("no rebuild {run} was started by this session"),
        None,
    )
}

/// Writes the run's history row (a new one, or the one `_reindex_begin` wrote) with this status.
fn record(f: &Started, status: &str, sqlstate: Option<String>, error: Option<String>) -> i64 {
    Spi::get_one_with_args::<i64>(
        include_str!("../../sql/reindex/record.sql"),
        &[
            f.index.into(),
            f.index_name.clone().into(),
            f.table_name.clone().into(),
            f.started_at.into(),
            f.bytes_before.into(),
            f.predicted_reclaim.into(),
            f.density_before.into(),
            status.into(),
            sqlstate.into(),
            error.into(),
            f.triggered_by.clone().into(),
            f.user.into(),
            f.statement.clone().into(),
            f.history_id.into(),
        ],
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| {
        raise_error(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "the rebuild could not be recorded",
            None,
        )
    })
}

extension_sql_file!(
    "../../sql/reindex/reindex.sql",
    name = "reindex",
    requires = [
        "bloat_grants",
        _reindex_in_block,
        _reindex_drop_start,
        _reindex_forget,
        _reindex_start,
        _reindex_poll,
        _reindex_cancel,
        _reindex_begin,
        _reindex_finish,
        _reindex_release_run_lock_on_abort
    ]
);

/// Starts the worker for `DROP INDEX CONCURRENTLY` of an invalid index (an interrupted
/// rebuild's leftover), as the caller.
#[pg_extern(volatile)]
fn _reindex_drop_start(index: RegClass) -> i32 {
    let name = query_rows(
        "SELECT format('%I.%I', n.nspname, c.relname) AS qname FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE i.indexrelid = $1 AND NOT i.indisvalid AND c.relpersistence <> 't'",
        &[index.into()],
        |r| not_null_column::<String>(r, "qname"),
    );
    let Some(name) = name.into_iter().next() else {
        raise_error(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            "only an invalid index (a leftover of an interrupted rebuild) is dropped this way",
            None,
        )
    };
    worker::start(&format!("DROP INDEX CONCURRENTLY {name}"))
}

/// Ends a run without recording it (for the leftover drops).
#[pg_extern(volatile)]
fn _reindex_forget(run: i32) {
    worker::finish(run);
}
