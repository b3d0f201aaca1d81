//! Accident statistics: `normalize_severity`, the two-step aggregate `accident_stats` with its
//! stored state type, `rollup`, the accessors, and `create_accident_stats_view`. The arithmetic
//! is `ntsb_perf_core::stats`; this module is the PostgreSQL glue (transition state kept as
//! `internal` in the aggregate's memory context, with combine/serialize/deserialize so that
//! both aggregates run in parallel).

use ntsb_perf_core::severity::{self, classify_bytes, Severity};
use ntsb_perf_core::stats::{AccidentStats, StatsError};
use pgrx::inoutfuncs::InOutFuncs;
use pgrx::prelude::*;
use pgrx::{Internal, JsonB};

use crate::aggregate_state::new_state;
use crate::c_function::{text_bytes, FINFO_V1};
use crate::error::raise_error;
use crate::regclass::RegClass;
use crate::spi_query::{not_null_column, query_rows};

/// Maps a source severity value ('FATAL(2)', 'NON-FATAL', 'INCIDENT', 'SIRUOSE', ...) to 'FATL',
/// 'SERS', 'MINR' or 'NONE', and anything else (NULL included) to 'UNKN'.
///
/// ```sql
/// ntsb=# SELECT ntsb_perf.normalize_severity('FATAL(2)');
///  normalize_severity
/// --------------------
///  FATL
/// (1 row)
/// ```
#[pg_extern(immutable, parallel_safe)]
fn normalize_severity(severity: Option<&str>) -> &'static str {
    severity::classify(severity).code()
}

/// Raises a state error: 22003 for a count or sum out of range, else `code` (22P02 for text
/// input, 22P03 for stored or serialized bytes).
fn raise_stats_error(e: StatsError, code: PgSqlErrorCode) -> ! {
    let code = match e {
        StatsError::Overflow(_) => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        _ => code,
    };
    raise_error(code, e.to_string(), None)
}

/// The stored state of `accident_stats` (what a materialized view keeps per group, and what
/// `rollup` combines). Its text form is JSON (as in release 0.1.0); its stored form is
/// `AccidentStats::to_bytes` (a version byte, then fixed-width integers), and values stored by
/// release 0.1.0 (CBOR) still read. Every value that comes in is validated.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Default, PostgresType)]
#[inoutfuncs]
#[bikeshed_postgres_type_manually_impl_from_into_datum]
pub struct accident_stats(AccidentStats);

impl InOutFuncs for accident_stats {
    fn input(input: &core::ffi::CStr) -> Self {
        let text = input.to_str().unwrap_or_else(|_| {
            raise_error(
                PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
                "accident_stats: input is not valid UTF-8",
                None,
            )
        });
        accident_stats(AccidentStats::from_json(text).unwrap_or_else(|e| {
            raise_stats_error(e, PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION)
        }))
    }

    fn output(&self, buffer: &mut pgrx::StringInfo) {
        buffer.push_str(&self.0.to_json());
    }
}

impl IntoDatum for accident_stats {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        self.0.to_bytes().into_datum()
    }

    fn type_oid() -> pg_sys::Oid {
        pgrx::wrappers::rust_regtypein::<Self>()
    }
}

impl FromDatum for accident_stats {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        typoid: pg_sys::Oid,
    ) -> Option<Self> {
        // SAFETY: the caller passes a datum of this type (a varlena) or is_null; `&[u8]`'s
        // FromDatum detoasts it and reads exactly its payload.
        let bytes = unsafe { <&[u8]>::from_polymorphic_datum(datum, is_null, typoid) }?;
        Some(accident_stats(
            AccidentStats::from_stored(bytes).unwrap_or_else(|e| {
                raise_stats_error(e, PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION)
            }),
        ))
    }
}

