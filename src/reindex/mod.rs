//! Auto-reindex: the plan (from the bloat measurements), and `REINDEX INDEX CONCURRENTLY` run
//! from inside the database by a dynamic background worker ([`worker`]), with history and
//! per-index baselines. The waiting side (`reindex_index`, `auto_reindex`) is PL/pgSQL
//! procedures in `sql/reindex/run.sql` that COMMIT while they poll: a caller that held a
//! snapshot while REINDEX CONCURRENTLY waits for older snapshots would wait for itself.

mod worker;

pub use worker::register_gucs;

use pgrx::prelude::*;

use crate::error::raise_error;
use crate::regclass::RegClass;
use crate::spi_query::{not_null_column, query_rows};

/// Facts of one rebuild, found by `_reindex_start` itself (never taken from its caller), kept
/// from its start to its record in `reindex_history`; the worker gets them too (as JSON in its
/// segment) and records the outcome from them.
#[derive(serde::Serialize, serde::Deserialize, Clone)]
pub(crate) struct Started {
    run: i32,
    /// The index's OID and relfilenode at the start (a rebuild changes one of them).
    index: u32,
    relfilenode: u32,
    /// Its quoted, qualified name, and its plain name (the prefix of a leftover's name).
    index_name: String,
    base_name: String,
    table: u32,
    table_name: String,
    bytes_before: i64,
    /// Seconds since the Unix epoch (clock_timestamp() at the start).
    started_at: f64,
    triggered_by: String,
    predicted_reclaim: Option<i64>,
    density_before: Option<f64>,
    user: u32,
    statement: String,
    concurrently: bool,
    /// Its `reindex_history` row, written 'running' before the worker starts.
    history_id: Option<i64>,
}

