//! `health_report`: the extension's reports gathered into one self-contained HTML page, and
//! `hotspots_geojson`: an `accident_hotspots` result as GeoJSON.
//!
//! Each section reads its rows with the SQL of the report it shows (`ntsb_perf.index_usage`,
//! `unused_indexes`, ... called through SPI, with the caller's rights) inside a subtransaction
//! of its own, so that a section whose data cannot be read (no PostGIS, no `events` table or no
//! right to read it, no pg_cron, no `pg_stat_scan_tables` for the bloat scan, a lock timeout)
//! says why in its place instead of failing the page. Cancelling the call still cancels it.
//! The page itself is built by `ntsb_perf_core::report` (escaping, charts), tested there.

use ntsb_perf_core::report::geojson::{self, GeoJsonError};
use ntsb_perf_core::report::{
    self as core_report, AccidentData, BloatEntry, DuplicateIndex, HotspotData, IndexUsage,
    InvalidIndex, Part, RefreshData, RefreshFailure, RefreshView, ReindexData, ReindexRun,
    ReportData, RunningRebuild, UnusedIndex, YearStats,
};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::{SpiHeapTupleData, SpiResult};
use pgrx::JsonB;

use crate::error::raise_error;
use crate::spi_query::query_rows;
use crate::subtransaction::guarded;

fn one_bool(sql: &str, args: &[DatumWithOid]) -> bool {
    query_rows(sql, args, |r| r.get::<bool>(1))
        .into_iter()
        .next()
        .flatten()
        .unwrap_or(false)
}

fn one_text(sql: &str, args: &[DatumWithOid]) -> Option<String> {
    query_rows(sql, args, |r| r.get::<String>(1))
        .into_iter()
        .next()
        .flatten()
}

fn text(r: &SpiHeapTupleData, c: &str) -> SpiResult<String> {
    Ok(r.get_by_name::<String, _>(c)?.unwrap_or_default())
}
fn opt_text(r: &SpiHeapTupleData, c: &str) -> SpiResult<Option<String>> {
    r.get_by_name::<String, _>(c)
}
fn int(r: &SpiHeapTupleData, c: &str) -> SpiResult<i64> {
    Ok(r.get_by_name::<i64, _>(c)?.unwrap_or_default())
}
fn opt_f(r: &SpiHeapTupleData, c: &str) -> SpiResult<Option<f64>> {
    r.get_by_name::<f64, _>(c)
}

const USAGE_SQL: &str = "
SELECT u.schema_name, u.table_name, u.index_name, u.access_method, u.idx_scan, u.index_bytes,
       u.index_size, u.is_valid,
       coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)::bigint AS table_writes
FROM ntsb_perf.index_usage($1) WITH ORDINALITY u
LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = u.index_oid
LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = i.indrelid
ORDER BY u.ordinality";

fn usage(schema: &Option<String>) -> Vec<IndexUsage> {
    query_rows(USAGE_SQL, &[schema.clone().into()], |r| {
        Ok(IndexUsage {
            schema_name: text(r, "schema_name")?,
            table_name: text(r, "table_name")?,
            index_name: text(r, "index_name")?,
            access_method: text(r, "access_method")?,
            idx_scan: int(r, "idx_scan")?,
            index_bytes: int(r, "index_bytes")?,
            index_size: text(r, "index_size")?,
            is_valid: r.get_by_name::<bool, _>("is_valid")?.unwrap_or(true),
            table_writes: int(r, "table_writes")?,
        })
    })
}