// SAFETY: box_into returns either NULL or a datum of this type built by into_datum.
unsafe impl pgrx::callconv::BoxRet for accident_stats {
    unsafe fn box_into<'fcx>(
        self,
        fcinfo: &mut pgrx::callconv::FcInfo<'fcx>,
    ) -> pgrx::datum::Datum<'fcx> {
        match self.into_datum() {
            None => fcinfo.return_null(),
            // SAFETY: a freshly palloc'd varlena of this type, returned to the caller.
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
        }
    }
}

// SAFETY: `As` owns its data (decoded out of the datum), so it outlives nothing it borrows.
unsafe impl pgrx::datum::UnboxDatum for accident_stats {
    type As<'dat> = Self;
    unsafe fn unbox<'dat>(datum: pgrx::datum::Datum<'dat>) -> Self::As<'dat>
    where
        Self: 'dat,
    {
        // SAFETY: pgrx unboxes only non-NULL datums of this type here.
        unsafe { <Self as FromDatum>::from_datum(datum.sans_lifetime(), false) }.unwrap_or_default()
    }
}

// SAFETY: the argument is decoded through FromDatum, which checks the bytes it reads.
unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for accident_stats {
    unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: the argument is of this type (the function's SQL signature says so).
        unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or_else(|| {
            raise_error(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                format!("argument {index} must not be NULL"),
                None,
            )
        })
    }
}

/// Existing state, or a new empty one allocated in the aggregate's context.
fn state_mut(state: &mut Internal, fcinfo: pg_sys::FunctionCallInfo) -> &mut AccidentStats {
    if !state.initialized() {
        *state = new_state(fcinfo, AccidentStats::default());
    }
    // SAFETY: this aggregate's internal state is always an AccidentStats (made just above or by
    // an earlier call of the same aggregate's functions).
    unsafe { state.get_mut::<AccidentStats>() }.expect("initialized above")
}

/// The transition function of `accident_stats`, `ntsb_perf.accident_stats_trans(internal, text,
/// integer, integer, integer, integer)` (declared below). It is written against the
/// version-1 calling convention by hand because it runs once per row: it reads its arguments
/// straight out of `fcinfo` (the severity as the bytes of the `text` datum, detoasted only when
/// compressed or out of line, never copied; `ntsb_perf_core::severity::classify_bytes`), where
/// `#[pg_extern]`'s argument iterator, UTF-8 check and state wrapper were most of its cost
/// (bench/README.md, issue 27). The arithmetic, its overflow checks (22003) and the new-state
/// path are the same as before. The symbol is the one pgrx gave it, so the SQL declaration of
/// every release stays valid.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn accident_stats_trans_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: PostgreSQL calls this with a valid fcinfo whose `nargs` arguments follow it. The
    // SQL declaration has six (a call with another count is refused before any is read).
    let args = unsafe {
        let nargs = usize::try_from((*fcinfo).nargs).unwrap_or(0);
        (*fcinfo).args.as_slice(nargs)
    };
    if args.len() != 6 {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("accident_stats_trans takes 6 arguments, not {}", args.len()),
            None,
        );
    }
    let int = |a: &pg_sys::NullableDatum| (!a.isnull).then(|| a.value.value() as i32);
    let severity = if args[1].isnull {
        Severity::Unknown
    } else {
        // SAFETY: argument 1 is a non-NULL `text` datum (the declaration says so); text_bytes
        // reads exactly its payload, which lives until the call returns.
        classify_bytes(unsafe { text_bytes(args[1].value) })
    };
    let mut state = if args[0].isnull {
        new_state(fcinfo, AccidentStats::default())
    } else {
        // SAFETY: a non-NULL argument 0 is this aggregate's own transition state, a pointer to
        // the AccidentStats made by new_state (the aggregate's SFUNC is the only caller that
        // passes one: AggCheckCallContext was checked when it was made).
        unsafe { Internal::from_datum(args[0].value, false) }.unwrap_or_default()
    };
    // SAFETY: as above, the state is an AccidentStats in the aggregate's memory context.
    let s = unsafe { state.get_mut::<AccidentStats>() }.unwrap_or_else(|| {
        raise_error(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "accident_stats_trans: no transition state",
            None,
        )
    });
    s.add_classified(
        severity,
        int(&args[2]),
        int(&args[3]),
        int(&args[4]),
        int(&args[5]),
    )
    .unwrap_or_else(|e| raise_stats_error(e, PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE));
    state.into_datum().unwrap_or(pg_sys::Datum::from(0))
}