thread_local! {
    static STARTED: std::cell::RefCell<Vec<Started>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The facts `_reindex_start` is about to start a worker for: `_reindex_begin` (SECURITY
    /// DEFINER, called by `_reindex_start` only) writes their 'running' row.
    static PENDING: std::cell::RefCell<Option<Started>> = const { std::cell::RefCell::new(None) };
}

pub use worker::ensure_abort_callback;

/// Whether the caller is inside a transaction block (BEGIN ... ): the waiting procedures refuse
/// to start there, since their COMMITs would fail and a wait there could never end.
#[pg_extern(volatile)]
fn _reindex_in_block() -> bool {
    // SAFETY: reads the transaction state of this backend.
    unsafe { pg_sys::IsTransactionBlock() || pg_sys::IsSubTransaction() }
}

/// Starts the worker for one index (leaf index, not a partitioned one) and returns the run
/// number. Callable by every role (the waiting procedures run with the caller's rights), so it
/// checks everything itself, before any worker starts: the index exists, is a leaf index of a
/// permanent table, the caller may rebuild it (42501 otherwise, and no history row), it is not
/// the leftover of an interrupted rebuild, the caller may log in, the cap
/// (`ntsb_perf.max_rebuild_workers`). The history row's figures are this session's own
/// measurements, and `schedule` is recorded only for a run pg_cron started from the job
/// schedule_auto_reindex made (`auto` says only that it is part of an auto_reindex run).
#[pg_extern(volatile)]
fn _reindex_start(index: Option<RegClass>, concurrently: Option<bool>, auto: Option<bool>) -> i32 {
    let Some(index) = index else {
        raise_error(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "index must not be NULL",
            None,
        )
    };
    let concurrently = concurrently.unwrap_or(true);
    let auto = auto.unwrap_or(false);
    #[allow(clippy::type_complexity)]
    let facts: Vec<(String, String, String, i64, String, bool, String, bool, bool, bool)> = query_rows(
        "SELECT c.relkind::text AS relkind, pg_catalog.format('%I.%I', n.nspname, c.relname) AS qname,
                c.relname::text AS base_name, pg_catalog.pg_relation_size(c.oid) AS bytes,
                c.relpersistence::text AS persistence,
                coalesce((SELECT r.rolcanlogin FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) $2), false) AS can_login,
                (SELECT r.rolname::text FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) $2) AS user_name,
                pg_catalog.pg_has_role($2, c.relowner, 'USAGE') AS may_rebuild,
                coalesce(NOT i.indisvalid, false) AS invalid,
                coalesce(NOT i.indisvalid AND c.relname OPERATOR(pg_catalog.~) '_cc(new|old)[0-9]*$' AND EXISTS (
                    SELECT 1 FROM pg_catalog.pg_index i2 JOIN pg_catalog.pg_class c2 ON c2.oid OPERATOR(pg_catalog.=) i2.indexrelid
                    WHERE i2.indrelid OPERATOR(pg_catalog.=) i.indrelid AND i2.indisvalid
                      AND c2.relname OPERATOR(pg_catalog.=) pg_catalog.regexp_replace(c.relname, '_cc(new|old)[0-9]*$', '')), false) AS leftover
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         LEFT JOIN pg_catalog.pg_index i ON i.indexrelid OPERATOR(pg_catalog.=) c.oid
         WHERE c.oid OPERATOR(pg_catalog.=) $1",
        // SAFETY: reads the current user id.
        &[index.into(), unsafe { pg_sys::GetUserId() }.into()],
        |r| {
            Ok((
                not_null_column::<String>(r, "relkind")?,
                not_null_column::<String>(r, "qname")?,
                not_null_column::<String>(r, "base_name")?,
                not_null_column::<i64>(r, "bytes")?,
                not_null_column::<String>(r, "persistence")?,
                r.get_by_name::<bool, _>("can_login")?.unwrap_or(false),
                r.get_by_name::<String, _>("user_name")?.unwrap_or_default(),
                r.get_by_name::<bool, _>("may_rebuild")?.unwrap_or(false),
                r.get_by_name::<bool, _>("invalid")?.unwrap_or(false),
                r.get_by_name::<bool, _>("leftover")?.unwrap_or(false),
            ))
        },
    );
    let Some((
        relkind,
        qname,
        base_name,
        bytes,
        persistence,
        can_login,
        user,
        may_rebuild,
        _invalid,
        leftover,
    )) = facts.into_iter().next()
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
    if !may_rebuild {
        raise_error(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("must be owner of index {qname} to rebuild it"),
            Some("Only the owner of a table (or a member of its owning role) may rebuild its indexes."),
        );
    }
    if persistence == "t" {
        raise_error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("{qname} is an index of a temporary table: the worker cannot see it"),
            Some("REINDEX INDEX it in this session."),
        );
    }
    if leftover {
        raise_error(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("{qname} is the invalid leftover of an interrupted REINDEX CONCURRENTLY, not an index to rebuild"),
            Some(&format!(
                "Drop it (DROP INDEX CONCURRENTLY {qname}); CALL ntsb_perf.auto_reindex(dry_run => false) drops such leftovers."
            )),
        );
    }
    if !can_login {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            format!("role \"{user}\" may not log in, so no worker can connect as it"),
            Some("Rebuild as a role with LOGIN (the worker connects as the calling role, never as another)."),
        );
    }
    let (table, table_name, relfilenode) = query_rows(
        "SELECT i.indrelid AS t, i.indrelid::pg_catalog.regclass::text AS tname, c.relfilenode AS f
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid
         WHERE i.indexrelid OPERATOR(pg_catalog.=) $1",
        &[index.into()],
        |r| {
            Ok((
                not_null_column::<pg_sys::Oid>(r, "t")?,
                not_null_column::<String>(r, "tname")?,
                not_null_column::<pg_sys::Oid>(r, "f")?,
            ))
        },
    )
    .into_iter()
    .next()
    .unwrap_or((pg_sys::InvalidOid, String::new(), pg_sys::InvalidOid));
    // 'schedule' only for the run of our pg_cron job (pg_cron's own record of the running job
    // names this backend); a SET application_name cannot make it so.
    let triggered_by = if !auto {
        "manual"
    } else if Spi::get_one::<bool>("SELECT ntsb_perf._reindex_scheduled_run()")
        .ok()
        .flatten()
        .unwrap_or(false)
    {
        "schedule"
    } else {
        "auto"
    };
    // The figures before: this session's own measurement of this very index (the plan's), with
    // the reclaim predicted as the plan does (relative to the index's baseline).
    let (predicted_reclaim, density_before) =
        match (auto, crate::bloat::last_measurement(index.0, relfilenode)) {
            (true, Some(m)) => {
                let base_ratio = Spi::get_one_with_args::<f64>(
                    "SELECT b.bloat_ratio FROM ntsb_perf._baseline_of($1) b",
                    &[index.0.into()],
                )
                .ok()
                .flatten()
                .filter(|r| *r > 0.0 && r.is_finite())
                .unwrap_or(1.0);
                let expected = (m.expected_bytes as f64 * base_ratio).round() as i64;
                (Some((m.index_bytes - expected).max(0)), m.avg_leaf_density)
            }
            _ => (None, None),
        };
    let statement = format!(
        "REINDEX INDEX {}{qname}",
        if concurrently { "CONCURRENTLY " } else { "" }
    );
    let started_at =
        Spi::get_one::<f64>("SELECT pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())")
            .ok()
            .flatten()
            .unwrap_or(0.0);
    let mut f = Started {
        run: 0,
        index: index.0.to_u32(),
        relfilenode: relfilenode.to_u32(),
        index_name: qname,
        base_name,
        table: table.to_u32(),
        table_name,
        bytes_before: bytes,
        started_at,
        triggered_by: triggered_by.to_string(),
        predicted_reclaim,
        density_before,
        // SAFETY: reads the current user id.
        user: unsafe { pg_sys::GetUserId() }.to_u32(),
        statement,
        concurrently,
        history_id: None,
    };
    // The 'running' row first, in this transaction (SECURITY DEFINER: _reindex_begin reads the
    // facts from here), so that the worker can write its outcome into it however soon it ends.
    PENDING.with(|p| *p.borrow_mut() = Some(f.clone()));
    let id = Spi::get_one::<i64>("SELECT ntsb_perf._reindex_begin()")
        .ok()
        .flatten();
    PENDING.with(|p| p.borrow_mut().take());
    f.history_id = id;
    let json = serde_json::to_string(&f).unwrap_or_default();
    let run = worker::start(&f.statement, &json);
    f.run = run;
    STARTED.with(|s| s.borrow_mut().push(f));
    run
}

