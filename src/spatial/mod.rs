//! Spatial queries on PostGIS geometry: true-distance radius search that uses the GiST index
//! ([`radius_search`]) and the accident-hotspot aggregate over a grid of cells ([`hotspots`]).

use pgrx::prelude::*;

use crate::error::raise_error;

mod hotspots;
mod radius_search;

/// Errors with a clear message when PostGIS is not installed in this database.
fn require_postgis(function: &str) {
    let installed = Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')",
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    if !installed {
        raise_error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!(
                "{function} needs the PostGIS extension, which is not installed in this database"
            ),
            Some("CREATE EXTENSION postgis;"),
        );
    }
}
