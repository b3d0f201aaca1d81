//! `accidents_near`: accidents within a radius of a point, true distance on the WGS84
//! spheroid, found through the GiST index on the geometry column (and `accidents_near_plan`,
//! the plan of that query).

use ntsb_perf_core::spatial::is_lon_lat_srid;
use ntsb_perf_core::spatial::radius_search::search_boxes;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;

use super::require_postgis;
use crate::error::raise_error;
use crate::regclass::RegClass;
use crate::spi_query::{not_null_column, query_rows};

/// PostGIS as installed in this database: its schema (quoted) and its own geometry type, found
/// through the extension's members, not by a name on the search_path.
struct Postgis {
    schema: String,
    geometry: pg_sys::Oid,
}

fn postgis(function: &str) -> Postgis {
    let found = query_rows(
        "SELECT quote_ident(n.nspname) AS schema, t.oid AS geometry
         FROM pg_extension e
         JOIN pg_namespace n ON n.oid = e.extnamespace
         JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
                         AND d.deptype = 'e' AND d.classid = 'pg_type'::regclass
         JOIN pg_type t ON t.oid = d.objid AND t.typname = 'geometry'
                       AND t.typnamespace = e.extnamespace
         WHERE e.extname = 'postgis'",
        &[],
        |r| {
            Ok((
                not_null_column::<String>(r, "schema")?,
                not_null_column::<pg_sys::Oid>(r, "geometry")?,
            ))
        },
    );
    match found.into_iter().next() {
        Some((schema, geometry)) => Postgis { schema, geometry },
        None => {
            require_postgis(function);
            raise_error(
                PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                "the postgis extension has no geometry type",
                None,
            )
        }
    }
}

struct NearQuery {
    sql: String,
    args: Vec<DatumWithOid<'static>>,
}

/// Validates the arguments and builds the radius query: a bounding-box test the GiST index can
/// answer (`&&`), then the exact spheroidal distance (`ST_DWithin` on geography, metres).
fn near_query(
    source: Option<RegClass>,
    lon: Option<f64>,
    lat: Option<f64>,
    radius_km: Option<f64>,
    geom_column: Option<String>,
) -> NearQuery {
    let (Some(source), Some(lon), Some(lat), Some(radius_km)) = (source, lon, lat, radius_km)
    else {
        raise_error(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "source, lon, lat and radius_km must not be NULL",
            None,
        )
    };
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("({lon}, {lat}) is not a longitude/latitude in degrees"),
            Some("Longitude comes first, from -180 to 180; latitude from -90 to 90."),
        );
    }
    if !(radius_km > 0.0 && radius_km.is_finite()) {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("radius_km must be a positive number of kilometres, not {radius_km}"),
            None,
        );
    }
    let pg = postgis("accidents_near");
    let p = &pg.schema;
    let geom_column = geom_column.unwrap_or_else(|| "geom".to_string());
    let meta = query_rows(
        &format!(
            "SELECT $1::regclass::text AS rel,
                    format('%I', a.attname) AS col,
                    CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace
                         THEN format_type(a.atttypid, a.atttypmod)
                         ELSE format('%I.%I', tn.nspname, t.typname) END AS typ,
                    a.atttypid = $3 AS is_geometry,
                    CASE WHEN a.atttypid = $3 AND a.atttypmod >= 0
                         THEN {p}.postgis_typmod_srid(a.atttypmod) END AS srid,
                    EXISTS (SELECT 1 FROM pg_attribute i WHERE i.attrelid = $1 AND i.attname = 'id'
                            AND i.attnum > 0 AND NOT i.attisdropped) AS has_id
             FROM pg_attribute a
             JOIN pg_type t ON t.oid = a.atttypid
             JOIN pg_namespace tn ON tn.oid = t.typnamespace
             WHERE a.attrelid = $1 AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        &[
            source.into(),
            geom_column.clone().into(),
            pg.geometry.into(),
        ],
        |r| {
            Ok((
                not_null_column::<String>(r, "rel")?,
                not_null_column::<String>(r, "col")?,
                not_null_column::<String>(r, "typ")?,
                not_null_column::<bool>(r, "is_geometry")?,
                r.get_by_name::<i32, _>("srid")?,
                not_null_column::<bool>(r, "has_id")?,
            ))
        },
    );
    let Some((rel, col, typ, is_geometry, srid, has_id)) = meta.into_iter().next() else {
        raise_error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!("the source has no column \"{geom_column}\""),
            Some("Name the geometry column with geom_column => '...'."),
        )
    };
    if !is_geometry {
        raise_error(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!(
                "column \"{geom_column}\" of {rel} is of type {typ}, not PostGIS's geometry ({p}.geometry)"
            ),
            None,
        );
    }
    if let Some(srid) = srid.filter(|s| !is_lon_lat_srid(*s)) {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("column \"{geom_column}\" of {rel} has SRID {srid}; accidents_near works on longitude/latitude (SRID 4326)"),
            Some("Store or index the points as geometry(Point, 4326), e.g. with ST_Transform(geom, 4326)."),
        );
    }
    if !has_id {
        raise_error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!("{rel} has no column \"id\" to return"),
            None,
        );
    }
    let radius_m = radius_km * 1000.0;
    let mut args: Vec<DatumWithOid<'static>> = vec![lon.into(), lat.into(), radius_m.into()];
    let mut boxes = Vec::new();
    for (xmin, ymin, xmax, ymax) in search_boxes(lon, lat, radius_m) {
        let n = args.len();
        boxes.push(format!(
            "s.{col} OPERATOR({p}.&&) {p}.ST_MakeEnvelope(${}, ${}, ${}, ${}, 4326)",
            n + 1,
            n + 2,
            n + 3,
            n + 4
        ));
        args.extend([xmin.into(), ymin.into(), xmax.into(), ymax.into()]);
    }
    // rel, col and PostGIS's schema are quoted by PostgreSQL (regclass text, format('%I'),
    // quote_ident); every PostGIS object is schema-qualified, so nothing on the search_path can
    // stand in for it; values are bound.
    let sql = format!(
        "SELECT s.id::bigint AS id, {p}.ST_Distance(s.{col}::{p}.geography, q.pt) AS distance_m
         FROM {rel} s,
              (SELECT {p}.ST_SetSRID({p}.ST_MakePoint($1, $2), 4326)::{p}.geography AS pt) q
         WHERE ({}) AND {p}.ST_DWithin(s.{col}::{p}.geography, q.pt, $3)
         ORDER BY distance_m, id",
        boxes.join(" OR ")
    );
    NearQuery { sql, args }
}

