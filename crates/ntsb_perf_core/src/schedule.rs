//! The schedule syntax of the installed pg_cron (1.4), shared by every kind of job ntsb_perf
//! schedules (refresh, auto-reindex, index snapshots), so a `schedule_*` function can reject what
//! pg_cron would reject, when it is called rather than when the job would first run, and say
//! which field is wrong.
//!
//! pg_cron 1.4 parses a schedule with Paul Vixie's cron parser fed from an in-memory buffer:
//! five fields (minute hour day-of-month month day-of-week), each a comma-separated list of `*`,
//! `N`, `N-M`, `*/S` or `N-M/S`; month and day-of-week also take three-letter names in any case
//! (`jan`, `Mon`); day-of-week 0 and 7 are both Sunday; or one of `@yearly`, `@annually`,
//! `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`, `@reboot`, `@restart` (lowercase).
//! It has no seconds (`30 seconds`) and no `$` (last day of month): those came in pg_cron 1.5.
//! This is a behaviour-for-behaviour reimplementation of that parser, quirks included (text
//! after the fifth field, or after a complete list item, is ignored exactly where pg_cron
//! ignores it), checked against the installed pg_cron on a fuzzed corpus by the regression
//! tests.

/// End of input, as the C parser's `EOF`.
const EOF: i32 = -1;
/// The C parser's length limits (`MAX_FILE_BUFFER_LENGTH`, `MAX_TEMPSTR`).
const MAX_SCHEDULE: usize = 1000;
const MAX_TOKEN: usize = 1000;

const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DOW_NAMES: [&str; 8] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CronSchedule {
    pub minutes: u64,
    pub hours: u32,
    /// Bit d-1 for day d.
    pub days_of_month: u32,
    /// Bit m-1 for month m.
    pub months: u16,
    /// Bit 0 = Sunday ... bit 6 = Saturday (7 is folded into 0).
    pub days_of_week: u8,
    /// `@reboot` / `@restart`: run once when pg_cron starts.
    pub at_start: bool,
}

impl CronSchedule {
    /// The values each field selects, as `parse_cron` lists them: minutes (0-59), hours (0-23),
    /// days of month (1-31), months (1-12), days of week (0-6, 0 = Sunday), each ascending.
    pub fn field_values(&self) -> [Vec<i32>; 5] {
        fn values(mask: u64, first: i32, count: i32) -> Vec<i32> {
            (0..count)
                .filter(|i| mask & (1u64 << i) != 0)
                .map(|i| i + first)
                .collect()
        }
        [
            values(self.minutes, 0, 60),
            values(self.hours as u64, 0, 24),
            values(self.days_of_month as u64, 1, 31),
            values(self.months as u64, 1, 12),
            values(self.days_of_week as u64, 0, 7),
        ]
    }
}

/// Why a schedule is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    /// `minute`, `hour`, `day of month`, `month`, `day of week` or `schedule`.
    pub field: &'static str,
    pub reason: String,
}

impl std::fmt::Display for CronError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field == "schedule" {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{} field: {}", self.field, self.reason)
        }
    }
}

/// The input as the C parser reads it: bytes as signed chars, one `'\0'` at the end, then EOF,
/// with a push-back stack.
struct Stream<'a> {
    data: &'a [u8],
    pos: usize,
    pushed: Vec<i32>,
}

impl Stream<'_> {
    fn get(&mut self) -> i32 {
        if let Some(c) = self.pushed.pop() {
            c
        } else if self.pos == self.data.len() {
            self.pos += 1;
            0
        } else if self.pos > self.data.len() {
            EOF
        } else {
            let c = self.data[self.pos] as i8 as i32;
            self.pos += 1;
            c
        }
    }
}

fn is_alnum(c: i32) -> bool {
    (0..128).contains(&c) && (c as u8).is_ascii_alphanumeric()
}

fn show(c: i32) -> String {
    match c {
        0 | EOF => "end of schedule".to_string(),
        c if (32..127).contains(&c) => format!("\"{}\"", c as u8 as char),
        c => format!("character {}", c & 0xff),
    }
}

