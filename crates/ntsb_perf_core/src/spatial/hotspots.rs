//! Spatial hotspots: accidents counted on an equal-area grid.
//!
//! The grid lives on the Lambert cylindrical equal-area projection (x = R·λ, y = R·sin φ, R the
//! authalic Earth radius), so every cell of `cell_km` × `cell_km` covers the same ground area,
//! at any latitude: a hotspot in Alaska is not inflated against one in Florida. Points arrive
//! as EWKB (PostGIS `ST_AsEWKB`), read with the postgis crate.

use std::collections::HashMap;
use std::io::Cursor;

use postgis::ewkb::{EwkbRead, Point};
use serde_json::{json, Value};

use super::{is_lon_lat_srid, is_valid_lon_lat};

/// Authalic radius of the WGS84 ellipsoid, km.
pub const EARTH_RADIUS_KM: f64 = 6371.0072;

/// Grid cell of a lon/lat point.
pub fn cell_of(lon: f64, lat: f64, cell_km: f64) -> (i64, i64) {
    let x = EARTH_RADIUS_KM * lon.to_radians();
    let y = EARTH_RADIUS_KM * lat.to_radians().sin();
    ((x / cell_km).floor() as i64, (y / cell_km).floor() as i64)
}

/// Lon/lat of a cell's centre.
pub fn centre_of(cell: (i64, i64), cell_km: f64) -> (f64, f64) {
    let x = (cell.0 as f64 + 0.5) * cell_km;
    let y = (cell.1 as f64 + 0.5) * cell_km;
    let lon = (x / EARTH_RADIUS_KM).to_degrees();
    let lat = (y / EARTH_RADIUS_KM).clamp(-1.0, 1.0).asin().to_degrees();
    (lon, lat)
}

/// What one EWKB value holds, for the aggregate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointRead {
    Point {
        lon: f64,
        lat: f64,
        srid: Option<i32>,
    },
    Empty,
    NotAPoint,
}

/// Why one value stops the aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum HotspotError {
    /// A point in a coordinate system that is not longitude/latitude.
    Srid(i32),
    /// Bytes that are not EWKB.
    Malformed(String),
}

impl std::fmt::Display for HotspotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HotspotError::Srid(s) => write!(
                f,
                "geometry has SRID {s}; accident_hotspots needs longitude/latitude (SRID 4326)"
            ),
            HotspotError::Malformed(e) => write!(f, "not a valid EWKB geometry: {e}"),
        }
    }
}