fn unused(schema: &Option<String>) -> Vec<UnusedIndex> {
    query_rows(
        "SELECT schema_name, table_name, index_name, index_bytes, index_size, table_writes,
                stats_since::text AS stats_since, drop_statement,
                floor(extract(epoch FROM now() - last_scan) / 86400)::bigint AS last_used_days
         FROM ntsb_perf.unused_indexes() WITH ORDINALITY
         WHERE $1::text IS NULL OR schema_name = $1 ORDER BY ordinality",
        &[schema.clone().into()],
        |r| {
            Ok(UnusedIndex {
                schema_name: text(r, "schema_name")?,
                table_name: text(r, "table_name")?,
                index_name: text(r, "index_name")?,
                index_bytes: int(r, "index_bytes")?,
                index_size: text(r, "index_size")?,
                table_writes: int(r, "table_writes")?,
                stats_since: opt_text(r, "stats_since")?,
                drop_statement: text(r, "drop_statement")?,
                last_used_days: r.get_by_name::<i64, _>("last_used_days")?,
            })
        },
    )
}

fn duplicates(schema: &Option<String>) -> Vec<DuplicateIndex> {
    query_rows(
        "SELECT schema_name, table_name, index_name, covered_by, reason, reclaimable_bytes,
                reclaimable_size, drop_statement
         FROM ntsb_perf.duplicate_indexes() WITH ORDINALITY
         WHERE $1::text IS NULL OR schema_name = $1 ORDER BY ordinality",
        &[schema.clone().into()],
        |r| {
            Ok(DuplicateIndex {
                schema_name: text(r, "schema_name")?,
                table_name: text(r, "table_name")?,
                index_name: text(r, "index_name")?,
                covered_by: text(r, "covered_by")?,
                reason: text(r, "reason")?,
                reclaimable_bytes: int(r, "reclaimable_bytes")?,
                reclaimable_size: text(r, "reclaimable_size")?,
                drop_statement: text(r, "drop_statement")?,
            })
        },
    )
}

fn invalid(schema: &Option<String>) -> Vec<InvalidIndex> {
    query_rows(
        "SELECT schema_name, table_name, index_name, index_size, likely_cause, drop_statement
         FROM ntsb_perf.invalid_indexes() WITH ORDINALITY
         WHERE $1::text IS NULL OR schema_name = $1 ORDER BY ordinality",
        &[schema.clone().into()],
        |r| {
            Ok(InvalidIndex {
                schema_name: text(r, "schema_name")?,
                table_name: text(r, "table_name")?,
                index_name: text(r, "index_name")?,
                index_size: text(r, "index_size")?,
                likely_cause: text(r, "likely_cause")?,
                drop_statement: opt_text(r, "drop_statement")?,
            })
        },
    )
}

const BLOAT_FN: &str = "ntsb_perf.index_bloat_report(text, bigint, integer)";

fn bloat(schema: &Option<String>, sample_pages: Option<i32>) -> Part<Vec<BloatEntry>> {
    if !one_bool(
        "SELECT pg_catalog.has_function_privilege($1, 'EXECUTE')",
        &[BLOAT_FN.into()],
    ) {
        return Part::Missing(format!(
            "Index bloat is not shown: it reads index pages, which needs the role pg_stat_scan_tables (GRANT pg_stat_scan_tables TO {});",
            one_text("SELECT pg_catalog.quote_ident(current_user)", &[]).unwrap_or_default()
        ));
    }
    // Every index (min_bytes 0), in the report's order (most reclaimable first).
    Part::Ready(query_rows(
        "SELECT b.schema_name, b.table_name, b.index_name, b.access_method, b.index_size,
                b.reclaimable_bytes, b.reclaimable_size, b.bloat_ratio, b.avg_leaf_density,
                bl.density AS baseline_density, b.method
         FROM ntsb_perf.index_bloat_report($1, 0, $2) WITH ORDINALITY b
         LEFT JOIN ntsb_perf.reindex_baseline bl
                ON bl.index_oid = pg_catalog.to_regclass(pg_catalog.format('%I.%I', b.schema_name, b.index_name))
         ORDER BY b.ordinality",
        &[schema.clone().into(), sample_pages.into()],
        |r| {
            Ok(BloatEntry {
                schema_name: text(r, "schema_name")?,
                table_name: text(r, "table_name")?,
                index_name: text(r, "index_name")?,
                access_method: text(r, "access_method")?,
                index_size: text(r, "index_size")?,
                reclaimable_bytes: int(r, "reclaimable_bytes")?,
                reclaimable_size: text(r, "reclaimable_size")?,
                bloat_ratio: opt_f(r, "bloat_ratio")?,
                avg_leaf_density: opt_f(r, "avg_leaf_density")?,
                baseline_density: opt_f(r, "baseline_density")?,
                method: text(r, "method")?,
            })
        },
    ))
}

