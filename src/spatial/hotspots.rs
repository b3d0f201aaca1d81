//! `accident_hotspots`: an aggregate over geometry (taken as anyelement so that the extension
//! installs without PostGIS; the type is checked at run time) that counts accidents per grid
//! cell and keeps the busiest cells, and `hotspot_cells`, its result as rows.

use ntsb_perf_core::spatial::hotspots::{cell_rows, HotspotError, HotspotState};
use pgrx::prelude::*;
use pgrx::{AnyElement, Internal, JsonB};

use super::require_postgis;
use crate::aggregate_state::new_state;
use crate::error::raise_error;

struct HotState {
    core: HotspotState,
    /// OID of PostGIS's st_asewkb(geometry), looked up once per aggregate.
    asewkb: pg_sys::Oid,
}

fn qualified_type_name(type_oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be_qualified returns a palloc'd NUL-terminated string for any OID
    // (it raises an ERROR, through pgrx's guard, for one that is no type).
    unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be_qualified(type_oid)) }
        .to_string_lossy()
        .into_owned()
}

/// The extension an object belongs to (InvalidOid if none).
fn extension_of(class: pg_sys::Oid, object: pg_sys::Oid) -> pg_sys::Oid {
    // SAFETY: a catalog scan of pg_depend by (classid, objid); no pointer is passed.
    unsafe { pg_sys::getExtensionOfObject(class, object) }
}

/// OID of PostGIS's own `ST_AsEWKB(geometry)` for the aggregate's argument type, checked to be
/// the postgis extension's geometry type and function (by their pg_depend membership and
/// return type, not their names), found without SPI (parallel workers run this too).
fn asewkb_oid(type_oid: pg_sys::Oid) -> pg_sys::Oid {
    // SAFETY: looks pg_extension up by a NUL-terminated literal name; missing_ok.
    let postgis = unsafe { pg_sys::get_extension_oid(c"postgis".as_ptr(), true) };
    if postgis == pg_sys::InvalidOid {
        require_postgis("accident_hotspots");
    }
    let qualified = qualified_type_name(type_oid);
    let schema = qualified.strip_suffix(".geometry");
    if schema.is_none() || extension_of(pg_sys::TypeRelationId, type_oid) != postgis {
        raise_error(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("accident_hotspots takes PostGIS's geometry, not {qualified}"),
            Some("Pass a column of the postgis extension's geometry type."),
        );
    }
    // Both names come from the catalog, quoted as identifiers by format_type_be_qualified.
    let signature = format!("{}.st_asewkb({qualified})", schema.unwrap_or_default());
    // SAFETY: to_regprocedure takes a text datum and returns NULL (None) for no such function.
    let f = unsafe {
        pgrx::direct_function_call::<pg_sys::Oid>(
            pg_sys::to_regprocedure,
            &[signature.as_str().into_datum()],
        )
    }
    .unwrap_or(pg_sys::InvalidOid);
    let returns = if f == pg_sys::InvalidOid {
        pg_sys::InvalidOid
    } else {
        // SAFETY: get_func_rettype reads pg_proc by the OID to_regprocedure just found.
        unsafe { pg_sys::get_func_rettype(f) }
    };
    if f == pg_sys::InvalidOid
        || extension_of(pg_sys::ProcedureRelationId, f) != postgis
        || returns != pg_sys::BYTEAOID
    {
        raise_error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
            format!(
                "PostGIS function {signature} returning bytea not found in the postgis extension"
            ),
            Some("ALTER EXTENSION postgis UPDATE; or reinstall PostGIS."),
        );
    }
    f
}

