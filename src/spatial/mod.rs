//! Spatial queries on PostGIS geometry: true-distance radius search that uses the GiST index.

use ntsb_perf_core::geo::search_boxes;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::bloat::RegClass;
use crate::spi_util::{fail, query_rows, req};

/// Errors with a clear message when PostGIS is not installed in this database.
pub fn require_postgis(function: &str) {
    let installed = Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')",
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    if !installed {
        fail(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!(
                "{function} needs the PostGIS extension, which is not installed in this database"
            ),
            Some("CREATE EXTENSION postgis;"),
        );
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
        fail(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "source, lon, lat and radius_km must not be NULL",
            None,
        )
    };
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        fail(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("({lon}, {lat}) is not a longitude/latitude in degrees"),
            Some("Longitude comes first, from -180 to 180; latitude from -90 to 90."),
        );
    }
    if !(radius_km > 0.0 && radius_km.is_finite()) {
        fail(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("radius_km must be a positive number of kilometres, not {radius_km}"),
            None,
        );
    }
    require_postgis("accidents_near");
    let geom_column = geom_column.unwrap_or_else(|| "geom".to_string());
    let meta = query_rows(
        "SELECT $1::regclass::text,
                format('%I', a.attname),
                t.typname::text,
                CASE WHEN t.typname = 'geometry' AND a.atttypmod >= 0
                     THEN postgis_typmod_srid(a.atttypmod) END,
                EXISTS (SELECT 1 FROM pg_attribute i WHERE i.attrelid = $1 AND i.attname = 'id'
                        AND i.attnum > 0 AND NOT i.attisdropped)
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = $1 AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
        &[source.into(), geom_column.clone().into()],
        |r| {
            Ok((
                req::<String>(r, 1)?,
                req::<String>(r, 2)?,
                req::<String>(r, 3)?,
                r.get::<i32>(4)?,
                req::<bool>(r, 5)?,
            ))
        },
    );
    let Some((rel, col, typ, srid, has_id)) = meta.into_iter().next() else {
        fail(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!("the source has no column \"{geom_column}\""),
            Some("Name the geometry column with geom_column => '...'."),
        )
    };
    if typ != "geometry" {
        fail(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("column \"{geom_column}\" of {rel} is of type {typ}, not geometry"),
            None,
        );
    }
    if let Some(srid) = srid.filter(|s| *s != 0 && *s != 4326) {
        fail(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("column \"{geom_column}\" of {rel} has SRID {srid}; accidents_near works on longitude/latitude (SRID 4326)"),
            Some("Store or index the points as geometry(Point, 4326), e.g. with ST_Transform(geom, 4326)."),
        );
    }
    if !has_id {
        fail(
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
            "{col} && ST_MakeEnvelope(${}, ${}, ${}, ${}, 4326)",
            n + 1,
            n + 2,
            n + 3,
            n + 4
        ));
        args.extend([xmin.into(), ymin.into(), xmax.into(), ymax.into()]);
    }
    // rel and col are quoted by PostgreSQL (regclass text, format('%I')); values are bound.
    let sql = format!(
        "SELECT s.id::bigint AS id, ST_Distance(s.{col}::geography, p.pt) AS distance_m
         FROM {rel} s,
              (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography AS pt) p
         WHERE ({}) AND ST_DWithin(s.{col}::geography, p.pt, $3)
         ORDER BY distance_m, id",
        boxes.join(" OR ")
    );
    NearQuery { sql, args }
}

/// Accidents within `radius_km` of (lon, lat), true distance on the WGS84 spheroid (metres, not
/// degrees: half a degree is 55 km north-south but 24 km east-west in Anchorage), nearest first.
/// Uses the GiST index on the geometry column for a bounding box, then the exact distance.
///
/// ```sql
/// SELECT * FROM ntsb_perf.accidents_near('events', -112.07, 33.45, 50) LIMIT 5;
/// ```
#[pg_extern(stable, parallel_safe, name = "accidents_near")]
fn accidents_near(
    source: Option<RegClass>,
    lon: Option<f64>,
    lat: Option<f64>,
    radius_km: Option<f64>,
    geom_column: default!(Option<String>, "'geom'"),
) -> TableIterator<'static, (name!(id, i64), name!(distance_m, f64))> {
    let q = near_query(source, lon, lat, radius_km, geom_column);
    let rows = query_rows(&q.sql, &q.args, |r| Ok((req(r, 1)?, req(r, 2)?)));
    TableIterator::new(rows)
}

/// The plan of the query `accidents_near` runs for these arguments (EXPLAIN, FORMAT JSON), to
/// check that it uses the GiST index.
#[pg_extern(stable, name = "accidents_near_plan")]
fn accidents_near_plan(
    source: Option<RegClass>,
    lon: Option<f64>,
    lat: Option<f64>,
    radius_km: Option<f64>,
    geom_column: default!(Option<String>, "'geom'"),
) -> JsonB {
    let q = near_query(source, lon, lat, radius_km, geom_column);
    let plan = query_rows(&format!("EXPLAIN (FORMAT JSON) {}", q.sql), &q.args, |r| {
        r.get::<pgrx::Json>(1)
    });
    JsonB(
        plan.into_iter()
            .flatten()
            .next()
            .map(|j| j.0)
            .unwrap_or(serde_json::Value::Null),
    )
}