fn reindex() -> ReindexData {
    let history = query_rows(
        "SELECT index_name, table_name, started_at::timestamptz(0)::text AS started_at,
                extract(epoch FROM started_at)::float8 AS started_epoch, duration::text AS duration,
                bytes_before, bytes_after, status, triggered_by, error
         FROM ntsb_perf.reindex_history ORDER BY started_at DESC, id DESC LIMIT 1000",
        &[],
        |r| {
            Ok(ReindexRun {
                index_name: text(r, "index_name")?,
                table_name: text(r, "table_name")?,
                started_at: text(r, "started_at")?,
                started_epoch: opt_f(r, "started_epoch")?.unwrap_or_default(),
                duration: opt_text(r, "duration")?,
                bytes_before: int(r, "bytes_before")?,
                bytes_after: r.get_by_name::<i64, _>("bytes_after")?,
                status: text(r, "status")?,
                triggered_by: text(r, "triggered_by")?,
                error: opt_text(r, "error")?,
            })
        },
    );
    let running = query_rows(
        "SELECT pid, run_by::text AS run_by, statement, running_for::text AS running_for, phase
         FROM ntsb_perf.reindex_status ORDER BY started_at",
        &[],
        |r| {
            Ok(RunningRebuild {
                pid: r.get_by_name::<i32, _>("pid")?.unwrap_or_default(),
                run_by: text(r, "run_by")?,
                statement: text(r, "statement")?,
                running_for: text(r, "running_for")?,
                phase: opt_text(r, "phase")?,
            })
        },
    );
    ReindexData { history, running }
}

fn refresh() -> RefreshData {
    let pg_cron = one_bool(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron')",
        &[],
    );
    let views = query_rows(
        "SELECT view::text AS view, schedule, last_refresh::timestamptz(0)::text AS last_refresh,
                extract(epoch FROM now() - last_refresh)::float8 AS stale_seconds,
                last_status, last_error, refresh_reason, job_active
         FROM ntsb_perf.refresh_status ORDER BY view::text",
        &[],
        |r| {
            Ok(RefreshView {
                view: text(r, "view")?,
                schedule: text(r, "schedule")?,
                last_refresh: opt_text(r, "last_refresh")?,
                stale_seconds: opt_f(r, "stale_seconds")?,
                last_status: opt_text(r, "last_status")?,
                last_error: opt_text(r, "last_error")?,
                refresh_reason: opt_text(r, "refresh_reason")?,
                job_active: r.get_by_name::<bool, _>("job_active")?,
            })
        },
    );
    let failures = query_rows(
        "SELECT view::text AS view, started_at::timestamptz(0)::text AS started_at, error
         FROM ntsb_perf.refresh_log WHERE status = 'failed'
         ORDER BY started_at DESC, id DESC LIMIT 20",
        &[],
        |r| {
            Ok(RefreshFailure {
                view: text(r, "view")?,
                started_at: text(r, "started_at")?,
                error: opt_text(r, "error")?,
            })
        },
    );
    RefreshData {
        pg_cron,
        views,
        failures,
    }
}