/// The EWKB header: base geometry type (1 point, 2 line, 3 polygon, 4-7 multi/collection,
/// 8-17 curves, surfaces, TIN, triangle), and where the body starts. Only the header is trusted
/// to be readable: every other type is classified by its header and first count, never parsed,
/// so no geometry type the reader does not know can stop the aggregate.
fn header(ewkb: &[u8]) -> Result<(u32, usize, bool), HotspotError> {
    let bad = |what: &str| HotspotError::Malformed(what.to_string());
    let little = match ewkb.first() {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(bad("no byte-order mark")),
    };
    let u32_at = |at: usize| -> Result<u32, HotspotError> {
        let b: [u8; 4] = ewkb
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("truncated"))?;
        Ok(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let ty = u32_at(1)?;
    let has_srid = ty & 0x2000_0000 != 0;
    // EWKB flags in the high bits; ISO WKB adds 1000/2000/3000 for Z/M/ZM.
    let base = (ty & 0x0FFF_FFFF) % 1000;
    Ok((base, if has_srid { 9 } else { 5 }, little))
}

pub fn read_point(ewkb: &[u8]) -> Result<PointRead, HotspotError> {
    let (base, body, little) = header(ewkb)?;
    if base != 1 {
        // Every other type starts its body with a count (points, rings, parts): 0 is EMPTY.
        let count = ewkb
            .get(body..body + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(|b| {
                if little {
                    u32::from_le_bytes(b)
                } else {
                    u32::from_be_bytes(b)
                }
            })
            .ok_or_else(|| HotspotError::Malformed("truncated".into()))?;
        return Ok(if count == 0 && matches!(base, 4 | 7) {
            PointRead::Empty
        } else {
            PointRead::NotAPoint
        });
    }
    let p = Point::read_ewkb(&mut Cursor::new(ewkb))
        .map_err(|e| HotspotError::Malformed(format!("{e:?}")))?;
    Ok(if p.x.is_nan() || p.y.is_nan() {
        PointRead::Empty
    } else {
        PointRead::Point {
            lon: p.x,
            lat: p.y,
            srid: p.srid,
        }
    })
}

/// Smallest cell: 10 m (finer than the coordinates of the NTSB data, and far above the point
/// where cell numbers would stop being exact).
pub const MIN_CELL_KM: f64 = 0.01;
/// Largest cell: half the Earth's circumference.
pub const MAX_CELL_KM: f64 = 20_000.0;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HotspotState {
    pub cell_km: f64,
    pub top_n: i32,
    /// cell → (accidents, fatal accidents)
    pub cells: HashMap<(i64, i64), (u64, u64)>,
    pub skipped_null: u64,
    pub skipped_empty: u64,
    pub skipped_not_point: u64,
    /// Points outside longitude -180..180 / latitude -90..90 (or not finite).
    pub skipped_invalid: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    pub lon: f64,
    pub lat: f64,
    pub accidents: u64,
    pub fatal_accidents: u64,
}

impl HotspotState {
    pub fn new(cell_km: f64, top_n: i32) -> Result<HotspotState, String> {
        if !(cell_km.is_finite() && (MIN_CELL_KM..=MAX_CELL_KM).contains(&cell_km)) {
            return Err(format!(
                "cell_km must be between {MIN_CELL_KM} and {MAX_CELL_KM} km, not {}",
                if cell_km != 0.0 && cell_km.abs() < 1e-4 || cell_km.abs() > 1e15 {
                    format!("{cell_km:e}")
                } else {
                    cell_km.to_string()
                }
            ));
        }
        if top_n < 1 {
            return Err(format!("top_n must be at least 1, not {top_n}"));
        }
        Ok(HotspotState {
            cell_km,
            top_n,
            ..Default::default()
        })
    }

    /// Adds one accident; `ewkb` None is a NULL geometry.
    pub fn add(&mut self, ewkb: Option<&[u8]>, fatal: Option<bool>) -> Result<(), HotspotError> {
        let Some(ewkb) = ewkb else {
            self.skipped_null += 1;
            return Ok(());
        };
        match read_point(ewkb)? {
            PointRead::Empty => self.skipped_empty += 1,
            PointRead::NotAPoint => self.skipped_not_point += 1,
            PointRead::Point { srid: Some(s), .. } if !is_lon_lat_srid(s) => {
                return Err(HotspotError::Srid(s));
            }
            PointRead::Point { lon, lat, .. } if !is_valid_lon_lat(lon, lat) => {
                self.skipped_invalid += 1;
            }
            PointRead::Point { lon, lat, .. } => {
                let e = self
                    .cells
                    .entry(cell_of(lon, lat, self.cell_km))
                    .or_default();
                e.0 += 1;
                e.1 += u64::from(fatal == Some(true));
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, o: &HotspotState) {
        if self.cell_km == 0.0 {
            self.cell_km = o.cell_km;
            self.top_n = o.top_n;
        }
        for (k, v) in &o.cells {
            let e = self.cells.entry(*k).or_default();
            e.0 += v.0;
            e.1 += v.1;
        }
        self.skipped_null += o.skipped_null;
        self.skipped_empty += o.skipped_empty;
        self.skipped_not_point += o.skipped_not_point;
        self.skipped_invalid += o.skipped_invalid;
    }

    /// The `top_n` densest cells, most accidents first (ties: more fatal, then west to east).
    pub fn top(&self) -> Vec<Hotspot> {
        let mut cells: Vec<_> = self.cells.iter().collect();
        cells.sort_by(|a, b| {
            b.1 .0
                .cmp(&a.1 .0)
                .then(b.1 .1.cmp(&a.1 .1))
                .then(a.0.cmp(b.0))
        });
        cells
            .into_iter()
            .take(self.top_n.max(0) as usize)
            .map(|(c, v)| {
                let (lon, lat) = centre_of(*c, self.cell_km);
                Hotspot {
                    lon,
                    lat,
                    accidents: v.0,
                    fatal_accidents: v.1,
                }
            })
            .collect()
    }

    /// Header: cell_km, top_n, the four skip counters, the number of cells; then the cells.
    const HEADER: usize = 8 + 4 + 4 * 8 + 8;

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::HEADER + self.cells.len() * 32);
        b.extend_from_slice(&self.cell_km.to_le_bytes());
        b.extend_from_slice(&self.top_n.to_le_bytes());
        for v in [
            self.skipped_null,
            self.skipped_empty,
            self.skipped_not_point,
            self.skipped_invalid,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&(self.cells.len() as u64).to_le_bytes());
        for (k, v) in &self.cells {
            for x in [k.0 as u64, k.1 as u64, v.0, v.1] {
                b.extend_from_slice(&x.to_le_bytes());
            }
        }
        b
    }

    pub fn from_bytes(b: &[u8]) -> Result<HotspotState, String> {
        let bad = || "not an accident_hotspots state".to_string();
        let u64_at = |at: usize| -> Result<u64, String> {
            b.get(at..at + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(bad)
        };
        let cell_km = f64::from_bits(u64_at(0)?);
        let top_n = b
            .get(8..12)
            .and_then(|s| s.try_into().ok())
            .map(i32::from_le_bytes)
            .ok_or_else(bad)?;
        let n = u64_at(44)?;
        let expected = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(32))
            .and_then(|x| x.checked_add(Self::HEADER));
        if expected != Some(b.len()) {
            return Err(bad());
        }
        let mut cells = HashMap::with_capacity(n as usize);
        for i in 0..n as usize {
            let at = Self::HEADER + i * 32;
            cells.insert(
                (u64_at(at)? as i64, u64_at(at + 8)? as i64),
                (u64_at(at + 16)?, u64_at(at + 24)?),
            );
        }
        Ok(HotspotState {
            cell_km,
            top_n,
            cells,
            skipped_null: u64_at(12)?,
            skipped_empty: u64_at(20)?,
            skipped_not_point: u64_at(28)?,
            skipped_invalid: u64_at(36)?,
        })
    }
}

impl HotspotState {
    /// The aggregate's result: the top cells, their centres rounded to 1e-6° (about 0.1 m), and
    /// the counts of values skipped and why.
    pub fn to_json(&self) -> Value {
        let round6 = |v: f64| (v * 1e6).round() / 1e6;
        let cells: Vec<Value> = self
            .top()
            .into_iter()
            .map(|t| {
                json!({
                    "lon": round6(t.lon),
                    "lat": round6(t.lat),
                    "accidents": t.accidents,
                    "fatal_accidents": t.fatal_accidents,
                })
            })
            .collect();
        json!({
            "cell_km": self.cell_km,
            "cells": cells,
            "skipped_null": self.skipped_null,
            "skipped_empty": self.skipped_empty,
            "skipped_not_point": self.skipped_not_point,
            "skipped_invalid": self.skipped_invalid,
        })
    }
}

/// The cells of an aggregate's result as `hotspot_cells` rows: (rank from 1, lon, lat,
/// accidents, fatal accidents); no `cells` array, no rows; a field that is not a number, 0.
pub fn cell_rows(hotspots: &Value) -> Vec<(i32, f64, f64, i64, i64)> {
    let Some(cells) = hotspots.get("cells").and_then(Value::as_array) else {
        return Vec::new();
    };
    cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = |k: &str| c.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            (
                i as i32 + 1,
                f("lon"),
                f("lat"),
                f("accidents") as i64,
                f("fatal_accidents") as i64,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ewkb_point(lon: f64, lat: f64, srid: Option<i32>) -> Vec<u8> {
        let mut b = vec![1u8];
        let ty: u32 = 1 | if srid.is_some() { 0x2000_0000 } else { 0 };
        b.extend_from_slice(&ty.to_le_bytes());
        if let Some(s) = srid {
            b.extend_from_slice(&s.to_le_bytes());
        }
        b.extend_from_slice(&lon.to_le_bytes());
        b.extend_from_slice(&lat.to_le_bytes());
        b
    }

    #[test]
    fn cells_have_equal_area_and_centres_round_trip() {
        // one cell north-south spans more latitude at 60N than at the equator
        let (_, lat0) = centre_of((0, 0), 25.0);
        let (_, lat1) = centre_of((0, 1), 25.0);
        let j60 = cell_of(0.0, 60.0, 25.0).1;
        let (_, a) = centre_of((0, j60), 25.0);
        let (_, b) = centre_of((0, j60 + 1), 25.0);
        assert!((b - a) > 1.9 * (lat1 - lat0));
        for (lon, lat) in [(-112.07, 33.45), (-149.9, 61.2), (0.0, 0.0)] {
            let c = cell_of(lon, lat, 25.0);
            let (clon, clat) = centre_of(c, 25.0);
            assert_eq!(cell_of(clon, clat, 25.0), c);
        }
    }

    #[test]
    fn counts_skips_and_top() {
        let mut s = HotspotState::new(25.0, 2).unwrap();
        for _ in 0..3 {
            s.add(Some(&ewkb_point(-112.07, 33.45, Some(4326))), Some(true))
                .unwrap();
        }
        s.add(Some(&ewkb_point(-112.08, 33.46, None)), Some(false))
            .unwrap();
        s.add(Some(&ewkb_point(-149.9, 61.2, Some(4326))), None)
            .unwrap();
        s.add(Some(&ewkb_point(10.0, 50.0, Some(4326))), None)
            .unwrap();
        s.add(None, Some(true)).unwrap();
        s.add(Some(&ewkb_point(f64::NAN, f64::NAN, Some(4326))), None)
            .unwrap();
        let top = s.top();
        assert_eq!(top.len(), 2);
        assert_eq!((top[0].accidents, top[0].fatal_accidents), (4, 3));
        assert!((top[0].lon + 112.07).abs() < 0.3 && (top[0].lat - 33.45).abs() < 0.3);
        assert_eq!((s.skipped_null, s.skipped_empty), (1, 1));
        assert!(s
            .add(Some(&ewkb_point(0.0, 0.0, Some(3857))), None)
            .is_err());
        assert!(s.add(Some(&[1, 2, 3]), None).is_err());
    }

    #[test]
    fn merge_and_bytes() {
        let mut a = HotspotState::new(10.0, 5).unwrap();
        let mut b = HotspotState::new(10.0, 5).unwrap();
        a.add(Some(&ewkb_point(1.0, 1.0, None)), Some(true))
            .unwrap();
        b.add(Some(&ewkb_point(1.0, 1.0, None)), Some(false))
            .unwrap();
        b.add(None, None).unwrap();
        let mut whole = HotspotState::new(10.0, 5).unwrap();
        whole
            .add(Some(&ewkb_point(1.0, 1.0, None)), Some(true))
            .unwrap();
        whole
            .add(Some(&ewkb_point(1.0, 1.0, None)), Some(false))
            .unwrap();
        whole.add(None, None).unwrap();
        a.merge(&b);
        assert_eq!(a, whole);
        assert_eq!(HotspotState::from_bytes(&a.to_bytes()).unwrap(), a);
        assert!(HotspotState::from_bytes(&a.to_bytes()[1..]).is_err());
        let mut empty = HotspotState::default();
        empty.merge(&whole);
        assert_eq!(empty, whole);
        assert!(HotspotState::new(0.0, 5).is_err());
        assert!(HotspotState::new(5.0, 0).is_err());
    }
    fn ewkb_typed(ty: u32, srid: Option<i32>, body: &[u8], little: bool) -> Vec<u8> {
        let mut b = vec![u8::from(little)];
        let ty = ty | if srid.is_some() { 0x2000_0000 } else { 0 };
        let put = |b: &mut Vec<u8>, v: u32| {
            b.extend_from_slice(&if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            })
        };
        put(&mut b, ty);
        if let Some(s) = srid {
            put(&mut b, s as u32);
        }
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn places_off_the_earth_are_skipped_and_counted() {
        let mut s = HotspotState::new(25.0, 10).unwrap();
        s.add(Some(&ewkb_point(10.0, 80.0, Some(4326))), None)
            .unwrap();
        for (lon, lat) in [
            (10.0, 100.0),
            (500.0, 100.0),
            (-12_467_783.0, 3_970_000.0), // web mercator metres with SRID 0
            (f64::INFINITY, 0.0),
            (0.0, -90.000_001),
        ] {
            s.add(Some(&ewkb_point(lon, lat, Some(0))), None).unwrap();
        }
        assert_eq!(s.skipped_invalid, 5);
        assert_eq!(
            s.cells.len(),
            1,
            "POINT(10 100) is not in the cell of POINT(10 80)"
        );
        let top = s.top();
        assert_eq!(top[0].accidents, 1);
        assert!(top.iter().all(|t| is_valid_lon_lat(t.lon, t.lat)));
        assert_eq!(
            s.add(
                Some(&ewkb_point(-12_467_783.0, 3_970_000.0, Some(3857))),
                None
            ),
            Err(HotspotError::Srid(3857))
        );
        // the poles and the antimeridian are places
        s.add(Some(&ewkb_point(180.0, 90.0, None)), None).unwrap();
        s.add(Some(&ewkb_point(-180.0, -90.0, None)), None).unwrap();
        assert_eq!(s.skipped_invalid, 5);
    }

    #[test]
    fn cell_size_is_bounded() {
        for bad in [1e-300, 0.0, -1.0, 0.009, 20_000.1, f64::NAN, f64::INFINITY] {
            assert!(HotspotState::new(bad, 5).is_err(), "{bad}");
        }
        assert!(HotspotState::new(MIN_CELL_KM, 5).is_ok());
        assert!(HotspotState::new(MAX_CELL_KM, 5).is_ok());
        // at the smallest cell, points 20 m apart stay apart, anywhere on Earth
        let mut s = HotspotState::new(MIN_CELL_KM, 10).unwrap();
        s.add(Some(&ewkb_point(179.9, 0.0, None)), None).unwrap();
        s.add(Some(&ewkb_point(179.9002, 0.0, None)), None).unwrap();
        assert_eq!(s.cells.len(), 2);
    }

    #[test]
    fn every_geometry_type_is_classified_without_parsing() {
        let mut s = HotspotState::new(25.0, 10).unwrap();
        let one = 1u32.to_le_bytes();
        let zero = 0u32.to_le_bytes();
        // linestring, polygon, multi*, collection, circularstring, compoundcurve, curvepolygon,
        // multicurve, multisurface, polyhedralsurface, TIN, triangle; with and without SRID,
        // ISO Z/M codes and the EWKB Z flag
        for ty in [
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            15,
            16,
            17,
            1017,
            2008,
            3016,
            0x8000_0011,
        ] {
            let mut body = one.to_vec();
            body.extend_from_slice(&[0xAB; 40]); // contents that are never read
            s.add(Some(&ewkb_typed(ty, Some(4326), &body, true)), None)
                .unwrap();
            s.add(Some(&ewkb_typed(ty, None, &body, false)), None)
                .unwrap();
        }
        assert_eq!(s.skipped_not_point, 36);
        s.add(Some(&ewkb_typed(4, Some(4326), &zero, true)), None)
            .unwrap();
        s.add(Some(&ewkb_typed(7, None, &zero, false)), None)
            .unwrap();
        assert_eq!(s.skipped_empty, 2);
        // a big-endian point and an ISO Z point read as points
        let mut xyz = Vec::new();
        for v in [-112.07f64, 33.45, 400.0] {
            xyz.extend_from_slice(&v.to_be_bytes());
        }
        s.add(
            Some(&ewkb_typed(0x8000_0001, Some(4326), &xyz, false)),
            None,
        )
        .unwrap();
        assert_eq!(s.cells.len(), 1);
        // truncated bytes are an error, not a panic
        for cut in 0..ewkb_point(1.0, 2.0, Some(4326)).len() {
            let b = ewkb_point(1.0, 2.0, Some(4326));
            assert!(read_point(&b[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut s = HotspotState::new(25.0, 10).unwrap();
        for _ in 0..20_000 {
            let len = (next() % 48) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = b.first_mut() {
                *first &= 1;
            }
            let _ = s.add(Some(&b), None);
        }
    }

    #[test]
    fn result_json_and_its_rows() {
        let mut s = HotspotState::new(25.0, 2).unwrap();
        for (lon, lat, fatal) in [
            (-112.07, 33.45, true),
            (-112.07, 33.45, false),
            (0.0, 0.0, false),
        ] {
            s.add(Some(&ewkb_point(lon, lat, Some(4326))), Some(fatal))
                .unwrap();
        }
        s.add(None, Some(false)).unwrap();
        let j = s.to_json();
        assert_eq!(j["cell_km"], json!(25.0));
        assert_eq!(j["skipped_null"], json!(1));
        assert_eq!(j["skipped_invalid"], json!(0));
        let top = s.top();
        let cells = j["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0]["accidents"], json!(2));
        assert_eq!(cells[0]["fatal_accidents"], json!(1));
        let lon = cells[0]["lon"].as_f64().unwrap();
        assert!((lon - top[0].lon).abs() <= 5e-7 && (lon * 1e6).fract() == 0.0);
        let rows = cell_rows(&j);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].0, rows[0].3, rows[0].4), (1, 2, 1));
        assert_eq!((rows[1].0, rows[1].3, rows[1].4), (2, 1, 0));
        assert_eq!(rows[0].1, lon);
        assert!(cell_rows(&json!({"cell_km": 25})).is_empty());
        assert_eq!(
            cell_rows(&json!({"cells": [{"lon": "x"}]})),
            vec![(1, 0.0, 0.0, 0, 0)]
        );
    }
}
