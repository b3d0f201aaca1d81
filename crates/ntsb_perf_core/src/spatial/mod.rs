//! Spatial capability: accidents within a radius (`radius_search`: the index-friendly search
//! boxes) and accident hotspots on an equal-area grid (`hotspots`). What both read the same way
//! is here.

pub mod hotspots;
pub mod radius_search;

/// The SRIDs read as longitude/latitude in degrees: WGS 84, and 0 (unknown) as PostGIS's default.
pub fn is_lon_lat_srid(srid: i32) -> bool {
    srid == 4326 || srid == 0
}

/// Whether a lon/lat pair is a place on Earth (degrees).
pub fn is_valid_lon_lat(lon: f64, lat: f64) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}
