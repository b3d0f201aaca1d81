//! `hotspots_geojson`: an `accident_hotspots` result as an RFC 7946 FeatureCollection.
//!
//! A hotspot cell is a square of `cell_km` on the Lambert cylindrical equal-area grid of
//! [`crate::hotspots`]. That projection is cylindrical (x depends on longitude only, y on latitude
//! only), so a cell is exactly a longitude/latitude rectangle: its polygon has four corners, and
//! a point lies in it exactly when the aggregate counted it there (west and south edges
//! included, east and north excluded, as `floor` puts them). Edges beyond the antimeridian or a
//! pole are clamped to ±180° / ±90° (no point counted lies beyond them).

use serde_json::{json, Map, Value};

use crate::spatial::hotspots::{cell_of, EARTH_RADIUS_KM, MAX_CELL_KM, MIN_CELL_KM};

/// Most cells one FeatureCollection holds (about 300 bytes each: far below jsonb's 256 MB).
pub const MAX_FEATURES: usize = 100_000;

/// Why a jsonb value is not a hotspots result.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoJsonError {
    /// Not the shape `accident_hotspots` returns (SQLSTATE 22023).
    Shape(String),
    /// More cells than [`MAX_FEATURES`] (SQLSTATE 54000).
    TooMany(usize),
}

impl std::fmt::Display for GeoJsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GeoJsonError::Shape(s) => write!(f, "{s}"),
            GeoJsonError::TooMany(n) => write!(
                f,
                "hotspots has {n} cells; hotspots_geojson takes at most {MAX_FEATURES}"
            ),
        }
    }
}

/// Bounds `(west, south, east, north)` in degrees of the grid cell whose centre is at
/// `(lon, lat)` (a centre as `accident_hotspots` returns it, rounded to 1e-6°).
pub fn cell_bounds(lon: f64, lat: f64, cell_km: f64) -> (f64, f64, f64, f64) {
    let (i, j) = cell_of(lon, lat, cell_km);
    let lon_at = |x: f64| (x / EARTH_RADIUS_KM).to_degrees().clamp(-180.0, 180.0);
    let lat_at = |y: f64| {
        (y / EARTH_RADIUS_KM)
            .clamp(-1.0, 1.0)
            .asin()
            .to_degrees()
            .clamp(-90.0, 90.0)
    };
    (
        lon_at(i as f64 * cell_km),
        lat_at(j as f64 * cell_km),
        lon_at((i + 1) as f64 * cell_km),
        lat_at((j + 1) as f64 * cell_km),
    )
}

/// How far east or west of Greenwich a cell centre can lie: 180° plus half a cell (rounded up
/// to the 1e-6° of the aggregate's output).
pub fn max_centre_lon(cell_km: f64) -> f64 {
    let half = (cell_km / 2.0 / EARTH_RADIUS_KM).to_degrees();
    ((180.0 + half) * 1e6).ceil() / 1e6
}

/// A counter-clockwise, closed exterior ring (lon/lat order) of a rectangle.
pub fn ring(b: (f64, f64, f64, f64)) -> Vec<[f64; 2]> {
    let (w, s, e, n) = b;
    vec![[w, s], [e, s], [e, n], [w, n], [w, s]]
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One checked cell of a hotspots result.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub rank: usize,
    pub lon: f64,
    pub lat: f64,
    pub accidents: u64,
    pub fatal_accidents: u64,
    pub bounds: (f64, f64, f64, f64),
}

fn count(cell: &Map<String, Value>, i: usize, key: &str) -> Result<u64, GeoJsonError> {
    match cell.get(key) {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            GeoJsonError::Shape(format!(
                "cells[{i}].{key} must be a whole number of accidents (0 or more), not {n}"
            ))
        }),
        Some(v) => Err(GeoJsonError::Shape(format!(
            "cells[{i}].{key} must be a number, not {}",
            type_name(v)
        ))),
        None => Err(GeoJsonError::Shape(format!("cells[{i}] has no \"{key}\""))),
    }
}

