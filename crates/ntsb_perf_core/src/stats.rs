//! State of the `accident_stats` aggregate: counts by normalised severity and exact integer
//! sums of the casualty columns. NULL numbers count as unknown (not zero).
//!
//! Everything is kept as exact integers (sums and sums of squares), so merging states in any
//! order, in parallel workers or by rolling up stored monthly states, gives bit-for-bit the same
//! figures as one pass over the raw rows; the variance is computed from the exact integers at the
//! end (`(n·Σx² − (Σx)²) / (n·(n−1))`, in 256-bit arithmetic), which is also numerically stable.
//!
//! Every addition is checked ([`StatsError::Overflow`] instead of wrapping), and a state that
//! arrives from outside (text input, a stored value, a parallel worker's bytes) is validated
//! ([`AccidentStats::validate`]): no count beyond `i64::MAX` (the SQL accessors return bigint),
//! severity counts that add up to the accident count, and sums that some set of `integer` values
//! could really have produced.

use crate::severity::{classify, Severity};

/// The largest count a state may hold: the SQL accessors return `bigint`.
pub const MAX_COUNT: u64 = i64::MAX as u64;

/// Why a state could not be built, combined or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsError {
    /// A count or sum would leave its range (SQLSTATE 22003).
    Overflow(String),
    /// A field is missing, of the wrong kind or out of range (the field is named).
    BadField { field: String, reason: String },
    /// The fields do not describe any set of rows (e.g. severity counts that do not add up).
    Inconsistent(String),
}

impl std::fmt::Display for StatsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatsError::Overflow(what) => write!(f, "accident_stats: {what} is out of range"),
            StatsError::BadField { field, reason } => {
                write!(f, "accident_stats field \"{field}\": {reason}")
            }
            StatsError::Inconsistent(why) => write!(f, "not a consistent accident_stats: {why}"),
        }
    }
}

#[inline]
fn add_count(a: u64, b: u64, what: &str) -> Result<u64, StatsError> {
    match a.checked_add(b) {
        Some(v) if v <= MAX_COUNT => Ok(v),
        _ => Err(count_overflow(what)),
    }
}

#[cold]
#[inline(never)]
fn count_overflow(what: &str) -> StatsError {
    StatsError::Overflow(format!("{what} (more than {MAX_COUNT})"))
}

#[cold]
#[inline(never)]
fn sum_overflow(what: &str, squares: bool) -> StatsError {
    if squares {
        StatsError::Overflow(format!("sum of squares of {what}"))
    } else {
        StatsError::Overflow(format!("sum of {what}"))
    }
}

/// `a · b` of two non-negative 128-bit numbers as a 256-bit (high, low) pair.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let mask = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & mask);
    let (b1, b0) = (b >> 64, b & mask);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & mask) + (p10 & mask);
    let lo = (p00 & mask) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// `a − b` of 256-bit pairs, `a ≥ b`.
fn sub_wide(a: (u128, u128), b: (u128, u128)) -> (u128, u128) {
    let (lo, borrow) = a.1.overflowing_sub(b.1);
    (a.0 - b.0 - u128::from(borrow), lo)
}

fn wide_to_f64(v: (u128, u128)) -> f64 {
    v.0 as f64 * 2f64.powi(128) + v.1 as f64
}

/// Exact running sums of one nullable integer column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// Rows where the value was not NULL.
    pub known: u64,
    pub sum: i64,
    pub sum_sq: i128,
}

impl Counter {
    pub fn add(&mut self, v: Option<i32>, what: &str) -> Result<(), StatsError> {
        *self = self.added(v, what)?;
        Ok(())
    }