/// The accident table the statistics read: `events` on the caller's search_path, if the
/// caller may read it; otherwise why not, in words.
fn events_table() -> Result<String, String> {
    let found = query_rows(
        "SELECT c.oid::regclass::text AS name, pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable
         FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass('events')",
        &[],
        |r| Ok((text(r, "name")?, r.get_by_name::<bool, _>("readable")?.unwrap_or(false))),
    );
    match found.into_iter().next() {
        None => {
            Err("There is no table events on the search_path: no accident data to show.".into())
        }
        Some((name, false)) => Err(format!(
            "You may not read {name} (permission denied): no accident data to show."
        )),
        Some((name, true)) => Ok(name),
    }
}

const STATS_SQL: &str = "
SELECT pg_catalog.format($q$
WITH y AS MATERIALIZED (
    SELECT extract(year FROM event_date)::int AS year,
           ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries, NULL, total_uninjured) AS s
    FROM %s GROUP BY 1)
SELECT false AS total, year, ntsb_perf.accidents(s) AS accidents, ntsb_perf.fatal_accidents(s) AS fatal_accidents,
       ntsb_perf.fatal_rate(s) AS fatal_rate, ntsb_perf.fatalities(s) AS fatalities,
       ntsb_perf.severity_counts(s)::text AS severity
FROM y WHERE year IS NOT NULL
UNION ALL
SELECT true, NULL, ntsb_perf.accidents(r), ntsb_perf.fatal_accidents(r), ntsb_perf.fatal_rate(r),
       ntsb_perf.fatalities(r), ntsb_perf.severity_counts(r)::text
FROM (SELECT ntsb_perf.rollup(s) AS r FROM y) t
ORDER BY 1, 2$q$, $1::regclass)";

fn stats(source: &str) -> AccidentData {
    let sql = one_text(STATS_SQL, &[source.into()]).unwrap_or_default();
    let rows = query_rows(&sql, &[], |r| {
        Ok((
            r.get_by_name::<bool, _>("total")?.unwrap_or(false),
            YearStats {
                year: r.get_by_name::<i32, _>("year")?.unwrap_or_default(),
                accidents: int(r, "accidents")?,
                fatal_accidents: int(r, "fatal_accidents")?,
                fatal_rate: opt_f(r, "fatal_rate")?,
                fatalities: r.get_by_name::<i64, _>("fatalities")?,
            },
            opt_text(r, "severity")?,
        ))
    });
    let mut d = AccidentData {
        source: source.to_string(),
        ..Default::default()
    };
    for (total, y, severity) in rows {
        if total {
            d.accidents = y.accidents;
            d.fatal_accidents = y.fatal_accidents;
            let counts: serde_json::Value = severity
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default();
            d.severity = ["FATL", "SERS", "MINR", "NONE", "UNKN"]
                .iter()
                .map(|c| (c.to_string(), counts[c].as_i64().unwrap_or(0)))
                .collect();
        } else {
            d.years.push(y);
        }
    }
    d
}

/// Cell size and number of cells of the report's map.
const MAP_CELL_KM: f64 = 50.0;
const MAP_CELLS: i32 = 25;

const HOTSPOTS_SQL: &str = "
SELECT pg_catalog.format($q$
SELECT ntsb_perf.accident_hotspots(geom, ntsb_perf.normalize_severity(injury_severity) = 'FATL', %s::float8, %s)::text
FROM %s$q$, $2, $3, $1::regclass)";

fn hotspots(source: &str) -> Part<HotspotData> {
    if !one_bool(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'postgis')",
        &[],
    ) {
        return Part::Missing(
            "PostGIS is not installed in this database (CREATE EXTENSION postgis;): no hotspot map."
                .into(),
        );
    }
    let sql = one_text(
        HOTSPOTS_SQL,
        &[source.into(), MAP_CELL_KM.into(), MAP_CELLS.into()],
    )
    .unwrap_or_default();
    let json: Option<serde_json::Value> =
        one_text(&sql, &[]).and_then(|s| serde_json::from_str(&s).ok());
    let Some(json) = json else {
        return Part::Missing(format!("{source} holds no accidents: no hotspot map."));
    };
    match geojson::read_cells(&json) {
        Ok((cell_km, cells)) => {
            let n = |k: &str| json[k].as_i64().unwrap_or(0);
            Part::Ready(HotspotData {
                source: source.to_string(),
                cell_km,
                cells,
                skipped_null: n("skipped_null"),
                skipped_other: n("skipped_empty") + n("skipped_not_point") + n("skipped_invalid"),
            })
        }
        Err(e) => Part::Missing(format!(
            "accident_hotspots returned what the map cannot read: {e}"
        )),
    }
}