fn hot_state_mut(
    state: &mut Internal,
    fcinfo: pg_sys::FunctionCallInfo,
    geom_type: Option<pg_sys::Oid>,
    cell_km: f64,
    top_n: i32,
) -> &mut HotState {
    if !state.initialized() {
        let core = HotspotState::new(cell_km, top_n).unwrap_or_else(|e| {
            raise_error(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, e, None)
        });
        let asewkb = geom_type.map(asewkb_oid).unwrap_or(pg_sys::InvalidOid);
        *state = new_state(fcinfo, HotState { core, asewkb });
    }
    // SAFETY: this aggregate's internal states are always HotState values.
    let s = unsafe { state.get_mut::<HotState>() }.expect("initialized above");
    if s.asewkb == pg_sys::InvalidOid {
        if let Some(t) = geom_type {
            s.asewkb = asewkb_oid(t);
        }
    }
    s
}

fn hotspots_add(
    state: Option<Internal>,
    geom: Option<AnyElement>,
    fatal: Option<bool>,
    cell_km: Option<f64>,
    top_n: Option<i32>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    let mut state = state.unwrap_or_default();
    let s = hot_state_mut(
        &mut state,
        fcinfo,
        geom.as_ref().map(|g| g.oid()),
        cell_km.unwrap_or(25.0),
        top_n.unwrap_or(20),
    );
    // SAFETY: s.asewkb is PostGIS's ST_AsEWKB(geometry) returning bytea (checked by
    // asewkb_oid for this argument type), called on a non-NULL geometry datum; its result is a
    // bytea varlena, read by Vec<u8>'s FromDatum.
    let ewkb: Option<Vec<u8>> = geom.map(|g| unsafe {
        let d = pg_sys::OidFunctionCall1Coll(s.asewkb, pg_sys::InvalidOid, g.datum());
        Vec::<u8>::from_datum(d, false).unwrap_or_default()
    });
    s.core
        .add(ewkb.as_deref(), fatal)
        .unwrap_or_else(|e| match e {
            HotspotError::Srid(_) => raise_error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                e.to_string(),
                Some("Pass ST_Transform(geom, 4326): cells are laid out on longitude/latitude."),
            ),
            HotspotError::Malformed(_) => raise_error(
                PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION,
                e.to_string(),
                None,
            ),
        });
    state
}

#[pg_extern(immutable, parallel_safe)]
fn accident_hotspots_trans2(
    state: Option<Internal>,
    geom: Option<AnyElement>,
    fatal: Option<bool>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    hotspots_add(state, geom, fatal, None, None, fcinfo)
}

#[pg_extern(immutable, parallel_safe)]
fn accident_hotspots_trans3(
    state: Option<Internal>,
    geom: Option<AnyElement>,
    fatal: Option<bool>,
    cell_km: Option<f64>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    hotspots_add(state, geom, fatal, cell_km, None, fcinfo)
}

#[pg_extern(immutable, parallel_safe)]
fn accident_hotspots_trans4(
    state: Option<Internal>,
    geom: Option<AnyElement>,
    fatal: Option<bool>,
    cell_km: Option<f64>,
    top_n: Option<i32>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    hotspots_add(state, geom, fatal, cell_km, top_n, fcinfo)
}

