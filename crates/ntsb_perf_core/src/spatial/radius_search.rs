//! Radius search without PostGIS: bounding boxes (in degrees) that surely contain every
//! point within a radius in metres, so that a GiST index on lon/lat geometry can be used before
//! the exact (spheroidal) distance test.

/// Fewest metres per degree of latitude on the WGS84 ellipsoid (at the equator).
const M_PER_DEG_LAT_MIN: f64 = 110_574.0;
/// Metres per degree of longitude at the equator (WGS84).
const M_PER_DEG_LON_EQ: f64 = 111_320.0;

/// One or two boxes `(xmin, ymin, xmax, ymax)` covering the circle; two when it crosses the
/// antimeridian, the whole longitude range near a pole.
pub fn search_boxes(lon: f64, lat: f64, radius_m: f64) -> Vec<(f64, f64, f64, f64)> {
    let margin = 1.01;
    let dlat = radius_m / M_PER_DEG_LAT_MIN * margin;
    let ymin = (lat - dlat).max(-90.0);
    let ymax = (lat + dlat).min(90.0);
    let worst_lat = ymin.abs().max(ymax.abs());
    if worst_lat >= 89.0 {
        return vec![(-180.0, ymin, 180.0, ymax)];
    }
    let dlon = radius_m / (M_PER_DEG_LON_EQ * worst_lat.to_radians().cos()) * margin;
    if dlon >= 180.0 {
        return vec![(-180.0, ymin, 180.0, ymax)];
    }
    let (xmin, xmax) = (lon - dlon, lon + dlon);
    if xmin < -180.0 {
        vec![
            (xmin + 360.0, ymin, 180.0, ymax),
            (-180.0, ymin, xmax, ymax),
        ]
    } else if xmax > 180.0 {
        vec![
            (xmin, ymin, 180.0, ymax),
            (-180.0, ymin, xmax - 360.0, ymax),
        ]
    } else {
        vec![(xmin, ymin, xmax, ymax)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_is_wider_at_higher_latitude() {
        let eq = search_boxes(0.0, 0.0, 50_000.0);
        let north = search_boxes(-149.9, 61.2, 50_000.0); // Anchorage
        assert_eq!(eq.len(), 1);
        let w = |b: &(f64, f64, f64, f64)| b.2 - b.0;
        assert!(w(&north[0]) > 1.9 * w(&eq[0]));
        // 50 km is ~0.45 degrees of latitude, not more than half a degree
        assert!(eq[0].3 - 0.0 > 0.45 && eq[0].3 < 0.5);
    }

    #[test]
    fn antimeridian_and_pole() {
        let b = search_boxes(179.9, 52.0, 30_000.0);
        assert_eq!(b.len(), 2);
        assert!(b[0].2 == 180.0 && b[1].0 == -180.0);
        let p = search_boxes(0.0, 89.8, 30_000.0);
        assert_eq!(p, vec![(-180.0, p[0].1, 180.0, 90.0)]);
    }
}
