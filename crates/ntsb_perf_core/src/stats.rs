//! State of the `accident_stats` aggregate: counts by normalised severity and exact integer
//! sums of the casualty columns. NULL numbers count as unknown (not zero).
//!
//! Everything is kept as exact integers (sums and sums of squares), so merging states in any
//! order, in parallel workers or by rolling up stored monthly states, gives bit-for-bit the same
//! figures as one pass over the raw rows; the variance is computed from the exact integers at the
//! end (`(n·Σx² − (Σx)²) / (n·(n−1))`), which is also numerically stable.

use crate::severity::{classify, Severity};

/// Exact running sums of one nullable integer column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// Rows where the value was not NULL.
    pub known: u64,
    pub sum: i64,
    pub sum_sq: i128,
}

impl Counter {
    pub fn add(&mut self, v: Option<i32>) {
        if let Some(x) = v {
            self.known += 1;
            self.sum += x as i64;
            self.sum_sq += (x as i128) * (x as i128);
        }
    }
    pub fn merge(&mut self, o: &Counter) {
        self.known += o.known;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
    }
    /// Sum over the known values; None when none is known.
    pub fn total(&self) -> Option<i64> {
        (self.known > 0).then_some(self.sum)
    }
    pub fn mean(&self) -> Option<f64> {
        (self.known > 0).then(|| self.sum as f64 / self.known as f64)
    }
    /// Sample variance; None below two known values.
    pub fn variance(&self) -> Option<f64> {
        if self.known < 2 {
            return None;
        }
        let n = self.known as i128;
        let num = n * self.sum_sq - (self.sum as i128) * (self.sum as i128);
        Some(num as f64 / (n * (n - 1)) as f64)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccidentStats {
    pub accidents: u64,
    /// Counts per normalised severity, in the order of [`crate::severity::CODES`].
    pub by_severity: [u64; 5],
    pub fatalities: Counter,
    pub serious: Counter,
    pub minor: Counter,
    pub uninjured: Counter,
    /// Rows where the serious or the minor injury count was known.
    pub injuries_known: u64,
}

impl AccidentStats {
    pub fn add(
        &mut self,
        severity: Option<&str>,
        fatalities: Option<i32>,
        serious: Option<i32>,
        minor: Option<i32>,
        uninjured: Option<i32>,
    ) {
        self.accidents += 1;
        self.by_severity[classify(severity) as usize] += 1;
        self.fatalities.add(fatalities);
        self.serious.add(serious);
        self.minor.add(minor);
        self.uninjured.add(uninjured);
        if serious.is_some() || minor.is_some() {
            self.injuries_known += 1;
        }
    }

    pub fn merge(&mut self, o: &AccidentStats) {
        self.accidents += o.accidents;
        for (a, b) in self.by_severity.iter_mut().zip(o.by_severity) {
            *a += b;
        }
        self.fatalities.merge(&o.fatalities);
        self.serious.merge(&o.serious);
        self.minor.merge(&o.minor);
        self.uninjured.merge(&o.uninjured);
        self.injuries_known += o.injuries_known;
    }

    pub fn fatal_accidents(&self) -> u64 {
        self.by_severity[Severity::Fatal as usize]
    }

    /// Fatal accidents / accidents; None for no accidents.
    pub fn fatal_rate(&self) -> Option<f64> {
        (self.accidents > 0).then(|| self.fatal_accidents() as f64 / self.accidents as f64)
    }

    /// (serious + minor injuries) per accident whose injury counts are known.
    pub fn injuries_per_accident(&self) -> Option<f64> {
        (self.injuries_known > 0)
            .then(|| (self.serious.sum + self.minor.sum) as f64 / self.injuries_known as f64)
    }

    const VERSION: u8 = 1;
    const BYTES: usize = 1 + 8 + 5 * 8 + 4 * (8 + 8 + 16) + 8;

    /// Compact little-endian encoding (the aggregate's serialized state).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::BYTES);
        b.push(Self::VERSION);
        b.extend_from_slice(&self.accidents.to_le_bytes());
        for c in self.by_severity {
            b.extend_from_slice(&c.to_le_bytes());
        }
        for c in [
            &self.fatalities,
            &self.serious,
            &self.minor,
            &self.uninjured,
        ] {
            b.extend_from_slice(&c.known.to_le_bytes());
            b.extend_from_slice(&c.sum.to_le_bytes());
            b.extend_from_slice(&c.sum_sq.to_le_bytes());
        }
        b.extend_from_slice(&self.injuries_known.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Result<AccidentStats, String> {
        if b.len() != Self::BYTES || b[0] != Self::VERSION {
            return Err(format!(
                "not an accident_stats state ({} bytes, version {:?})",
                b.len(),
                b.first()
            ));
        }
        let mut at = 1;
        let mut u64_ = || {
            let v = u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
            at += 8;
            v
        };
        let accidents = u64_();
        let mut by_severity = [0u64; 5];
        for c in by_severity.iter_mut() {
            *c = u64_();
        }
        let mut counters = [Counter::default(); 4];
        for c in counters.iter_mut() {
            c.known = u64_();
            c.sum = u64_() as i64;
            let lo = u64_() as u128;
            let hi = u64_() as u128;
            c.sum_sq = (lo | (hi << 64)) as i128;
        }
        let injuries_known = u64_();
        Ok(AccidentStats {
            accidents,
            by_severity,
            fatalities: counters[0],
            serious: counters[1],
            minor: counters[2],
            uninjured: counters[3],
            injuries_known,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row = (
        Option<&'static str>,
        Option<i32>,
        Option<i32>,
        Option<i32>,
        Option<i32>,
    );

    fn sample() -> Vec<Row> {
        vec![
            (Some("FATAL(2)"), Some(2), Some(0), Some(1), Some(0)),
            (Some("NON-FATAL"), None, Some(1), None, Some(3)),
            (Some("SIRUOSE"), None, Some(2), Some(0), None),
            (None, None, None, None, None),
            (Some("FATAL"), Some(5), None, None, Some(1)),
            (Some("INCIDENT"), Some(0), Some(0), Some(0), Some(120)),
        ]
    }

    fn fold(rows: &[Row]) -> AccidentStats {
        let mut s = AccidentStats::default();
        for r in rows {
            s.add(r.0, r.1, r.2, r.3, r.4);
        }
        s
    }

    #[test]
    fn figures_with_nulls_as_unknown() {
        let s = fold(&sample());
        assert_eq!(s.accidents, 6);
        assert_eq!(s.fatal_accidents(), 2);
        assert_eq!(s.by_severity, [2, 1, 0, 2, 1]);
        assert_eq!(s.fatalities.total(), Some(7));
        assert_eq!(s.fatalities.known, 3);
        assert_eq!(s.serious.total(), Some(3));
        assert_eq!(s.minor.total(), Some(1));
        assert_eq!(s.uninjured.total(), Some(124));
        assert_eq!(s.fatal_rate(), Some(2.0 / 6.0));
        assert_eq!(s.injuries_per_accident(), Some(4.0 / 4.0));
        // mean 7/3, sample variance of (2, 5, 0)
        let m = 7.0 / 3.0;
        let var = ((2.0 - m) * (2.0f64 - m) + (5.0 - m) * (5.0 - m) + (0.0 - m) * (0.0 - m)) / 2.0;
        assert!((s.fatalities.variance().unwrap() - var).abs() < 1e-12);
    }

    #[test]
    fn empty_state_has_no_figures() {
        let s = AccidentStats::default();
        assert_eq!(s.fatal_rate(), None);
        assert_eq!(s.fatalities.total(), None);
        assert_eq!(s.fatalities.variance(), None);
        assert_eq!(s.injuries_per_accident(), None);
    }

    #[test]
    fn merging_in_any_split_equals_one_pass() {
        let rows = sample();
        let whole = fold(&rows);
        for cut in 0..=rows.len() {
            let mut a = fold(&rows[..cut]);
            a.merge(&fold(&rows[cut..]));
            assert_eq!(a, whole, "cut at {cut}");
            let mut b = fold(&rows[cut..]);
            b.merge(&fold(&rows[..cut]));
            assert_eq!(b, whole, "reversed cut at {cut}");
        }
    }

    #[test]
    fn bytes_round_trip_and_reject_garbage() {
        let s = fold(&sample());
        let b = s.to_bytes();
        assert_eq!(AccidentStats::from_bytes(&b).unwrap(), s);
        let mut big = AccidentStats::default();
        big.fatalities.sum_sq = i128::MAX / 3;
        assert_eq!(AccidentStats::from_bytes(&big.to_bytes()).unwrap(), big);
        assert!(AccidentStats::from_bytes(&b[1..]).is_err());
        assert!(AccidentStats::from_bytes(&[]).is_err());
    }

    #[test]
    fn variance_is_stable_for_large_offsets() {
        let mut c = Counter::default();
        for x in [1_000_000_000, 1_000_000_001, 1_000_000_002] {
            c.add(Some(x));
        }
        assert_eq!(c.variance(), Some(1.0));
    }
}
