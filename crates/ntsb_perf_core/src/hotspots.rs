//! Spatial hotspots: accidents counted on an equal-area grid.
//!
//! The grid lives on the Lambert cylindrical equal-area projection (x = R·λ, y = R·sin φ, R the
//! authalic Earth radius), so every cell of `cell_km` × `cell_km` covers the same ground area,
//! at any latitude: a hotspot in Alaska is not inflated against one in Florida. Points arrive
//! as EWKB (PostGIS `ST_AsEWKB`), read with the postgis crate.

use std::collections::HashMap;
use std::io::Cursor;

use postgis::ewkb::{EwkbRead, GeometryT, Point};

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

pub fn read_point(ewkb: &[u8]) -> Result<PointRead, String> {
    let g = GeometryT::<Point>::read_ewkb(&mut Cursor::new(ewkb))
        .map_err(|e| format!("not a valid EWKB geometry: {e:?}"))?;
    Ok(match g {
        GeometryT::Point(p) if p.x.is_nan() || p.y.is_nan() => PointRead::Empty,
        GeometryT::Point(p) => PointRead::Point {
            lon: p.x,
            lat: p.y,
            srid: p.srid,
        },
        GeometryT::MultiPoint(m) if m.points.is_empty() => PointRead::Empty,
        GeometryT::GeometryCollection(c) if c.geometries.is_empty() => PointRead::Empty,
        _ => PointRead::NotAPoint,
    })
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HotspotState {
    pub cell_km: f64,
    pub top_n: i32,
    /// cell → (accidents, fatal accidents)
    pub cells: HashMap<(i64, i64), (u64, u64)>,
    pub skipped_null: u64,
    pub skipped_empty: u64,
    pub skipped_not_point: u64,
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
        if !(cell_km.is_finite() && cell_km > 0.0 && cell_km <= 20_000.0) {
            return Err(format!(
                "cell_km must be between 0 and 20000 km, not {cell_km}"
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
    pub fn add(&mut self, ewkb: Option<&[u8]>, fatal: Option<bool>) -> Result<(), String> {
        let Some(ewkb) = ewkb else {
            self.skipped_null += 1;
            return Ok(());
        };
        match read_point(ewkb)? {
            PointRead::Empty => self.skipped_empty += 1,
            PointRead::NotAPoint => self.skipped_not_point += 1,
            PointRead::Point { lon, lat, srid } => {
                if let Some(s) = srid.filter(|s| *s != 4326 && *s != 0) {
                    return Err(format!(
                        "geometry has SRID {s}; accident_hotspots needs longitude/latitude (SRID 4326): pass ST_Transform(geom, 4326)"
                    ));
                }
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

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(48 + self.cells.len() * 32);
        b.extend_from_slice(&self.cell_km.to_le_bytes());
        b.extend_from_slice(&self.top_n.to_le_bytes());
        for v in [
            self.skipped_null,
            self.skipped_empty,
            self.skipped_not_point,
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
                .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
                .ok_or_else(bad)
        };
        let cell_km = f64::from_bits(u64_at(0)?);
        let top_n = i32::from_le_bytes(b.get(8..12).ok_or_else(bad)?.try_into().unwrap());
        let n = u64_at(36)? as usize;
        if n.checked_mul(32).and_then(|x| x.checked_add(44)) != Some(b.len()) {
            return Err(bad());
        }
        let mut cells = HashMap::with_capacity(n);
        for i in 0..n {
            let at = 44 + i * 32;
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
        })
    }
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
}