#[pg_extern(immutable, parallel_safe)]
fn accident_hotspots_combine(
    a: Option<Internal>,
    b: Option<Internal>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Option<Internal> {
    let b_core = b
        .as_ref()
        // SAFETY: this aggregate's internal states are always HotState values.
        .and_then(|b| unsafe { b.get::<HotState>() })
        .map(|h| h.core.clone());
    match (a, b_core) {
        (None, None) => None,
        (a, b_core) => {
            let mut a = a.unwrap_or_default();
            if !a.initialized() {
                a = new_state(
                    fcinfo,
                    HotState {
                        core: HotspotState::default(),
                        asewkb: pg_sys::InvalidOid,
                    },
                );
            }
            // SAFETY: this aggregate's internal states are always HotState values.
            let s = unsafe { a.get_mut::<HotState>() }.expect("initialized");
            if let Some(b_core) = b_core {
                s.core.merge(&b_core);
            }
            Some(a)
        }
    }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn accident_hotspots_serialize(state: Internal) -> Vec<u8> {
    // SAFETY: this aggregate's internal states are always HotState values.
    unsafe { state.get::<HotState>() }
        .map(|h| h.core.to_bytes())
        .unwrap_or_else(|| HotspotState::default().to_bytes())
}

#[pg_extern(immutable, parallel_safe, strict)]
fn accident_hotspots_deserialize(
    bytes: Vec<u8>,
    _unused: Internal,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    let core = HotspotState::from_bytes(&bytes).unwrap_or_else(|e| {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION,
            e,
            None,
        )
    });
    new_state(
        fcinfo,
        HotState {
            core,
            asewkb: pg_sys::InvalidOid,
        },
    )
}

#[pg_extern(immutable, parallel_safe)]
fn accident_hotspots_final(state: Option<Internal>) -> Option<JsonB> {
    let h = state
        .as_ref()
        // SAFETY: this aggregate's internal states are always HotState values.
        .and_then(|s| unsafe { s.get::<HotState>() })?;
    Some(JsonB(h.core.to_json()))
}

/// The cells of an `accident_hotspots` result as rows.
///
/// <!-- doctest: data=csv -->
/// ```sql
/// ntsb=# SELECT * FROM ntsb_perf.hotspot_cells(
///            (SELECT ntsb_perf.accident_hotspots(geom, injury_severity LIKE 'FATAL%', 50, 3) FROM events));
///  rank |     lon     |    lat    | accidents | fatal_accidents
/// ------+-------------+-----------+-----------+-----------------
///     1 | -117.586167 |  34.13438 |       170 |              38
///     2 | -112.190244 | 33.592857 |       170 |              15
///     3 | -117.136507 | 33.054714 |       165 |              28
/// (3 rows)
/// ```
#[pg_extern(immutable, parallel_safe)]
fn hotspot_cells(
    hotspots: Option<JsonB>,
) -> TableIterator<
    'static,
    (
        name!(rank, i32),
        name!(lon, f64),
        name!(lat, f64),
        name!(accidents, i64),
        name!(fatal_accidents, i64),
    ),
> {
    let rows = hotspots.map(|j| cell_rows(&j.0)).unwrap_or_default();
    TableIterator::new(rows)
}

extension_sql!(
    r#"
CREATE AGGREGATE ntsb_perf.accident_hotspots(geom anyelement, fatal boolean) (
    SFUNC = ntsb_perf.accident_hotspots_trans2, STYPE = internal,
    COMBINEFUNC = ntsb_perf.accident_hotspots_combine,
    SERIALFUNC = ntsb_perf.accident_hotspots_serialize,
    DESERIALFUNC = ntsb_perf.accident_hotspots_deserialize,
    FINALFUNC = ntsb_perf.accident_hotspots_final, PARALLEL = SAFE);
CREATE AGGREGATE ntsb_perf.accident_hotspots(geom anyelement, fatal boolean, cell_km float8) (
    SFUNC = ntsb_perf.accident_hotspots_trans3, STYPE = internal,
    COMBINEFUNC = ntsb_perf.accident_hotspots_combine,
    SERIALFUNC = ntsb_perf.accident_hotspots_serialize,
    DESERIALFUNC = ntsb_perf.accident_hotspots_deserialize,
    FINALFUNC = ntsb_perf.accident_hotspots_final, PARALLEL = SAFE);
CREATE AGGREGATE ntsb_perf.accident_hotspots(geom anyelement, fatal boolean, cell_km float8, top_n integer) (
    SFUNC = ntsb_perf.accident_hotspots_trans4, STYPE = internal,
    COMBINEFUNC = ntsb_perf.accident_hotspots_combine,
    SERIALFUNC = ntsb_perf.accident_hotspots_serialize,
    DESERIALFUNC = ntsb_perf.accident_hotspots_deserialize,
    FINALFUNC = ntsb_perf.accident_hotspots_final, PARALLEL = SAFE);
"#,
    name = "accident_hotspots_aggregates",
    requires = [
        accident_hotspots_trans2,
        accident_hotspots_trans3,
        accident_hotspots_trans4,
        accident_hotspots_combine,
        accident_hotspots_serialize,
        accident_hotspots_deserialize,
        accident_hotspots_final
    ]
);