/// Writes the 'running' row of the rebuild `_reindex_start` is starting (nothing else: without
/// one, an error). SECURITY DEFINER: the history is written only from a run's own facts.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _reindex_begin() -> i64 {
    let Some(f) = PENDING.with(|p| p.borrow().clone()) else {
        raise_error(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "no rebuild is being started by this session",
            Some("Rebuilds are started by CALL ntsb_perf.reindex_index(...) and ntsb_perf.auto_reindex(...)."),
        )
    };
    record(&f, "running", None, None)
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
fn _reindex_cancel(run: Option<i32>, reason: default!(Option<String>, "NULL")) -> bool {
    worker::cancel(
        run_arg(run),
        reason.as_deref().unwrap_or("cancelled by the caller"),
    )
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
    // Recorded by the worker itself (its normal end): that row is the record.
    if let Some(id) = o.recorded_id {
        return id;
    }
    // The worker ended without recording (it was terminated, or killed, or recording failed).
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
/// Run as the extension's owner (a SECURITY DEFINER function, or the worker switched to it).
pub(crate) fn record(
    f: &Started,
    status: &str,
    sqlstate: Option<String>,
    error: Option<String>,
) -> i64 {
    Spi::get_one_with_args::<i64>(
        include_str!("../../sql/reindex/record.sql"),
        &[
            pg_sys::Oid::from(f.index).into(),
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
            pg_sys::Oid::from(f.user).into(),
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

// The SQL of auto-reindex, each part after the one it needs: the rebuild record, the plan, the
// runs, the schedule (named "reindex": what the other modules require). It reads the index
// history (baselines, thresholds, forecast); the index history never reads it.
extension_sql_file!(
    "../../sql/reindex/schema.sql",
    name = "reindex_schema",
    requires = [
        "index_history",
        "bloat_grants",
        _reindex_in_block,
        _reindex_drop_start,
        _reindex_forget,
        _reindex_start,
        _reindex_poll,
        _reindex_cancel,
        _reindex_begin,
        _reindex_finish,
        "run_lock",
        "schedule"
    ]
);
extension_sql_file!(
    "../../sql/reindex/plan.sql",
    name = "reindex_plan",
    requires = ["reindex_schema"]
);
extension_sql_file!(
    "../../sql/reindex/run.sql",
    name = "reindex_run",
    requires = ["reindex_plan"]
);
extension_sql_file!(
    "../../sql/reindex/schedule.sql",
    name = "reindex",
    requires = ["reindex_run"]
);

/// Starts the worker for `DROP INDEX CONCURRENTLY` of an invalid index (an interrupted
/// rebuild's leftover), as the caller.
#[pg_extern(volatile)]
fn _reindex_drop_start(index: Option<RegClass>) -> i32 {
    let Some(index) = index else {
        raise_error(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "index must not be NULL",
            None,
        )
    };
    let found = query_rows(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS qname,
                pg_catalog.pg_has_role(c.relowner, 'USAGE') AS may_drop
         FROM pg_catalog.pg_index i
         JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE i.indexrelid OPERATOR(pg_catalog.=) $1 AND NOT i.indisvalid
           AND c.relpersistence OPERATOR(pg_catalog.<>) 't'",
        &[index.into()],
        |r| {
            Ok((
                not_null_column::<String>(r, "qname")?,
                r.get_by_name::<bool, _>("may_drop")?.unwrap_or(false),
            ))
        },
    );
    let Some((name, may_drop)) = found.into_iter().next() else {
        raise_error(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            "only an invalid index (a leftover of an interrupted rebuild) is dropped this way",
            None,
        )
    };
    if !may_drop {
        raise_error(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("must be owner of index {name} to drop it"),
            None,
        );
    }
    worker::start(&format!("DROP INDEX CONCURRENTLY {name}"), "")
}

/// Ends a run without recording it (for the leftover drops).
#[pg_extern(volatile)]
fn _reindex_forget(run: i32) {
    worker::finish(run);
}