fn part<T>(r: Result<Part<T>, String>) -> Part<T> {
    r.unwrap_or_else(Part::Missing)
}

/// Checks the arguments: an existing schema (a name of 64 bytes or more is refused, 42622; an
/// unknown one is 3F000), a positive sample (22023).
fn check_args(schema_name: &Option<String>, sample_pages: Option<i32>) {
    if let Some(s) = schema_name {
        if s.len() >= pg_sys::NAMEDATALEN as usize {
            raise_error(
                PgSqlErrorCode::ERRCODE_NAME_TOO_LONG,
                format!(
                    "schema_name is {} bytes; a schema name has at most {} bytes",
                    s.len(),
                    pg_sys::NAMEDATALEN - 1
                ),
                Some("Pass NULL for every schema."),
            );
        }
        if !one_bool(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[s.clone().into()],
        ) {
            raise_error(
                PgSqlErrorCode::ERRCODE_INVALID_SCHEMA_NAME,
                format!("schema \"{s}\" does not exist"),
                Some("Pass a schema name as it is spelled in pg_namespace (not quoted), or NULL for every schema."),
            );
        }
    }
    if let Some(n) = sample_pages.filter(|n| *n <= 0) {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("sample_pages must be a positive number of pages, not {n}"),
            Some("Pass NULL for an exact bloat scan of every page."),
        );
    }
}

/// One self-contained HTML5 page (inline CSS and SVG, no script, no external resource) with a
/// summary line per section: index sizes and usage, unused, duplicate and invalid indexes with
/// their drop statements, index bloat (reclaimable bytes, density against the rebuild
/// baseline; needs `pg_stat_scan_tables`), reindex history and what is running, refresh
/// status, accident statistics and the hotspot map of the `events` table on the search_path.
/// A section whose data cannot be read says why in its place. `schema_name` limits the index
/// sections to one schema (NULL: every schema); `sample_pages` makes the bloat scan sampled
/// (NULL: exact). Runs with the caller's rights.
///
/// ```sh
/// psql -Atc "SELECT ntsb_perf.health_report(sample_pages => 50)" ntsb > report.html
/// ```
///
/// <!-- doctest: data=empty -->
/// ```sql
/// ntsb=# SELECT substr(r, 1, 15) AS starts, (regexp_matches(r, '<h2>([^<]+)</h2>', 'g'))[1] AS section
///        FROM ntsb_perf.health_report() r;
///      starts      |        section
/// -----------------+-----------------------
///  <!DOCTYPE html> | Summary
///  <!DOCTYPE html> | Index sizes and usage
///  <!DOCTYPE html> | Unused indexes
///  <!DOCTYPE html> | Duplicate indexes
///  <!DOCTYPE html> | Invalid indexes
///  <!DOCTYPE html> | Index bloat
///  <!DOCTYPE html> | Reindex history
///  <!DOCTYPE html> | Refresh status
///  <!DOCTYPE html> | Accident statistics
///  <!DOCTYPE html> | Accident hotspots
/// (10 rows)
/// ```
#[pg_extern(volatile, parallel_unsafe)]
fn health_report(
    schema_name: default!(Option<String>, "NULL"),
    sample_pages: default!(Option<i32>, "NULL"),
) -> String {
    check_args(&schema_name, sample_pages);
    let s = &schema_name;
    let database = one_text("SELECT current_database()::text", &[]).unwrap_or_default();
    let generated_at = one_text("SELECT now()::timestamptz(0)::text", &[]).unwrap_or_default();
    let events = guarded(events_table).and_then(|r| r);
    let data = ReportData {
        database,
        generated_at,
        schema: schema_name.clone(),
        sample_pages,
        version: env!("CARGO_PKG_VERSION").to_string(),
        usage: part(guarded(|| Part::Ready(usage(s)))),
        unused: part(guarded(|| Part::Ready(unused(s)))),
        duplicates: part(guarded(|| Part::Ready(duplicates(s)))),
        invalid: part(guarded(|| Part::Ready(invalid(s)))),
        bloat: part(guarded(|| bloat(s, sample_pages))),
        reindex: part(guarded(|| Part::Ready(reindex()))),
        refresh: part(guarded(|| Part::Ready(refresh()))),
        stats: match &events {
            Ok(t) => part(guarded(|| Part::Ready(stats(t)))),
            Err(why) => Part::Missing(why.clone()),
        },
        hotspots: match &events {
            Ok(t) => part(guarded(|| hotspots(t))),
            Err(why) => Part::Missing(why.clone()),
        },
    };
    core_report::render(&data)
}