struct Field {
    name: &'static str,
    low: i32,
    high: i32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        low: 0,
        high: 59,
        names: &[],
    },
    Field {
        name: "hour",
        low: 0,
        high: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        low: 1,
        high: 31,
        names: &[],
    },
    Field {
        name: "month",
        low: 1,
        high: 12,
        names: &MONTH_NAMES,
    },
    Field {
        name: "day of week",
        low: 0,
        high: 7,
        names: &DOW_NAMES,
    },
];

type Step<T> = Result<T, String>;

/// `get_number`: an alphanumeric token, a name (offset by `low`) or digits. Returns the value
/// and the character after it.
fn get_number(s: &mut Stream, low: i32, names: &[&str], mut ch: i32) -> Step<(i64, i32)> {
    let mut tok = String::new();
    while is_alnum(ch) {
        if tok.len() + 1 >= MAX_TOKEN {
            return Err("token too long".into());
        }
        tok.push(ch as u8 as char);
        ch = s.get();
    }
    if tok.is_empty() {
        return Err(format!("expected a number, found {}", show(ch)));
    }
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(&tok)) {
        return Ok((i as i64 + low as i64, ch));
    }
    if tok.bytes().all(|b| b.is_ascii_digit()) {
        // atoi: strtol saturating at the 64-bit limits, then truncated to int.
        let v = tok.parse::<i64>().unwrap_or(i64::MAX);
        return Ok((v as i32 as i64, ch));
    }
    if names.is_empty() {
        Err(format!("\"{tok}\" is not a number"))
    } else {
        Err(format!("\"{tok}\" is neither a number nor a name"))
    }
}

/// `get_range`: `*`, `N`, `N-M`, each of the last two with an optional `/step` (not `N/step`).
fn get_range(s: &mut Stream, f: &Field, bits: &mut u64, mut ch: i32) -> Step<i32> {
    let (num1, num2);
    if ch == '*' as i32 {
        num1 = f.low as i64;
        num2 = f.high as i64;
        ch = s.get();
        if ch == EOF {
            return Err("unexpected end".into());
        }
    } else {
        let (n1, c) = get_number(s, f.low, f.names, ch)?;
        ch = c;
        if ch != '-' as i32 {
            if ch == '/' as i32 {
                return Err(format!(
                    "a step needs a range or \"*\" before it (\"{n1}/...\" is not accepted; write \"{n1}-{}/...\")",
                    f.high
                ));
            }
            set_element(f, bits, n1)?;
            return Ok(ch);
        }
        ch = s.get();
        if ch == EOF {
            return Err("unexpected end".into());
        }
        let (n2, c) = get_number(s, f.low, f.names, ch)?;
        ch = c;
        num1 = n1;
        num2 = n2;
    }
    let step;
    if ch == '/' as i32 {
        ch = s.get();
        if ch == EOF {
            return Err("unexpected end".into());
        }
        let (n3, c) = get_number(s, 0, &[], ch)?;
        ch = c;
        if n3 <= 0 {
            return Err(format!("step must be positive, not {n3}"));
        }
        step = n3;
    } else {
        step = 1;
    }
    for n in [num1, num2] {
        if n < f.low as i64 || n > f.high as i64 {
            return Err(out_of_range(f, n));
        }
    }
    let mut i = num1;
    while i <= num2 {
        set_element(f, bits, i)?;
        i += step;
    }
    Ok(ch)
}

fn out_of_range(f: &Field, n: i64) -> String {
    format!("{n} is out of range {}-{}", f.low, f.high)
}

fn set_element(f: &Field, bits: &mut u64, n: i64) -> Step<()> {
    if n < f.low as i64 || n > f.high as i64 {
        return Err(out_of_range(f, n));
    }
    *bits |= 1 << (n - f.low as i64);
    Ok(())
}

fn skip_nonblanks(s: &mut Stream, mut ch: i32) -> i32 {
    while ch != '\t' as i32 && ch != ' ' as i32 && ch != '\n' as i32 && ch != EOF && ch != 0 {
        ch = s.get();
    }
    ch
}

fn skip_blanks(s: &mut Stream, mut ch: i32) -> i32 {
    while ch == '\t' as i32 || ch == ' ' as i32 {
        ch = s.get();
    }
    ch
}