    /// This counter with `v` added (itself when `v` is NULL); an error, and nothing changed,
    /// when a count or sum would leave its range.
    #[inline]
    pub fn added(&self, v: Option<i32>, what: &str) -> Result<Counter, StatsError> {
        let Some(x) = v else {
            return Ok(*self);
        };
        let known = add_count(self.known, 1, what)?;
        let sum = self
            .sum
            .checked_add(x as i64)
            .ok_or_else(|| sum_overflow(what, false))?;
        // x² ≤ 2^62 and known ≤ 2^63: below 2^125 in a valid state, checked all the same.
        let sum_sq = self
            .sum_sq
            .checked_add((x as i128) * (x as i128))
            .ok_or_else(|| sum_overflow(what, true))?;
        Ok(Counter { known, sum, sum_sq })
    }
    pub fn merge(&mut self, o: &Counter, what: &str) -> Result<(), StatsError> {
        let known = add_count(self.known, o.known, what)?;
        let sum = self
            .sum
            .checked_add(o.sum)
            .ok_or_else(|| StatsError::Overflow(format!("sum of {what}")))?;
        let sum_sq = self
            .sum_sq
            .checked_add(o.sum_sq)
            .ok_or_else(|| StatsError::Overflow(format!("sum of squares of {what}")))?;
        *self = Counter { known, sum, sum_sq };
        Ok(())
    }
    /// Sum over the known values; None when none is known.
    pub fn total(&self) -> Option<i64> {
        (self.known > 0).then_some(self.sum)
    }
    pub fn mean(&self) -> Option<f64> {
        (self.known > 0).then(|| self.sum as f64 / self.known as f64)
    }
    /// n·Σx² − (Σx)² ≥ 0, exactly (256-bit).
    fn spread(&self) -> Option<(u128, u128)> {
        let a = mul_wide(self.known as u128, u128::try_from(self.sum_sq).ok()?);
        let b = mul_wide(
            self.sum.unsigned_abs() as u128,
            self.sum.unsigned_abs() as u128,
        );
        (a >= b).then(|| sub_wide(a, b))
    }
    /// Sample variance; None below two known values.
    pub fn variance(&self) -> Option<f64> {
        if self.known < 2 {
            return None;
        }
        let n = self.known as f64;
        Some(wide_to_f64(self.spread()?) / (n * (n - 1.0)))
    }
    /// Whether some multiset of `known` 32-bit integers has this sum and sum of squares
    /// (as far as the cheap, necessary conditions tell).
    fn validate(&self, what: &str) -> Result<(), StatsError> {
        let bad = |reason: String| StatsError::Inconsistent(format!("{what}: {reason}"));
        if self.known > MAX_COUNT {
            return Err(StatsError::Overflow(format!("{what} count")));
        }
        let n = self.known as i128;
        if self.known == 0 && (self.sum != 0 || self.sum_sq != 0) {
            return Err(bad("a sum without any known value".into()));
        }
        // |x| ≤ 2^31 and x² ≤ 2^62 for every integer value.
        if (self.sum as i128).abs() > n << 31 {
            return Err(bad(
                "the sum is larger than its count of integers allows".into()
            ));
        }
        if self.sum_sq < 0 || self.sum_sq > n << 62 {
            return Err(bad(
                "the sum of squares is out of range for its count".into()
            ));
        }
        if self.spread().is_none() {
            return Err(bad(
                "the sum of squares is smaller than the sum allows (negative variance)".into(),
            ));
        }
        Ok(())
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

/// Names of the four counters, as the text form spells them.
pub const COUNTERS: [&str; 4] = ["fatalities", "serious", "minor", "uninjured"];

impl AccidentStats {
    pub fn add(
        &mut self,
        severity: Option<&str>,
        fatalities: Option<i32>,
        serious: Option<i32>,
        minor: Option<i32>,
        uninjured: Option<i32>,
    ) -> Result<(), StatsError> {
        self.add_classified(classify(severity), fatalities, serious, minor, uninjured)
    }

    /// [`Self::add`] of a row whose severity is classified already (the aggregate classifies
    /// the raw bytes of its `text` argument with [`crate::severity::classify_bytes`]).
    #[inline]
    pub fn add_classified(
        &mut self,
        severity: Severity,
        fatalities: Option<i32>,
        serious: Option<i32>,
        minor: Option<i32>,
        uninjured: Option<i32>,
    ) -> Result<(), StatsError> {
        // Every new value first, then all of them at once: a failed addition leaves the state
        // as it was (and nothing is copied per row).
        let accidents = add_count(self.accidents, 1, "accidents")?;
        let k = severity as usize;
        let in_class = add_count(self.by_severity[k], 1, "accidents")?;
        let f = self.fatalities.added(fatalities, COUNTERS[0])?;
        let se = self.serious.added(serious, COUNTERS[1])?;
        let mi = self.minor.added(minor, COUNTERS[2])?;
        let un = self.uninjured.added(uninjured, COUNTERS[3])?;
        let injuries_known = if serious.is_some() || minor.is_some() {
            add_count(self.injuries_known, 1, "injuries_known")?
        } else {
            self.injuries_known
        };
        self.accidents = accidents;
        self.by_severity[k] = in_class;
        self.fatalities = f;
        self.serious = se;
        self.minor = mi;
        self.uninjured = un;
        self.injuries_known = injuries_known;
        Ok(())
    }

    pub fn merge(&mut self, o: &AccidentStats) -> Result<(), StatsError> {
        let mut s = *self;
        s.accidents = add_count(s.accidents, o.accidents, "accidents")?;
        for (a, b) in s.by_severity.iter_mut().zip(o.by_severity) {
            *a = add_count(*a, b, "accidents")?;
        }
        s.fatalities.merge(&o.fatalities, COUNTERS[0])?;
        s.serious.merge(&o.serious, COUNTERS[1])?;
        s.minor.merge(&o.minor, COUNTERS[2])?;
        s.uninjured.merge(&o.uninjured, COUNTERS[3])?;
        s.injuries_known = add_count(s.injuries_known, o.injuries_known, "injuries_known")?;
        *self = s;
        Ok(())
    }

    /// Checks that the state describes some set of rows: what every state that arrives from
    /// outside (text, stored bytes, a worker) must pass before any figure is read from it.
    pub fn validate(&self) -> Result<(), StatsError> {
        if self.accidents > MAX_COUNT {
            return Err(StatsError::BadField {
                field: "accidents".into(),
                reason: format!("{} is more than {MAX_COUNT}", self.accidents),
            });
        }
        let by_severity: u128 = self.by_severity.iter().map(|c| *c as u128).sum();
        if by_severity != self.accidents as u128 {
            return Err(StatsError::Inconsistent(format!(
                "the severity counts add up to {by_severity}, not to the {} accidents",
                self.accidents
            )));
        }
        for (c, name) in self.counters().into_iter().zip(COUNTERS) {
            if c.known > self.accidents {
                return Err(StatsError::Inconsistent(format!(
                    "{} known {name} values for {} accidents",
                    c.known, self.accidents
                )));
            }
            c.validate(name)?;
        }
        let (s, m) = (self.serious.known, self.minor.known);
        if self.injuries_known > self.accidents
            || self.injuries_known < s.max(m)
            || self.injuries_known as u128 > s as u128 + m as u128
        {
            return Err(StatsError::Inconsistent(format!(
                "injuries_known {} does not fit {s} known serious and {m} known minor counts of {} accidents",
                self.injuries_known, self.accidents
            )));
        }
        Ok(())
    }

    fn counters(&self) -> [&Counter; 4] {
        [
            &self.fatalities,
            &self.serious,
            &self.minor,
            &self.uninjured,
        ]
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
        (self.injuries_known > 0).then(|| {
            (self.serious.sum as i128 + self.minor.sum as i128) as f64 / self.injuries_known as f64
        })
    }

    /// First byte of the encoding: the format version. A later release reads this one by it.
    pub const VERSION: u8 = 1;
    pub const BYTES: usize = 1 + 8 + 5 * 8 + 4 * (8 + 8 + 16) + 8;

    /// Compact little-endian encoding, version byte first: the stored form of the SQL type and
    /// the aggregate's serialized state.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::BYTES);
        b.push(Self::VERSION);
        b.extend_from_slice(&self.accidents.to_le_bytes());
        for c in self.by_severity {
            b.extend_from_slice(&c.to_le_bytes());
        }
        for c in self.counters() {
            b.extend_from_slice(&c.known.to_le_bytes());
            b.extend_from_slice(&c.sum.to_le_bytes());
            b.extend_from_slice(&c.sum_sq.to_le_bytes());
        }
        b.extend_from_slice(&self.injuries_known.to_le_bytes());
        b
    }

    /// Reads [`to_bytes`](Self::to_bytes)'s encoding and validates it.
    pub fn from_bytes(b: &[u8]) -> Result<AccidentStats, StatsError> {
        if b.len() != Self::BYTES || b[0] != Self::VERSION {
            return Err(StatsError::Inconsistent(format!(
                "not an accident_stats state of version {} ({} bytes, version byte {:?})",
                Self::VERSION,
                b.len(),
                b.first()
            )));
        }
        let mut words = b[1..].chunks_exact(8).map(|w| {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            u64::from_le_bytes(a)
        });
        // BYTES fixes the number of words: every next() below has one.
        let mut next = || words.next().unwrap_or_default();
        let accidents = next();
        let mut by_severity = [0u64; 5];
        for c in by_severity.iter_mut() {
            *c = next();
        }
        let mut counters = [Counter::default(); 4];
        for c in counters.iter_mut() {
            c.known = next();
            c.sum = next() as i64;
            let lo = next() as u128;
            let hi = next() as u128;
            c.sum_sq = (lo | (hi << 64)) as i128;
        }
        let s = AccidentStats {
            accidents,
            by_severity,
            fatalities: counters[0],
            serious: counters[1],
            minor: counters[2],
            uninjured: counters[3],
            injuries_known: next(),
        };
        s.validate()?;
        Ok(s)
    }
}

// ---- the SQL type's text form (JSON) and the stored form of release 0.1.0 (CBOR) ----

/// One counter as the text form (and release 0.1.0's stored form) spells it: the sum of squares
/// split in two 64-bit halves.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct CounterForm {
    known: u64,
    sum: i64,
    sum_sq_hi: i64,
    sum_sq_lo: u64,
}