fn degrees(cell: &Map<String, Value>, i: usize, key: &str, max: f64) -> Result<f64, GeoJsonError> {
    match cell.get(key) {
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite() && v.abs() <= max)
            .ok_or_else(|| {
                GeoJsonError::Shape(format!(
                    "cells[{i}].{key} must be between -{max} and {max} degrees, not {n}"
                ))
            }),
        Some(v) => Err(GeoJsonError::Shape(format!(
            "cells[{i}].{key} must be a number, not {}",
            type_name(v)
        ))),
        None => Err(GeoJsonError::Shape(format!("cells[{i}] has no \"{key}\""))),
    }
}

/// The cells of a hotspots result, checked: an object with `cell_km` (0.01 to 20000) and
/// `cells`, an array of at most [`MAX_FEATURES`] objects with `lon`, `lat` (degrees on Earth),
/// `accidents` and `fatal_accidents` (whole numbers, fatal ones not more than all).
pub fn read_cells(hotspots: &Value) -> Result<(f64, Vec<Cell>), GeoJsonError> {
    let shape = |s: String| GeoJsonError::Shape(s);
    let obj = hotspots.as_object().ok_or_else(|| {
        shape(format!(
            "hotspots must be a JSON object as accident_hotspots returns, not {}",
            type_name(hotspots)
        ))
    })?;
    let cell_km = match obj.get("cell_km") {
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite() && (MIN_CELL_KM..=MAX_CELL_KM).contains(v))
            .ok_or_else(|| {
                shape(format!(
                    "cell_km must be between {MIN_CELL_KM} and {MAX_CELL_KM} km, not {n}"
                ))
            })?,
        Some(v) => {
            return Err(shape(format!(
                "cell_km must be a number, not {}",
                type_name(v)
            )))
        }
        None => return Err(shape("hotspots has no \"cell_km\"".into())),
    };
    let cells = match obj.get("cells") {
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(shape(format!(
                "cells must be an array, not {}",
                type_name(v)
            )))
        }
        None => return Err(shape("hotspots has no \"cells\"".into())),
    };
    if cells.len() > MAX_FEATURES {
        return Err(GeoJsonError::TooMany(cells.len()));
    }
    let mut out = Vec::with_capacity(cells.len());
    for (i, c) in cells.iter().enumerate() {
        let c = c.as_object().ok_or_else(|| {
            shape(format!(
                "cells[{i}] must be an object, not {}",
                type_name(c)
            ))
        })?;
        // The centre of a cell on the antimeridian lies up to half a cell beyond ±180°.
        let lon = degrees(c, i, "lon", max_centre_lon(cell_km))?;
        let lat = degrees(c, i, "lat", 90.0)?;
        let accidents = count(c, i, "accidents")?;
        let fatal_accidents = count(c, i, "fatal_accidents")?;
        if fatal_accidents > accidents {
            return Err(shape(format!(
                "cells[{i}] has more fatal accidents ({fatal_accidents}) than accidents ({accidents})"
            )));
        }
        out.push(Cell {
            rank: i + 1,
            lon,
            lat,
            accidents,
            fatal_accidents,
            bounds: cell_bounds(lon, lat, cell_km),
        });
    }
    Ok((cell_km, out))
}