/// `get_list`: ranges separated by commas, then whatever follows up to the next blank is
/// skipped (as pg_cron does), then the blanks.
fn get_list(s: &mut Stream, f: &Field, bits: &mut u64, mut ch: i32) -> Result<i32, CronError> {
    let err = |reason: String| CronError {
        field: f.name,
        reason,
    };
    loop {
        ch = get_range(s, f, bits, ch).map_err(err)?;
        if ch == ',' as i32 {
            ch = s.get();
        } else {
            break;
        }
    }
    ch = skip_nonblanks(s, ch);
    Ok(skip_blanks(s, ch))
}

/// `skip_comments`: blank lines and `#` comment lines before the schedule.
fn skip_comments(s: &mut Stream) {
    let mut ch;
    loop {
        ch = s.get();
        if ch == EOF {
            break;
        }
        while ch == ' ' as i32 || ch == '\t' as i32 {
            ch = s.get();
        }
        if ch == EOF {
            break;
        }
        if ch != '\n' as i32 && ch != '#' as i32 {
            break;
        }
        while ch != '\n' as i32 && ch != EOF {
            ch = s.get();
        }
    }
    if ch != EOF {
        s.pushed.push(ch);
    }
}

/// Parses a schedule exactly as pg_cron 1.4 does.
pub fn parse(schedule: &str) -> Result<CronSchedule, CronError> {
    parse_vixie(schedule).map_err(|mut e| {
        // Say why the syntaxes of later pg_cron versions fail here.
        let t = schedule.trim().to_ascii_lowercase();
        if t.ends_with("second") || t.ends_with("seconds") {
            e.reason = format!(
                "{e}; interval schedules such as '30 seconds' came in pg_cron 1.5, the installed \
                 1.4 runs jobs at most once a minute ('* * * * *')"
            );
            e.field = "schedule";
        } else if t.contains('$') {
            e.reason = format!("{e}; '$' (last day of the month) came in pg_cron 1.5");
            e.field = "schedule";
        }
        e
    })
}