/// An `accident_hotspots` result as an RFC 7946 FeatureCollection: one Polygon per cell (its
/// exact outline on the equal-area grid, longitude/latitude order, counter-clockwise, closed)
/// with properties `rank`, `accidents`, `fatal_accidents`, ready for QGIS, Leaflet or
/// geojson.io. Anything that is not such a result is refused (22023, naming what is wrong);
/// more than 100,000 cells is 54000. NULL gives NULL (the aggregate over no rows).
///
/// `ntsb_perf.hotspots_geojson(jsonb)` is SQL that passes the jsonb's text form here: read
/// as text, a number no float can hold (`1e400`, valid in jsonb) is a 22023 like any other
/// wrong value, not a failed conversion of the argument.
///
/// <!-- doctest: data=generated -->
/// ```sql
/// ntsb=# SELECT jsonb_array_length(g->'features') AS features, g->'features'->0->'properties' AS first
///        FROM ntsb_perf.hotspots_geojson(
///            (SELECT ntsb_perf.accident_hotspots(geom, injury_severity LIKE 'FATAL%', 50, 10) FROM events)) g;
///  features |                        first
/// ----------+-----------------------------------------------------
///        10 | {"rank": 1, "accidents": 109, "fatal_accidents": 7}
/// (1 row)
/// ```
#[pg_extern(immutable, parallel_safe, strict)]
fn _hotspots_geojson(hotspots: &str) -> JsonB {
    let value: serde_json::Value = serde_json::from_str(hotspots).unwrap_or_else(|e| {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("hotspots is not JSON that can be read: {e}"),
            Some("Pass what ntsb_perf.accident_hotspots(geom, fatal [, cell_km, top_n]) returns."),
        )
    });
    match geojson::hotspots_geojson(&value) {
        Ok(v) => JsonB(v),
        Err(e @ GeoJsonError::Shape(_)) => raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            e.to_string(),
            Some("Pass what ntsb_perf.accident_hotspots(geom, fatal [, cell_km, top_n]) returns."),
        ),
        Err(e @ GeoJsonError::TooMany(_)) => raise_error(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            e.to_string(),
            Some("Ask accident_hotspots for fewer cells (its top_n argument)."),
        ),
    }
}

extension_sql!(
    r#"
CREATE FUNCTION ntsb_perf.hotspots_geojson(hotspots jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ntsb_perf._hotspots_geojson(hotspots::text) $$;
COMMENT ON FUNCTION ntsb_perf.hotspots_geojson(jsonb) IS
    'an accident_hotspots result as an RFC 7946 FeatureCollection of cell polygons';
"#,
    name = "hotspots_geojson",
    requires = [_hotspots_geojson]
);