/// The FeatureCollection: one Polygon Feature per cell, in the result's order (its rank), with
/// properties `rank`, `accidents`, `fatal_accidents`.
pub fn hotspots_geojson(hotspots: &Value) -> Result<Value, GeoJsonError> {
    let (_, cells) = read_cells(hotspots)?;
    let features: Vec<Value> = cells
        .iter()
        .map(|c| {
            json!({
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring(c.bounds)]},
                "properties": {
                    "rank": c.rank,
                    "accidents": c.accidents,
                    "fatal_accidents": c.fatal_accidents,
                },
            })
        })
        .collect();
    Ok(json!({"type": "FeatureCollection", "features": features}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spatial::hotspots::{centre_of, HotspotState};

    fn ewkb(lon: f64, lat: f64) -> Vec<u8> {
        let mut b = vec![1u8];
        b.extend_from_slice(&(1u32 | 0x2000_0000).to_le_bytes());
        b.extend_from_slice(&4326u32.to_le_bytes());
        b.extend_from_slice(&lon.to_le_bytes());
        b.extend_from_slice(&lat.to_le_bytes());
        b
    }

    /// The JSON accident_hotspots_final writes (centres rounded to 1e-6°).
    fn result_of(s: &HotspotState) -> Value {
        let cells: Vec<Value> = s
            .top()
            .into_iter()
            .map(|t| {
                json!({"lon": (t.lon * 1e6).round() / 1e6, "lat": (t.lat * 1e6).round() / 1e6,
                       "accidents": t.accidents, "fatal_accidents": t.fatal_accidents})
            })
            .collect();
        json!({"cell_km": s.cell_km, "cells": cells, "skipped_null": 0})
    }

    fn signed_area(r: &[Value]) -> f64 {
        let p: Vec<(f64, f64)> = r
            .iter()
            .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
            .collect();
        p.windows(2)
            .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
            .sum::<f64>()
            / 2.0
    }

    #[test]
    fn cells_contain_the_points_they_count() {
        // A deterministic scatter over the US, Alaska, the antimeridian and near a pole.
        let mut pts = Vec::new();
        let mut x: u64 = 12345;
        for _ in 0..4_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = (x >> 11) as f64 / (1u64 << 53) as f64;
            pts.push(match pts.len() % 4 {
                0 => (-125.0 + 60.0 * u, 25.0 + 24.0 * v),
                1 => (-165.0 + 25.0 * u, 55.0 + 15.0 * v),
                2 => (179.0 + u, -10.0 + v),
                _ => (-180.0 + 360.0 * u, 89.0 + v),
            });
        }
        for cell_km in [0.5, 25.0, 50.0, 400.0, 20_000.0] {
            let mut s = HotspotState::new(cell_km, 100_000).unwrap();
            for (lon, lat) in &pts {
                s.add(Some(&ewkb(*lon, *lat)), Some(false)).unwrap();
            }
            let fc = hotspots_geojson(&result_of(&s)).unwrap();
            let feats = fc["features"].as_array().unwrap();
            assert_eq!(feats.len(), s.cells.len());
            let mut counted = vec![0u64; feats.len()];
            let rects: Vec<(f64, f64, f64, f64)> = feats
                .iter()
                .map(|f| {
                    let r = f["geometry"]["coordinates"][0].as_array().unwrap();
                    assert_eq!(r.len(), 5);
                    assert_eq!(r[0], r[4], "closed ring");
                    assert!(
                        signed_area(r) > 0.0,
                        "counter-clockwise ring, cell_km {cell_km}"
                    );
                    (
                        r[0][0].as_f64().unwrap(),
                        r[0][1].as_f64().unwrap(),
                        r[2][0].as_f64().unwrap(),
                        r[2][1].as_f64().unwrap(),
                    )
                })
                .collect();
            for (lon, lat) in &pts {
                // Half-open on the east and north edges, closed on the east/north edge of the
                // world (180°, 90°) where the cell is clamped.
                let inside: Vec<usize> = rects
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| {
                        *lon >= b.0
                            && (*lon < b.2 || b.2 == 180.0)
                            && *lat >= b.1
                            && (*lat < b.3 || b.3 == 90.0)
                    })
                    .map(|(i, _)| i)
                    .collect();
                assert_eq!(inside.len(), 1, "({lon}, {lat}) in exactly one cell");
                counted[inside[0]] += 1;
            }
            for (f, n) in feats.iter().zip(&counted) {
                assert_eq!(f["properties"]["accidents"].as_u64().unwrap(), *n);
            }
        }
    }

    #[test]
    fn properties_and_rank_follow_the_result() {
        let mut s = HotspotState::new(50.0, 3).unwrap();
        for (lon, lat, fatal, n) in [
            (-112.07, 33.45, true, 5),
            (-118.4, 33.94, false, 3),
            (-149.9, 61.2, true, 1),
        ] {
            for k in 0..n {
                s.add(Some(&ewkb(lon, lat)), Some(fatal && k == 0)).unwrap();
            }
        }
        let fc = hotspots_geojson(&result_of(&s)).unwrap();
        assert_eq!(fc["type"], "FeatureCollection");
        let f = &fc["features"];
        assert_eq!(f[0]["type"], "Feature");
        assert_eq!(f[0]["geometry"]["type"], "Polygon");
        assert_eq!(
            f[0]["properties"],
            json!({"rank": 1, "accidents": 5, "fatal_accidents": 1})
        );
        assert_eq!(
            f[1]["properties"],
            json!({"rank": 2, "accidents": 3, "fatal_accidents": 0})
        );
        assert_eq!(f[2]["properties"]["rank"], 3);
        // The centre lies inside its cell, and the cell is cell_km wide (within rounding).
        let (lon, lat) = centre_of(cell_of(-112.07, 33.45, 50.0), 50.0);
        let b = cell_bounds(lon, lat, 50.0);
        assert!(b.0 < -112.07 && -112.07 < b.2 && b.1 < 33.45 && 33.45 < b.3);
        let width_km = (b.2 - b.0).to_radians() * EARTH_RADIUS_KM;
        assert!((width_km - 50.0).abs() < 1e-9);
        // An empty result is an empty collection.
        let empty = hotspots_geojson(&json!({"cell_km": 25, "cells": []})).unwrap();
        assert_eq!(empty, json!({"type": "FeatureCollection", "features": []}));
    }

    #[test]
    fn garbage_is_refused_with_what_is_wrong() {
        let err = |v: Value| match hotspots_geojson(&v) {
            Err(GeoJsonError::Shape(s)) => s,
            other => panic!("{v} gave {other:?}"),
        };
        assert!(err(json!(null)).contains("not null"));
        assert!(err(json!([1, 2])).contains("not array"));
        assert!(err(json!({"cells": []})).contains("no \"cell_km\""));
        assert!(err(json!({"cell_km": 0, "cells": []})).contains("cell_km must be between"));
        assert!(err(json!({"cell_km": "25", "cells": []})).contains("not string"));
        assert!(err(json!({"cell_km": 25})).contains("no \"cells\""));
        assert!(err(json!({"cell_km": 25, "cells": {}})).contains("cells must be an array"));
        assert!(err(json!({"cell_km": 25, "cells": [null]})).contains("cells[0] must be an object"));
        let cell = |lon: Value, lat: Value, a: Value, f: Value| {
            json!({"cell_km": 25, "cells": [{"lon": -100, "lat": 40, "accidents": 1, "fatal_accidents": 0},
                                            {"lon": lon, "lat": lat, "accidents": a, "fatal_accidents": f}]})
        };
        assert!(err(cell(json!(181), json!(0), json!(1), json!(0))).contains("cells[1].lon"));
        assert!(err(cell(json!(-180.2), json!(0), json!(1), json!(0))).contains("cells[1].lon"));
        // Half a 25 km cell beyond the antimeridian is a centre the aggregate writes.
        assert!(hotspots_geojson(&cell(json!(180.1), json!(0), json!(1), json!(0))).is_ok());
        assert!(err(cell(json!(0), json!(-90.5), json!(1), json!(0))).contains("cells[1].lat"));
        assert!(err(cell(json!(0), json!(null), json!(1), json!(0))).contains("not null"));
        assert!(err(cell(json!(0), json!(0), json!(-1), json!(0))).contains("whole number"));
        assert!(err(cell(json!(0), json!(0), json!(1.5), json!(0))).contains("whole number"));
        assert!(err(cell(json!(0), json!(0), json!(1e300), json!(0))).contains("whole number"));
        assert!(err(cell(json!(0), json!(0), json!(1), json!(2))).contains("more fatal"));
        assert!(
            err(json!({"cell_km": 25, "cells": [{"lon": 0, "lat": 0, "accidents": 1}]}))
                .contains("no \"fatal_accidents\"")
        );
        let many: Vec<Value> = (0..=MAX_FEATURES)
            .map(|_| json!({"lon": 0, "lat": 0, "accidents": 1, "fatal_accidents": 0}))
            .collect();
        assert_eq!(
            hotspots_geojson(&json!({"cell_km": 25, "cells": many})),
            Err(GeoJsonError::TooMany(MAX_FEATURES + 1))
        );
    }
}