/// The text form's layout; the field order is the output's.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct StateForm {
    accidents: u64,
    /// FATL, SERS, MINR, NONE, UNKN
    by_severity: [u64; 5],
    fatalities: CounterForm,
    serious: CounterForm,
    minor: CounterForm,
    uninjured: CounterForm,
    injuries_known: u64,
}

impl From<&Counter> for CounterForm {
    fn from(c: &Counter) -> Self {
        CounterForm {
            known: c.known,
            sum: c.sum,
            sum_sq_hi: (c.sum_sq >> 64) as i64,
            sum_sq_lo: c.sum_sq as u64,
        }
    }
}

impl From<&CounterForm> for Counter {
    fn from(c: &CounterForm) -> Self {
        Counter {
            known: c.known,
            sum: c.sum,
            sum_sq: ((c.sum_sq_hi as i128) << 64) | c.sum_sq_lo as i128,
        }
    }
}

impl From<&AccidentStats> for StateForm {
    fn from(s: &AccidentStats) -> Self {
        StateForm {
            accidents: s.accidents,
            by_severity: s.by_severity,
            fatalities: (&s.fatalities).into(),
            serious: (&s.serious).into(),
            minor: (&s.minor).into(),
            uninjured: (&s.uninjured).into(),
            injuries_known: s.injuries_known,
        }
    }
}