/// The version-1 calling convention record of [`accident_stats_trans_wrapper`].
#[no_mangle]
pub extern "C" fn pg_finfo_accident_stats_trans_wrapper() -> &'static pg_sys::Pg_finfo_record {
    &FINFO_V1
}

extension_sql!(
    r#"
CREATE FUNCTION ntsb_perf.accident_stats_trans(state internal, severity text, fatalities integer,
                                               serious integer, minor integer, uninjured integer)
RETURNS internal IMMUTABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'accident_stats_trans_wrapper';
"#,
    name = "accident_stats_trans",
);

#[pg_extern(immutable, parallel_safe)]
fn accident_stats_rollup_trans(
    state: Option<Internal>,
    value: Option<accident_stats>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    let mut state = state.unwrap_or_default();
    let s = state_mut(&mut state, fcinfo);
    if let Some(v) = value {
        s.merge(&v.0).unwrap_or_else(|e| {
            raise_stats_error(e, PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE)
        });
    }
    state
}

#[pg_extern(immutable, parallel_safe)]
fn accident_stats_combine(
    a: Option<Internal>,
    b: Option<Internal>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Option<Internal> {
    let b_state = b
        .as_ref()
        // SAFETY: the combine function's states are this aggregate's AccidentStats.
        .and_then(|b| unsafe { b.get::<AccidentStats>() })
        .copied();
    match (a, b_state) {
        (None, None) => None,
        (a, b_state) => {
            let mut a = a.unwrap_or_default();
            let s = state_mut(&mut a, fcinfo);
            if let Some(b_state) = b_state {
                s.merge(&b_state).unwrap_or_else(|e| {
                    raise_stats_error(e, PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE)
                });
            }
            Some(a)
        }
    }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn accident_stats_serialize(state: Internal) -> Vec<u8> {
    // SAFETY: the serialize function's state is this aggregate's AccidentStats.
    unsafe { state.get::<AccidentStats>() }
        .copied()
        .unwrap_or_default()
        .to_bytes()
}

#[pg_extern(immutable, parallel_safe, strict)]
fn accident_stats_deserialize(
    bytes: Vec<u8>,
    _unused: Internal,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    let decoded = AccidentStats::from_bytes(&bytes).unwrap_or_else(|e| {
        raise_stats_error(e, PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION)
    });
    new_state(fcinfo, decoded)
}

#[pg_extern(immutable, parallel_safe)]
fn accident_stats_final(state: Option<Internal>) -> Option<accident_stats> {
    let s = state
        .as_ref()
        // SAFETY: the final function's state is this aggregate's AccidentStats.
        .and_then(|s| unsafe { s.get::<AccidentStats>() })?;
    // An empty group has no statistics.
    (s.accidents > 0).then_some(accident_stats(*s))
}

extension_sql!(
    r#"
CREATE AGGREGATE ntsb_perf.accident_stats(severity text, fatalities integer, serious integer,
                                          minor integer, uninjured integer) (
    SFUNC = ntsb_perf.accident_stats_trans,
    STYPE = internal,
    COMBINEFUNC = ntsb_perf.accident_stats_combine,
    SERIALFUNC = ntsb_perf.accident_stats_serialize,
    DESERIALFUNC = ntsb_perf.accident_stats_deserialize,
    FINALFUNC = ntsb_perf.accident_stats_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ntsb_perf.accident_stats(text, integer, integer, integer, integer) IS
  'ntsb_perf: accident statistics (counts by normalised severity, casualty sums; NULL numbers are unknown), parallel and two-step: store the result, combine with rollup()';
CREATE AGGREGATE ntsb_perf.rollup(ntsb_perf.accident_stats) (
    SFUNC = ntsb_perf.accident_stats_rollup_trans,
    STYPE = internal,
    COMBINEFUNC = ntsb_perf.accident_stats_combine,
    SERIALFUNC = ntsb_perf.accident_stats_serialize,
    DESERIALFUNC = ntsb_perf.accident_stats_deserialize,
    FINALFUNC = ntsb_perf.accident_stats_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ntsb_perf.rollup(ntsb_perf.accident_stats) IS
  'ntsb_perf: combines stored accident_stats states (e.g. monthly rows of a view) into one';
"#,
    name = "accident_stats_aggregates",
    requires = [
        "accident_stats_trans",
        accident_stats_rollup_trans,
        accident_stats_combine,
        accident_stats_serialize,
        accident_stats_deserialize,
        accident_stats_final
    ]
);

/// Number of accidents in the state.
#[pg_extern(immutable, parallel_safe)]
fn accidents(s: accident_stats) -> i64 {
    // validated: at most i64::MAX
    s.0.accidents as i64
}

/// Accidents whose severity normalises to FATL.
#[pg_extern(immutable, parallel_safe)]
fn fatal_accidents(s: accident_stats) -> i64 {
    s.0.fatal_accidents() as i64
}

/// Sum of the known fatality counts (NULL when none is known).
#[pg_extern(immutable, parallel_safe)]
fn fatalities(s: accident_stats) -> Option<i64> {
    s.0.fatalities.total()
}

#[pg_extern(immutable, parallel_safe)]
fn serious_injuries(s: accident_stats) -> Option<i64> {
    s.0.serious.total()
}

#[pg_extern(immutable, parallel_safe)]
fn minor_injuries(s: accident_stats) -> Option<i64> {
    s.0.minor.total()
}

#[pg_extern(immutable, parallel_safe)]
fn uninjured(s: accident_stats) -> Option<i64> {
    s.0.uninjured.total()
}

/// Fatal accidents / accidents.
#[pg_extern(immutable, parallel_safe)]
fn fatal_rate(s: accident_stats) -> Option<f64> {
    s.0.fatal_rate()
}

/// (serious + minor injuries) per accident whose injury counts are known.
#[pg_extern(immutable, parallel_safe)]
fn injuries_per_accident(s: accident_stats) -> Option<f64> {
    s.0.injuries_per_accident()
}

/// Mean fatalities per accident (over accidents whose count is known).
#[pg_extern(immutable, parallel_safe)]
fn fatalities_mean(s: accident_stats) -> Option<f64> {
    s.0.fatalities.mean()
}

/// Sample variance of fatalities per accident, exact-integer based.
#[pg_extern(immutable, parallel_safe)]
fn fatalities_variance(s: accident_stats) -> Option<f64> {
    s.0.fatalities.variance()
}

/// Accidents per normalised severity code, e.g. {"FATL": 12, "NONE": 80, ...}.
#[pg_extern(immutable, parallel_safe)]
fn severity_counts(s: accident_stats) -> JsonB {
    JsonB(s.0.severity_counts())
}

const SEED_COLUMNS: [&str; 6] = [
    "event_date",
    "aircraft_category",
    "injury_severity",
    "total_fatalities",
    "total_injuries",
    "total_uninjured",
];

/// Creates the seed's monthly materialized view over `source` (in the same schema): columns
/// `month` (date), `aircraft_category`, `stats` (an `accident_stats` state: roll it up to any
/// grain with `ntsb_perf.rollup`), and the unique index REFRESH ... CONCURRENTLY needs. The
/// seed's `total_injuries` column is counted as serious injuries (the seed has no minor ones).
/// Returns the new view's name.
///
/// <!-- doctest: data=csv -->
/// ```sql
/// ntsb=# SELECT ntsb_perf.create_accident_stats_view();
///  create_accident_stats_view
/// ----------------------------
///  accident_stats_by_month
/// (1 row)
///
/// ntsb=# SELECT extract(year FROM month) AS year,
///               round(ntsb_perf.fatal_rate(ntsb_perf.rollup(stats))::numeric, 3) AS fatal_rate
///        FROM accident_stats_by_month GROUP BY 1 ORDER BY 1 LIMIT 3;
///  year | fatal_rate
/// ------+------------
///  2000 |      0.176
///  2001 |      0.178
///  2002 |      0.185
/// (3 rows)
/// ```
#[pg_extern(volatile)]
fn create_accident_stats_view(
    // to_regclass, not 'events'::regclass: a literal would be looked up when the extension is
    // created, and fail where no events table exists yet.
    source: default!(Option<RegClass>, "to_regclass('events')"),
    view_name: default!(Option<String>, "'accident_stats_by_month'"),
) -> String {
    let Some(source) = source else {
        raise_error(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "source must not be NULL (without an argument: there is no table \"events\" on the search_path)",
            Some("Pass the accident table, e.g. ntsb_perf.create_accident_stats_view('public.events')."),
        )
    };
    let view_name = view_name.unwrap_or_else(|| "accident_stats_by_month".to_string());
    if view_name.is_empty() {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_NAME,
            "view_name must not be empty",
            None,
        );
    }
    // PostgreSQL would cut a longer name to 63 bytes (NAMEDATALEN - 1) and create another view
    // than the one asked for.
    if view_name.len() >= pg_sys::NAMEDATALEN as usize {
        raise_error(
            PgSqlErrorCode::ERRCODE_NAME_TOO_LONG,
            format!(
                "view_name is {} bytes long; names are at most {} bytes",
                view_name.len(),
                pg_sys::NAMEDATALEN - 1
            ),
            None,
        );
    }
    let missing: Vec<String> = query_rows(
        "SELECT c AS column_name FROM unnest($2::text[]) WITH ORDINALITY u(c, i)
         WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                           WHERE a.attrelid = $1 AND a.attname = c AND a.attnum > 0
                             AND NOT a.attisdropped)
         ORDER BY i",
        &[
            source.into(),
            SEED_COLUMNS
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .into(),
        ],
        |r| not_null_column(r, "column_name"),
    );
    if !missing.is_empty() {
        raise_error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!(
                "{} lacks the seed's column(s) {}",
                relation_name(source),
                missing.join(", ")
            ),
            Some("The view reads event_date, aircraft_category, injury_severity, total_fatalities, total_injuries and total_uninjured."),
        );
    }
    // Identifiers are quoted by format(%I); the source's regclass text is already quoted.
    let statements: Vec<String> = query_rows(
        "SELECT stmt FROM (
            SELECT 1 AS step, format($f$CREATE MATERIALIZED VIEW %1$I.%2$I AS
                SELECT pg_catalog.date_trunc('month', event_date::timestamp)::date AS month, aircraft_category,
                       ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries,
                                                NULL, total_uninjured) AS stats
                FROM %3$s GROUP BY 1, 2$f$, n.nspname, $2::text, $1::regclass) AS stmt
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1
            UNION ALL
            SELECT 2, format('CREATE UNIQUE INDEX %I ON %I.%I (month, aircraft_category)',
                             left($2::text, 50) || '_month_category', n.nspname, $2::text)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1
         ) s ORDER BY step",
        &[source.into(), view_name.clone().into()],
        |r| not_null_column(r, "stmt"),
    );
    Spi::connect_mut(|client| {
        for s in &statements {
            client.update(s.as_str(), None, &[])?;
        }
        Ok::<_, pgrx::spi::SpiError>(())
    })
    .unwrap_or_else(|e| {
        raise_error(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("creating the view failed: {e}"),
            None,
        )
    });
    Spi::get_one_with_args::<String>(
        "SELECT c.oid::regclass::text FROM pg_class c
         WHERE c.relname = $2 AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = $1)",
        &[source.into(), view_name.clone().into()],
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| {
        raise_error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("the view \"{view_name}\" was not found after it was created"),
            None,
        )
    })
}

fn relation_name(r: RegClass) -> String {
    Spi::get_one_with_args::<String>("SELECT $1::regclass::text", &[r.into()])
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("relation {}", r.0.to_u32()))
}