/// Accidents within `radius_km` of (lon, lat), true distance on the WGS84 spheroid (metres, not
/// degrees: half a degree is 55 km north-south but 24 km east-west in Anchorage), nearest first.
/// Uses the GiST index on the geometry column for a bounding box, then the exact distance.
///
/// <!-- doctest: data=csv -->
/// ```sql
/// ntsb=# SELECT * FROM ntsb_perf.accidents_near('events', -112.07, 33.45, 50) LIMIT 5;
///   id   |  distance_m
/// -------+---------------
///  14560 | 4565.65644033
///  14561 | 4565.65644033
///   2377 | 5215.84272652
///  15336 | 5428.02405207
///   7786 | 5534.89952015
/// (5 rows)
/// ```
#[pg_extern(stable, parallel_safe)]
fn accidents_near(
    source: Option<RegClass>,
    lon: Option<f64>,
    lat: Option<f64>,
    radius_km: Option<f64>,
    geom_column: default!(Option<String>, "'geom'"),
) -> TableIterator<'static, (name!(id, i64), name!(distance_m, f64))> {
    let q = near_query(source, lon, lat, radius_km, geom_column);
    let rows = query_rows(&q.sql, &q.args, |r| {
        Ok((not_null_column(r, "id")?, not_null_column(r, "distance_m")?))
    });
    TableIterator::new(rows)
}

/// The plan of the query `accidents_near` runs for these arguments (EXPLAIN, FORMAT JSON), to
/// check that it uses the GiST index.
#[pg_extern(stable)]
fn accidents_near_plan(
    source: Option<RegClass>,
    lon: Option<f64>,
    lat: Option<f64>,
    radius_km: Option<f64>,
    geom_column: default!(Option<String>, "'geom'"),
) -> JsonB {
    let q = near_query(source, lon, lat, radius_km, geom_column);
    // EXPLAIN is a utility statement: SPI refuses it in read-only mode, which pgrx uses for a
    // select until the transaction has written something; so it goes through a mutable client.
    let plan: Result<Option<pgrx::Json>, pgrx::spi::SpiError> = Spi::connect_mut(|client| {
        client
            .update(&format!("EXPLAIN (FORMAT JSON) {}", q.sql), None, &q.args)?
            .first()
            .get_one()
    });
    JsonB(
        plan.ok()
            .flatten()
            .map(|j| j.0)
            .unwrap_or(serde_json::Value::Null),
    )
}