impl From<&StateForm> for AccidentStats {
    fn from(s: &StateForm) -> Self {
        AccidentStats {
            accidents: s.accidents,
            by_severity: s.by_severity,
            fatalities: (&s.fatalities).into(),
            serious: (&s.serious).into(),
            minor: (&s.minor).into(),
            uninjured: (&s.uninjured).into(),
            injuries_known: s.injuries_known,
        }
    }
}

fn bad_field(field: &str, reason: impl Into<String>) -> StatsError {
    StatsError::BadField {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// The object's members, each named once, no others.
fn members<'a>(
    v: &'a serde_json::Value,
    path: &str,
    names: &[&str],
) -> Result<Vec<&'a serde_json::Value>, StatsError> {
    let obj = v.as_object().ok_or_else(|| {
        bad_field(
            if path.is_empty() { "(state)" } else { path },
            "expected a JSON object",
        )
    })?;
    let full = |n: &str| {
        if path.is_empty() {
            n.to_string()
        } else {
            format!("{path}.{n}")
        }
    };
    if let Some(extra) = obj.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(bad_field(&full(extra), "unknown field"));
    }
    names
        .iter()
        .map(|n| obj.get(*n).ok_or_else(|| bad_field(&full(n), "missing")))
        .collect()
}

fn count_of(v: &serde_json::Value, field: &str) -> Result<u64, StatsError> {
    match v.as_u64() {
        Some(c) if c <= MAX_COUNT => Ok(c),
        Some(c) => Err(StatsError::Overflow(format!(
            "field \"{field}\" = {c} (more than {MAX_COUNT})"
        ))),
        None if v.as_i64().is_some() => Err(bad_field(field, format!("{v} is negative"))),
        None => Err(bad_field(
            field,
            format!("{v} is not a whole number from 0 to {MAX_COUNT}"),
        )),
    }
}

fn i64_of(v: &serde_json::Value, field: &str) -> Result<i64, StatsError> {
    v.as_i64()
        .ok_or_else(|| bad_field(field, format!("{v} is not a 64-bit integer")))
}

/// Why release 0.1.0's stored form of `len` bytes could not be read, in the words of the reader
/// 0.1.0 had (serde_cbor), so the messages stay as they were: a value cut short is "EOF while
/// parsing a value at offset <len>", a field of the wrong type or missing is serde's message.
fn legacy_error(e: ciborium::de::Error<std::io::Error>, len: usize) -> String {
    use ciborium::de::Error;
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            format!("EOF while parsing a value at offset {len}")
        }
        Error::Io(io) => io.to_string(),
        Error::Syntax(at) => format!("invalid CBOR at offset {at}"),
        Error::Semantic(_, msg) => msg,
        Error::RecursionLimitExceeded => "recursion limit exceeded".to_string(),
    }
}

impl AccidentStats {
    /// Accidents per normalised severity code, e.g. `{"FATL": 12, "NONE": 80, ...}`.
    pub fn severity_counts(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = crate::severity::CODES
            .iter()
            .zip(self.by_severity)
            .map(|(c, n)| (c.to_string(), n.into()))
            .collect();
        serde_json::Value::Object(map)
    }

