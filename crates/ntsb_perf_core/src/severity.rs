//! Injury-severity codes of the NTSB exports, normalised to the NTSB's own highest-injury codes.
//!
//! Every distinct value of `ntsb_accidents_2000_2021.csv` (CAROL export, 35,391 accidents):
//!
//! | source value | count | code |
//! |---|---|---|
//! | `NON-FATAL` | 26,238 | `NONE`: no fatality; the export does not say whether anyone was hurt, the injury columns do |
//! | `FATAL(n)`, n = 1…265 | 5,723 | `FATL` |
//! | (empty) | 2,085 | `UNKN` |
//! | `INCIDENT` | 903 | `NONE`: an incident, not an accident with injuries |
//! | `FATAL` | 159 | `FATL` |
//! | `MINOR` | 120 | `MINR` |
//! | `SIRUOSE` | 95 | `SERS` (the export's misspelling of SERIOUS) |
//! | `UNAVAILABLE` | 41 | `UNKN` |
//!
//! Also accepted, for other exports and hand-typed data: the NTSB codes themselves (`FATL`,
//! `SERS`, `MINR`, `NONE`, `UNKN`), `SERIOUS`, `NONE`/`NO INJURY`/`NON FATAL`/`NONFATAL`, `FATAL (n)`,
//! any letter case and surrounding blanks. Anything else is `UNKN`: never dropped, never an error.

/// The normalised codes, in the order the statistics keep them.
pub const CODES: [&str; 5] = ["FATL", "SERS", "MINR", "NONE", "UNKN"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Fatal = 0,
    Serious = 1,
    Minor = 2,
    None = 3,
    Unknown = 4,
}

impl Severity {
    pub fn code(self) -> &'static str {
        CODES[self as usize]
    }
}

/// Maps a source value (or NULL) to its severity.
pub fn classify(raw: Option<&str>) -> Severity {
    let Some(raw) = raw else {
        return Severity::Unknown;
    };
    // Fast path, no allocation: the export's own spellings (this runs once per row).
    if let Some(s) = exact(raw.trim()) {
        return s;
    }
    let v: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    exact(&v).unwrap_or(Severity::Unknown)
}

/// [`classify`] of a value's raw bytes, as the aggregate reads them out of a `text` datum
/// without copying or validating it. The export's own spellings (every row of the real export,
/// blanks around them included) are matched on the bytes; anything else goes through
/// [`classify`] when it is UTF-8, and is `UNKN` when it is not (no spelling matches it).
pub fn classify_bytes(raw: &[u8]) -> Severity {
    if let Some(s) = exact_bytes(raw.trim_ascii()) {
        return s;
    }
    match std::str::from_utf8(raw) {
        Ok(v) => classify(Some(v)),
        Err(_) => Severity::Unknown,
    }
}

/// Upper-case spellings without blanks.
fn exact(v: &str) -> Option<Severity> {
    exact_bytes(v.as_bytes())
}

fn exact_bytes(v: &[u8]) -> Option<Severity> {
    Some(match v {
        b"FATL" | b"FATAL" => Severity::Fatal,
        b"SERS" | b"SERIOUS" | b"SIRUOSE" | b"SERIOUSINJURY" => Severity::Serious,
        b"MINR" | b"MINOR" | b"MINORINJURY" => Severity::Minor,
        b"NONE" | b"NON-FATAL" | b"NONFATAL" | b"NOINJURY" | b"INCIDENT" => Severity::None,
        _ if is_fatal_count(v) => Severity::Fatal,
        _ => return None,
    })
}

/// `FATAL(n)` with a whole number n ≥ 1 (blanks already removed).
fn is_fatal_count(v: &[u8]) -> bool {
    v.strip_prefix(b"FATAL(")
        .and_then(|r| r.strip_suffix(b")"))
        .is_some_and(|n| {
            !n.is_empty() && n.iter().all(|b| b.is_ascii_digit()) && n.iter().any(|b| *b != b'0')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_of_the_real_export() {
        let cases = [
            ("NON-FATAL", "NONE"),
            ("FATAL(1)", "FATL"),
            ("FATAL(265)", "FATL"),
            ("", "UNKN"),
            ("INCIDENT", "NONE"),
            ("FATAL", "FATL"),
            ("MINOR", "MINR"),
            ("SIRUOSE", "SERS"),
            ("UNAVAILABLE", "UNKN"),
        ];
        for (raw, code) in cases {
            assert_eq!(classify(Some(raw)).code(), code, "{raw:?}");
        }
    }

    #[test]
    fn variants_and_garbage() {
        assert_eq!(classify(Some("  fatal (2) ")).code(), "FATL");
        assert_eq!(classify(Some("Serious")).code(), "SERS");
        assert_eq!(classify(Some("sers")).code(), "SERS");
        assert_eq!(classify(Some("no injury")).code(), "NONE");
        assert_eq!(classify(Some("FATAL(0)")).code(), "UNKN");
        assert_eq!(classify(Some("FATAL(x)")).code(), "UNKN");
        assert_eq!(classify(Some("FATAL(")).code(), "UNKN");
        assert_eq!(classify(Some("???")).code(), "UNKN");
        assert_eq!(classify(None).code(), "UNKN");
    }

    /// The byte path agrees with the text path on every value, including blanks that only
    /// Unicode calls blanks, and refuses bytes that are not UTF-8.
    #[test]
    fn bytes_agree_with_text() {
        let values = [
            "NON-FATAL",
            "FATAL(1)",
            "FATAL(265)",
            "",
            "INCIDENT",
            "FATAL",
            "MINOR",
            "SIRUOSE",
            "UNAVAILABLE",
            "  fatal (2) ",
            "Serious",
            "sers",
            "no injury",
            "FATAL(0)",
            "FATAL(x)",
            "FATAL(",
            "???",
            " FATAL(3)\t",
            "\u{a0}MINOR\u{2003}",
            "Fatal(007)",
            "NONE ",
            "ßERS",
            "FATAL()",
            "FATAL(12",
            "INCIDENT\n",
            "MINOR INJURY",
        ];
        for v in values {
            assert_eq!(classify_bytes(v.as_bytes()), classify(Some(v)), "{v:?}");
        }
        assert_eq!(classify_bytes(b"FAT\xffAL"), Severity::Unknown);
        assert_eq!(classify_bytes(b"\xc3"), Severity::Unknown);
    }
}