fn parse_vixie(schedule: &str) -> Result<CronSchedule, CronError> {
    let whole = |reason: String| CronError {
        field: "schedule",
        reason,
    };
    if schedule.len() >= MAX_SCHEDULE {
        return Err(whole(format!(
            "a schedule must be shorter than {MAX_SCHEDULE} bytes"
        )));
    }
    if schedule.trim().is_empty() {
        return Err(whole("the schedule is empty".into()));
    }
    let mut s = Stream {
        data: schedule.as_bytes(),
        pos: 0,
        pushed: Vec::new(),
    };
    skip_comments(&mut s);
    let mut ch = s.get();
    if ch == EOF {
        return Err(whole("the schedule is empty".into()));
    }
    let mut out = CronSchedule::default();
    if ch == '@' as i32 {
        let mut word = String::new();
        loop {
            ch = s.get();
            if ch == EOF || ch == ' ' as i32 || ch == '\t' as i32 || ch == '\n' as i32 || ch == 0 {
                break;
            }
            word.push((ch & 0xff) as u8 as char);
        }
        let all = |n: u32| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
        let (min, hour, dom, month, dow) = match word.as_str() {
            "reboot" | "restart" => {
                out.at_start = true;
                return Ok(out);
            }
            "yearly" | "annually" => (1, 1, 1, 1, all(7)),
            "monthly" => (1, 1, 1, all(12), all(7)),
            "weekly" => (1, 1, all(31), all(12), 1),
            "daily" | "midnight" => (1, 1, all(31), all(12), all(7)),
            "hourly" => (1, all(24), all(31), all(12), all(7)),
            _ => {
                return Err(whole(format!(
                    "unknown \"@{word}\": pg_cron 1.4 accepts @yearly, @annually, @monthly, \
                     @weekly, @daily, @midnight, @hourly, @reboot and @restart (lowercase)"
                )))
            }
        };
        out.minutes = min;
        out.hours = hour as u32;
        out.days_of_month = dom as u32;
        out.months = month as u16;
        out.days_of_week = dow as u8;
        return Ok(out);
    }
    let mut bits = [0u64; 5];
    for (i, f) in FIELDS.iter().enumerate() {
        ch = get_list(&mut s, f, &mut bits[i], ch)?;
    }
    out.minutes = bits[0];
    out.hours = bits[1] as u32;
    out.days_of_month = bits[2] as u32;
    out.months = bits[3] as u16;
    // Sunday is 0 and 7.
    let dow = bits[4];
    out.days_of_week = ((dow & 0x7f) | (dow >> 7)) as u8;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> CronSchedule {
        parse(s).unwrap_or_else(|e| panic!("{s:?} rejected: {e}"))
    }

    fn err(s: &str) -> CronError {
        match parse(s) {
            Ok(v) => panic!("{s:?} accepted: {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn five_fields_with_ranges_lists_steps_and_names() {
        let c = ok("*/15 2-4 1,15 jan-MAR mon-fri");
        assert_eq!(c.minutes, 1 | 1 << 15 | 1 << 30 | 1 << 45);
        assert_eq!(c.hours, 0b11100);
        assert_eq!(c.days_of_month, 1 | 1 << 14);
        assert_eq!(c.months, 0b111);
        assert_eq!(c.days_of_week, 0b0111110);
        assert_eq!(ok("0 0 * * 7").days_of_week, 1);
        assert_eq!(ok("0 0 * * 0").days_of_week, 1);
        assert_eq!(ok("10-50/20 * * * *").minutes, 1 << 10 | 1 << 30 | 1 << 50);
        assert_eq!(ok("* * * * *").minutes, (1u64 << 60) - 1);
    }

    #[test]
    fn field_values_list_each_selected_value() {
        let [minutes, hours, days, months, dows] = ok("*/15 2-4 * * mon-fri").field_values();
        assert_eq!(minutes, [0, 15, 30, 45]);
        assert_eq!(hours, [2, 3, 4]);
        assert_eq!(days, (1..=31).collect::<Vec<_>>());
        assert_eq!(months, (1..=12).collect::<Vec<_>>());
        assert_eq!(dows, [1, 2, 3, 4, 5]);
        let [m, h, d, mo, w] = ok("59 23 31 12 7").field_values();
        assert_eq!(
            (m, h, d, mo, w),
            (vec![59], vec![23], vec![31], vec![12], vec![0])
        );
        assert!(ok("@reboot").field_values().iter().all(Vec::is_empty));
    }

    #[test]
    fn named_schedules() {
        assert_eq!(ok("@daily"), ok("0 0 * * *"));
        assert_eq!(ok("@hourly").hours, (1 << 24) - 1);
        assert!(ok("@reboot").at_start);
        assert_eq!(err("@Daily").field, "schedule");
        assert!(err("@every_minute").reason.contains("@hourly"));
    }

    #[test]
    fn what_pg_cron_14_rejects() {
        assert!(err("30 seconds").reason.contains("pg_cron 1.5"));
        assert!(err("0 12 $ * *").reason.contains("pg_cron 1.5"));
        assert_eq!(err("60 * * * *").reason, "60 is out of range 0-59");
        assert_eq!(err("* 24 * * *").field, "hour");
        assert_eq!(err("* * 0 * *").field, "day of month");
        assert_eq!(err("* * * 13 *").field, "month");
        assert_eq!(err("* * * * 8").field, "day of week");
        assert_eq!(err("* * * *").field, "day of week");
        assert_eq!(err("5/10 * * * *").field, "minute");
        assert_eq!(err("*/0 * * * *").reason, "step must be positive, not 0");
        assert_eq!(err("* * * * funday").field, "day of week");
        assert_eq!(err("jan * * * *").field, "minute");
        assert_eq!(err("").field, "schedule");
        assert_eq!(err("   ").field, "schedule");
        assert_eq!(err(&"1,".repeat(600)).field, "schedule");
    }

    #[test]
    fn quirks_kept_from_pg_cron() {
        // Text after the fifth field is ignored (the C parser expected a command there).
        assert_eq!(ok("* * * * * anything"), ok("* * * * *"));
        // Non-alphanumeric text after a complete list item is skipped up to the next blank.
        assert_eq!(ok("5? * * * *").minutes, 1 << 5);
        // A reversed range is accepted and selects nothing.
        assert_eq!(ok("50-10 * * * *").minutes, 0);
        // Comment lines before the schedule are skipped.
        assert_eq!(ok("# nightly\n0 3 * * *").hours, 1 << 3);
    }
}