    /// The text form: JSON, as release 0.1.0 wrote it (so dumps and old text round-trip).
    pub fn to_json(&self) -> String {
        // Serialising plain integers into a String cannot fail.
        serde_json::to_string(&StateForm::from(self)).unwrap_or_default()
    }

    /// Parses the text form; every malformed, missing, unknown or out-of-range field is named,
    /// and the state must pass [`validate`](Self::validate).
    pub fn from_json(text: &str) -> Result<AccidentStats, StatsError> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| bad_field("(state)", format!("not valid JSON: {e}")))?;
        let top = [
            "accidents",
            "by_severity",
            "fatalities",
            "serious",
            "minor",
            "uninjured",
            "injuries_known",
        ];
        let m = members(&v, "", &top)?;
        let mut s = AccidentStats {
            accidents: count_of(m[0], "accidents")?,
            ..Default::default()
        };
        let sev = m[1].as_array().filter(|a| a.len() == 5).ok_or_else(|| {
            bad_field(
                "by_severity",
                "expected an array of 5 counts (FATL, SERS, MINR, NONE, UNKN)",
            )
        })?;
        for (i, c) in sev.iter().enumerate() {
            s.by_severity[i] = count_of(c, &format!("by_severity[{i}]"))?;
        }
        let names = ["known", "sum", "sum_sq_hi", "sum_sq_lo"];
        for (k, counter) in COUNTERS.iter().enumerate() {
            let f = members(m[2 + k], counter, &names)?;
            let form = CounterForm {
                known: count_of(f[0], &format!("{counter}.known"))?,
                sum: i64_of(f[1], &format!("{counter}.sum"))?,
                sum_sq_hi: i64_of(f[2], &format!("{counter}.sum_sq_hi"))?,
                sum_sq_lo: f[3].as_u64().ok_or_else(|| {
                    bad_field(
                        &format!("{counter}.sum_sq_lo"),
                        format!("{} is not an unsigned 64-bit integer", f[3]),
                    )
                })?,
            };
            let c = Counter::from(&form);
            match k {
                0 => s.fatalities = c,
                1 => s.serious = c,
                2 => s.minor = c,
                _ => s.uninjured = c,
            }
        }
        s.injuries_known = count_of(m[6], "injuries_known")?;
        s.validate()?;
        Ok(s)
    }

    /// Reads a stored value: this release's encoding (version byte first) or release 0.1.0's
    /// (CBOR of the text form's fields, which starts with a map header 0xA0-0xBF and so never
    /// with a version byte). Validated either way.
    pub fn from_stored(b: &[u8]) -> Result<AccidentStats, StatsError> {
        match b.first() {
            Some(&Self::VERSION) => Self::from_bytes(b),
            Some(0xA0..=0xBF) => {
                let unreadable = |e: String| {
                    StatsError::Inconsistent(format!(
                        "unreadable stored state of release 0.1.0: {e}"
                    ))
                };
                let mut rest = b;
                let form: StateForm = ciborium::from_reader(&mut rest)
                    .map_err(|e| unreadable(legacy_error(e, b.len())))?;
                if !rest.is_empty() {
                    return Err(unreadable(format!(
                        "trailing data at offset {}",
                        b.len() - rest.len()
                    )));
                }
                let s = AccidentStats::from(&form);
                s.validate()?;
                Ok(s)
            }
            other => Err(StatsError::Inconsistent(format!(
                "unknown stored format ({}; this release reads version {} and release 0.1.0's)",
                other.map_or("no bytes".to_string(), |b| format!("first byte {b}")),
                Self::VERSION
            ))),
        }
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
            s.add(r.0, r.1, r.2, r.3, r.4).unwrap();
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
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn empty_state_has_no_figures() {
        let s = AccidentStats::default();
        assert_eq!(s.fatal_rate(), None);
        assert_eq!(s.fatalities.total(), None);
        assert_eq!(s.fatalities.variance(), None);
        assert_eq!(s.injuries_per_accident(), None);
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn merging_in_any_split_equals_one_pass() {
        let rows = sample();
        let whole = fold(&rows);
        for cut in 0..=rows.len() {
            let mut a = fold(&rows[..cut]);
            a.merge(&fold(&rows[cut..])).unwrap();
            assert_eq!(a, whole, "cut at {cut}");
            let mut b = fold(&rows[cut..]);
            b.merge(&fold(&rows[..cut])).unwrap();
            assert_eq!(b, whole, "reversed cut at {cut}");
        }
    }

    #[test]
    fn bytes_round_trip_and_reject_garbage() {
        let s = fold(&sample());
        let b = s.to_bytes();
        assert_eq!(b[0], AccidentStats::VERSION);
        assert_eq!(AccidentStats::from_bytes(&b).unwrap(), s);
        assert!(AccidentStats::from_bytes(&b[1..]).is_err());
        assert!(AccidentStats::from_bytes(&[]).is_err());
        let mut other_version = b.clone();
        other_version[0] = 2;
        assert!(AccidentStats::from_bytes(&other_version).is_err());
        // a forged count in otherwise valid bytes: severity counts no longer add up
        let mut forged = b.clone();
        forged[1..9].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            AccidentStats::from_bytes(&forged),
            Err(StatsError::BadField { .. })
        ));
        forged[1..9].copy_from_slice(&7u64.to_le_bytes());
        assert!(matches!(
            AccidentStats::from_bytes(&forged),
            Err(StatsError::Inconsistent(_))
        ));
    }

    #[test]
    fn variance_is_stable_for_large_offsets() {
        let mut c = Counter::default();
        for x in [1_000_000_000, 1_000_000_001, 1_000_000_002] {
            c.add(Some(x), "x").unwrap();
        }
        assert_eq!(c.variance(), Some(1.0));
    }

    #[test]
    fn additions_are_checked_not_wrapped() {
        // 2^63 - 1 accidents: one more does not fit a bigint
        let mut s = AccidentStats {
            accidents: MAX_COUNT,
            by_severity: [0, 0, 0, 0, MAX_COUNT],
            ..Default::default()
        };
        assert_eq!(s.validate(), Ok(()));
        let before = s;
        assert!(matches!(
            s.add(None, None, None, None, None),
            Err(StatsError::Overflow(_))
        ));
        assert_eq!(s, before, "a failed addition changes nothing");
        let mut twice = s;
        assert!(matches!(twice.merge(&s), Err(StatsError::Overflow(_))));
        // fatalities summing past i64::MAX
        let big = Counter {
            known: 1 << 32,
            sum: i64::MAX,
            sum_sq: (i64::MAX as i128) << 31,
        };
        assert_eq!(big.validate("fatalities"), Ok(()));
        let mut c = big;
        assert!(matches!(
            c.merge(&big, "fatalities"),
            Err(StatsError::Overflow(_))
        ));
        let mut c = Counter {
            known: 1,
            sum: i64::MAX - 1,
            sum_sq: 0,
        };
        assert!(c.add(Some(2), "fatalities").is_err());
        assert_eq!(c.sum, i64::MAX - 1);
    }

    #[test]
    fn validation_rejects_impossible_states() {
        let good = fold(&sample());
        let bad = |f: &dyn Fn(&mut AccidentStats)| {
            let mut s = good;
            f(&mut s);
            s.validate()
        };
        assert!(
            bad(&|s| s.by_severity[0] += 1).is_err(),
            "counts must add up"
        );
        assert!(
            bad(&|s| s.fatalities.known = 7).is_err(),
            "known <= accidents"
        );
        assert!(
            bad(&|s| s.fatalities.sum_sq = -1).is_err(),
            "no negative squares"
        );
        assert!(
            bad(&|s| s.fatalities.sum_sq = 1).is_err(),
            "no negative variance"
        );
        assert!(
            bad(&|s| s.fatalities.sum = 3 << 31).is_err(),
            "sum within count * 2^31"
        );
        assert!(
            bad(&|s| {
                s.minor = Counter::default();
                s.injuries_known = 5;
            })
            .is_err(),
            "injuries_known <= serious + minor known"
        );
        assert!(
            bad(&|s| s.injuries_known = 2).is_err(),
            "injuries_known >= serious known"
        );
        let mut none_known = AccidentStats::default();
        none_known.add(None, None, None, None, None).unwrap();
        none_known.uninjured.sum = 1;
        assert!(none_known.validate().is_err(), "a sum without values");
        // every state built by additions is valid, its variance never negative
        for x in [i32::MIN, -1, 0, 1, i32::MAX] {
            let mut s = AccidentStats::default();
            s.add(Some("FATAL"), Some(x), Some(x), Some(x), Some(x))
                .unwrap();
            s.add(Some("MINOR"), Some(i32::MAX), None, Some(x), None)
                .unwrap();
            assert_eq!(s.validate(), Ok(()), "{x}");
            assert!(s.fatalities.variance().unwrap() >= 0.0);
            assert!(s.fatal_rate().unwrap() <= 1.0);
        }
    }

    #[test]
    fn wide_arithmetic() {
        assert_eq!(mul_wide(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
        assert_eq!(mul_wide(1 << 64, 1 << 64), (1, 0));
        assert_eq!(mul_wide(12345, 678), (0, 12345 * 678));
        assert_eq!(sub_wide((1, 0), (0, 1)), (0, u128::MAX));
        // the variance of a huge counter no longer overflows: n = 2^62 values of 2^31 - 1
        let x = i32::MAX as i128;
        let c = Counter {
            known: 1 << 62,
            sum: i64::MAX,
            sum_sq: (1i128 << 62) * x * x,
        };
        // sum is not n*x here (it would overflow i64), so the spread is large but valid
        assert!(c.variance().unwrap() > 0.0);
        let same = Counter {
            known: 1 << 31,
            sum: (1i64 << 31) * x as i64,
            sum_sq: (1i128 << 31) * x * x,
        };
        assert_eq!(same.variance(), Some(0.0));
    }
    #[test]
    fn text_form_round_trips_and_names_the_bad_field() {
        let s = fold(&sample());
        let text = s.to_json();
        assert!(text.starts_with(
            "{\"accidents\":6,\"by_severity\":[2,1,0,2,1],\"fatalities\":{\"known\":3"
        ));
        assert_eq!(AccidentStats::from_json(&text), Ok(s));
        let field_of = |t: &str| match AccidentStats::from_json(t) {
            Err(StatsError::BadField { field, .. }) => field,
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(field_of("garbage"), "(state)");
        assert_eq!(field_of("[1]"), "(state)");
        assert_eq!(
            field_of(&text.replace("\"accidents\":6", "\"accidents\":-6")),
            "accidents"
        );
        assert_eq!(
            field_of(&text.replace("\"accidents\":6", "\"accidents\":\"6\"")),
            "accidents"
        );
        assert_eq!(field_of(&text.replace("\"accidents\":6,", "")), "accidents");
        assert_eq!(
            field_of(&text.replace("\"accidents\":6", "\"accidents\":6,\"x\":1")),
            "x"
        );
        assert_eq!(
            field_of(&text.replace("[2,1,0,2,1]", "[2,1,0,2]")),
            "by_severity"
        );
        assert_eq!(
            field_of(&text.replace("[2,1,0,2,1]", "[2,1,0,2,1.5]")),
            "by_severity[4]"
        );
        assert_eq!(
            field_of(&text.replacen("\"known\":3", "\"known\":null", 1)),
            "fatalities.known"
        );
        assert!(matches!(
            AccidentStats::from_json(
                &text.replace("\"accidents\":6", "\"accidents\":18446744073709551615")
            ),
            Err(StatsError::Overflow(_))
        ));
        assert!(matches!(
            AccidentStats::from_json(&text.replace("\"accidents\":6", "\"accidents\":5")),
            Err(StatsError::Inconsistent(_))
        ));
    }

    /// CBOR, as release 0.1.0 (pgrx's default for a serde type, serde_cbor) wrote the form.
    fn cbor(form: &StateForm) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(form, &mut out).unwrap();
        out
    }

    #[test]
    fn stored_forms_of_both_releases_read() {
        let s = fold(&sample());
        // release 0.1.0 stored the text form's fields as CBOR (pgrx's default for a serde type)
        let legacy = cbor(&StateForm::from(&s));
        assert_eq!(legacy[0], 0xA7, "a map of seven fields");
        assert_eq!(AccidentStats::from_stored(&legacy), Ok(s));
        assert_eq!(AccidentStats::from_stored(&s.to_bytes()), Ok(s));
        assert!(AccidentStats::from_stored(&legacy[..legacy.len() - 3]).is_err());
        assert!(AccidentStats::from_stored(&[]).is_err());
        assert!(AccidentStats::from_stored(&[9, 9, 9]).is_err());
        let mut forged = StateForm::from(&s);
        forged.accidents = u64::MAX;
        assert!(AccidentStats::from_stored(&cbor(&forged)).is_err());
        // bytes after the value are refused, as release 0.1.0's reader refused them
        assert!(AccidentStats::from_stored(&[legacy.as_slice(), &[0]].concat()).is_err());
        // the reasons are worded as release 0.1.0's reader (serde_cbor) worded them
        let reason = |b: &[u8]| match AccidentStats::from_stored(b) {
            Err(StatsError::Inconsistent(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(&legacy[..40]),
            "unreadable stored state of release 0.1.0: EOF while parsing a value at offset 40"
        );
        assert_eq!(
            reason(&[legacy.as_slice(), &[0, 0]].concat()),
            format!(
                "unreadable stored state of release 0.1.0: trailing data at offset {}",
                legacy.len()
            )
        );
        assert_eq!(
            reason(&[0xA1, 0x61, b'x', 0x01]),
            "unreadable stored state of release 0.1.0: missing field `accidents`"
        );
    }

    /// What the 0.1.0 build (commit d5ba42d) stored for the three groups of
    /// tests/regress/sql/stats_legacy.inc, and their text form.
    const RELEASE_0_1_0: [(&str, &str); 3] = [
        (
            "a7696163636964656e7473086b62795f73657665726974798502010102026a666174616c6974\
             696573a4656b6e6f776e046373756d076973756d5f73715f6869006973756d5f73715f6c6f18\
             1d67736572696f7573a4656b6e6f776e056373756d036973756d5f73715f6869006973756d5f\
             73715f6c6f05656d696e6f72a4656b6e6f776e046373756d046973756d5f73715f6869006973\
             756d5f73715f6c6f0a69756e696e6a75726564a4656b6e6f776e056373756d187e6973756d5f\
             73715f6869006973756d5f73715f6c6f19384e6e696e6a75726965735f6b6e6f776e05",
            r#"{"accidents":8,"by_severity":[2,1,1,2,2],"fatalities":{"known":4,"sum":7,"sum_sq_hi":0,"sum_sq_lo":29},"serious":{"known":5,"sum":3,"sum_sq_hi":0,"sum_sq_lo":5},"minor":{"known":4,"sum":4,"sum_sq_hi":0,"sum_sq_lo":10},"uninjured":{"known":5,"sum":126,"sum_sq_hi":0,"sum_sq_lo":14414},"injuries_known":5}"#,
        ),
        (
            "a7696163636964656e7473036b62795f73657665726974798502000001006a666174616c6974\
             696573a4656b6e6f776e036373756d1afffffff96973756d5f73715f6869006973756d5f7371\
             5f6c6f1b7ffffffe0000001b67736572696f7573a4656b6e6f776e036373756d206973756d5f\
             73715f6869006973756d5f73715f6c6f1b7fffffff00000001656d696e6f72a4656b6e6f776e\
             026373756d1a7fffffff6973756d5f73715f6869006973756d5f73715f6c6f1b3fffffff0000\
             000169756e696e6a75726564a4656b6e6f776e036373756d1a7fffffff6973756d5f73715f68\
             69006973756d5f73715f6c6f1b3fffffff000000016e696e6a75726965735f6b6e6f776e03",
            r#"{"accidents":3,"by_severity":[2,0,0,1,0],"fatalities":{"known":3,"sum":4294967289,"sum_sq_hi":0,"sum_sq_lo":9223372028264841243},"serious":{"known":3,"sum":-1,"sum_sq_hi":0,"sum_sq_lo":9223372032559808513},"minor":{"known":2,"sum":2147483647,"sum_sq_hi":0,"sum_sq_lo":4611686014132420609},"uninjured":{"known":3,"sum":2147483647,"sum_sq_hi":0,"sum_sq_lo":4611686014132420609},"injuries_known":3}"#,
        ),
        (
            "a7696163636964656e7473016b62795f73657665726974798500000001006a666174616c6974\
             696573a4656b6e6f776e006373756d006973756d5f73715f6869006973756d5f73715f6c6f00\
             67736572696f7573a4656b6e6f776e006373756d006973756d5f73715f6869006973756d5f73\
             715f6c6f00656d696e6f72a4656b6e6f776e006373756d006973756d5f73715f686900697375\
             6d5f73715f6c6f0069756e696e6a75726564a4656b6e6f776e006373756d006973756d5f7371\
             5f6869006973756d5f73715f6c6f006e696e6a75726965735f6b6e6f776e00",
            r#"{"accidents":1,"by_severity":[0,0,0,1,0],"fatalities":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"serious":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"minor":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"uninjured":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"injuries_known":0}"#,
        ),
    ];

    #[test]
    fn bytes_release_0_1_0_stored_read() {
        for (hex, text) in RELEASE_0_1_0 {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let s = AccidentStats::from_stored(&bytes).unwrap();
            assert_eq!(s.to_json(), text);
            // the CBOR written here for that form is byte for byte 0.1.0's
            assert_eq!(cbor(&StateForm::from(&s)), bytes);
        }
    }

    #[test]
    fn severity_counts_name_every_code() {
        let s = fold(&sample());
        assert_eq!(
            s.severity_counts(),
            serde_json::json!({"FATL": s.by_severity[0], "SERS": s.by_severity[1],
                               "MINR": s.by_severity[2], "NONE": s.by_severity[3],
                               "UNKN": s.by_severity[4]})
        );
        assert_eq!(
            AccidentStats::default().severity_counts(),
            serde_json::json!({"FATL": 0, "SERS": 0, "MINR": 0, "NONE": 0, "UNKN": 0})
        );
    }
}
