//! The schedule syntax of the installed pg_cron, shared by every kind of job ntsb_perf schedules
//! (refresh, auto-reindex, index snapshots), so a `schedule_*` function can reject what pg_cron
//! would reject, when it is called rather than when the job would first run, and say which
//! field is wrong. Two grammars ([`CronGrammar`]), each a behaviour-for-behaviour port of that
//! pg_cron's C code, quirks included, checked against the real pg_cron on a fuzzed corpus by the
//! regression tests (tests/regress/sql/refresh.sql).
//!
//! pg_cron 1.4 (1.4.2: Debian 12, PostgreSQL 15) parses a schedule with Paul Vixie's cron parser
//! fed from an in-memory buffer (src/entry.c `parse_cron_entry`): five fields (minute hour
//! day-of-month month day-of-week), each a comma-separated list of `*`, `N`, `N-M`, `*/S` or
//! `N-M/S`; month and day-of-week also take three-letter names in any case (`jan`, `Mon`);
//! day-of-week 0 and 7 are both Sunday; or one of `@yearly`, `@annually`, `@monthly`,
//! `@weekly`, `@daily`, `@midnight`, `@hourly`, `@reboot`, `@restart` (lowercase). Text after
//! the fifth field, or after a complete list item, is ignored exactly where pg_cron ignores it.
//!
//! pg_cron 1.6 (1.6.5: Debian 13, PostgreSQL 17; 1.6.8: Debian testing, PostgreSQL 18) differs
//! in five ways. They were read from pg_cron's source (job_metadata.c) and from the LLVM bitcode
//! Debian ships of the 1.4.2, 1.6.5 and 1.6.8 builds (entry.c, misc.c, job_metadata.c), and
//! checked once by running those builds' own `parse_cron_entry` (compiled from the bitcode) and
//! glibc's sscanf against this port on 180,000 strings: the same answer and the same bits for
//! every one.
//!
//! - an interval schedule, `'30 seconds'` (pg_cron 1.5): src/job_metadata.c `ParseSchedule`
//!   tries `parse_cron_entry` first, then `TryParseInterval`, which is
//!   `sscanf(lowercase, " %u secon%c%c %c", ...)`: `<n> second` or `<n> seconds`, n from 1 to
//!   59, any case, blanks before, between and (after `seconds` only) after; see
//!   [`parse_interval`] for the exact quirks;
//! - `$` as the whole day-of-month field, followed by a blank: the last day of the month
//!   (pg_cron 1.6.0, src/entry.c `parse_cron_entry`); `$` anywhere else is refused as before;
//! - a step larger than the field's largest value (`*/60` minutes, `*/13` months) is refused
//!   (src/entry.c `get_range`);
//! - a step-1 range `N-M` is set with `bit_nset` (src/entry.c `set_range`), so a reversed one
//!   whose ends lie in different bytes of the bit string selects values (`50-10` minutes:
//!   8-10 and 50-55) where 1.4 selects none; both accept it;
//! - `@yearly` and `@annually` select no month (src/entry.c `parse_cron_entry` passes
//!   FIRST_MINUTE, 0, as the month to `set_element`, which refuses it), so such a job never
//!   runs; both accept them.

/// End of input, as the C parser's `EOF`.
const EOF: i32 = -1;
/// The C parser's length limits (`MAX_FILE_BUFFER_LENGTH`, `MAX_TEMPSTR`).
const MAX_SCHEDULE: usize = 1000;
const MAX_TOKEN: usize = 1000;

const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DOW_NAMES: [&str; 8] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Which pg_cron's schedule grammar to follow: the one of the pg_cron library the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronGrammar {
    /// pg_cron 1.4 (and older): five fields or an `@` word.
    PgCron14,
    /// pg_cron 1.6: also `'30 seconds'` and `$`, and its stricter steps (see the module).
    PgCron16,
}

impl CronGrammar {
    /// The grammar of a pg_cron extension version (`extversion`, a control file's
    /// `default_version`): `1.4`, `1.4-1` (Debian 12's), `1.6`. Versions before 1.5, and text
    /// that is no version, get 1.4's; 1.5 and later get 1.6's, the only later grammar checked
    /// (1.5 already has the interval schedules but not yet `$`).
    pub fn for_version(version: &str) -> CronGrammar {
        let mut numbers = version
            .trim()
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().ok());
        let major = numbers.next().flatten();
        let minor = numbers.next().flatten().unwrap_or(0);
        match major {
            Some(major) if (major, minor) >= (1, 5) => CronGrammar::PgCron16,
            _ => CronGrammar::PgCron14,
        }
    }

    /// The pg_cron version this grammar is, as messages name it.
    pub fn version(self) -> &'static str {
        match self {
            CronGrammar::PgCron14 => "1.4",
            CronGrammar::PgCron16 => "1.6",
        }
    }

    /// What a schedule may be, for the HINT of an invalid one. Both start alike, so a text that
    /// shows either can match both up to "and lists".
    pub fn hint(self) -> &'static str {
        match self {
            CronGrammar::PgCron14 => {
                "pg_cron 1.4 takes five fields (minute hour day-of-month month day-of-week) with \
                 *, N, N-M, */S, N-M/S and lists, or @hourly/@daily/@weekly/@monthly/@yearly."
            }
            // No @yearly: pg_cron 1.6 accepts it but never runs it (see the module).
            CronGrammar::PgCron16 => {
                "pg_cron 1.6 takes five fields (minute hour day-of-month month day-of-week) with \
                 *, N, N-M, */S, N-M/S and lists (a step at most the field's largest value; $ \
                 alone as the day of month: its last day), or @hourly/@daily/@weekly/@monthly, \
                 or an interval of 1 to 59 seconds ('30 seconds')."
            }
        }
    }
}

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
    /// pg_cron 1.5+: an interval schedule (`'30 seconds'`), run every this many seconds (1-59);
    /// every field is then empty, as in pg_cron's entry.
    pub interval_seconds: Option<u32>,
    /// pg_cron 1.6: `$` as the day of month, the last day of each month (`days_of_month` is
    /// then empty: pg_cron sets a flag, no day).
    pub last_day_of_month: bool,
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
const DAY_OF_MONTH: usize = 2;

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
        // atoi (1.4) and strtol (1.6): saturating at the 64-bit limits, then truncated to int.
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
fn get_range(s: &mut Stream, f: &Field, g: CronGrammar, bits: &mut u64, mut ch: i32) -> Step<i32> {
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
    // pg_cron 1.6's get_range checks the step with the ends (`num3 > high`); 1.4 takes any.
    if g == CronGrammar::PgCron16 && step > f.high as i64 {
        return Err(format!(
            "step {step} is larger than {}, the largest value of the field (pg_cron 1.6 refuses it)",
            f.high
        ));
    }
    let (start, stop) = (num1 - f.low as i64, num2 - f.low as i64);
    if g == CronGrammar::PgCron16 && step == 1 {
        // 1.6's set_range: bit_nset for step 1, reversed ranges included.
        bit_nset(bits, start, stop);
    } else {
        // 1.4's loop of set_element (1.6's set_range for other steps does the same): a reversed
        // range selects nothing.
        let mut i = start;
        while i <= stop {
            *bits |= 1 << i;
            i += step;
        }
    }
    Ok(ch)
}

/// The `bit_nset` macro of bitstring.h, byte by byte: from `start`'s byte up to `stop`'s. When
/// `start > stop` in different bytes it sets the top of `start`'s byte and the bottom of
/// `stop`'s, which is what pg_cron 1.6 does with a reversed range; bits past the field's last
/// value that this sets are dropped by [`parse_vixie`] (pg_cron never reads them).
fn bit_nset(bits: &mut u64, start: i64, stop: i64) {
    let (first, last) = (start >> 3, stop >> 3);
    let low_part = |b: i64| (0xffu64 >> (7 - (b & 7))) & 0xff;
    let high_part = |b: i64| (0xffu64 << (b & 7)) & 0xff;
    if first == last {
        *bits |= (high_part(start) & low_part(stop)) << (first * 8);
    } else {
        *bits |= high_part(start) << (first * 8);
        let mut byte = first + 1;
        while byte < last {
            *bits |= 0xff << (byte * 8);
            byte += 1;
        }
        *bits |= low_part(stop) << (last * 8);
    }
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
fn get_list(
    s: &mut Stream,
    f: &Field,
    g: CronGrammar,
    bits: &mut u64,
    mut ch: i32,
) -> Result<i32, CronError> {
    let err = |reason: String| CronError {
        field: f.name,
        reason,
    };
    loop {
        ch = get_range(s, f, g, bits, ch).map_err(err)?;
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

/// Parses a schedule exactly as the pg_cron of `grammar` does (its `cron.schedule` accepts it
/// exactly when this returns `Ok`).
pub fn parse(schedule: &str, grammar: CronGrammar) -> Result<CronSchedule, CronError> {
    let cron_error = match parse_vixie(schedule, grammar) {
        Ok(c) => return Ok(c),
        Err(e) => e,
    };
    match grammar {
        CronGrammar::PgCron14 => Err(explain_14(schedule, cron_error)),
        // ParseSchedule: the interval only when the cron parser refused the text (the text in
        // full: the interval has no length limit).
        CronGrammar::PgCron16 => match parse_interval(schedule) {
            Interval::Seconds(n) => Ok(CronSchedule {
                interval_seconds: Some(n),
                ..CronSchedule::default()
            }),
            Interval::Refused(reason) => Err(CronError {
                field: "schedule",
                reason,
            }),
            Interval::NotOne => Err(explain_16(schedule, cron_error)),
        },
    }
}

/// Whether the text ends like an interval schedule, for messages.
fn ends_in_seconds(schedule: &str) -> bool {
    let t = schedule.trim().to_ascii_lowercase();
    t.ends_with("second") || t.ends_with("seconds")
}

/// 1.4's refusal, saying why the syntaxes of later pg_cron versions fail here.
fn explain_14(schedule: &str, mut e: CronError) -> CronError {
    if ends_in_seconds(schedule) {
        e.reason = format!(
            "{e}; interval schedules such as '30 seconds' came in pg_cron 1.5, the installed \
             1.4 runs jobs at most once a minute ('* * * * *')"
        );
        e.field = "schedule";
    } else if schedule.contains('$') {
        e.reason = format!("{e}; '$' (last day of the month) came in pg_cron 1.6");
        e.field = "schedule";
    }
    e
}

/// 1.6's refusal of a text that is no interval either.
fn explain_16(schedule: &str, mut e: CronError) -> CronError {
    if ends_in_seconds(schedule) {
        e.reason = format!(
            "{e}; an interval schedule is '<n> seconds' or '<n> second', n from 1 to 59, \
             alone"
        );
        e.field = "schedule";
    } else if e.reason.contains("found \"$\"") {
        e.reason = format!(
            "{e}; '$' (last day of the month) is accepted only as the whole day-of-month field"
        );
    }
    e
}

/// What `TryParseInterval` makes of a text.
#[derive(Debug, PartialEq, Eq)]
enum Interval {
    /// Not of its form at all (`lastChar != 'd'`): the cron parser's refusal stands.
    NotOne,
    /// `<n> second[s]` with n from 1 to 59.
    Seconds(u32),
    /// Of its form, but refused: why.
    Refused(String),
}

fn is_c_space(b: u8) -> bool {
    // isspace in the C locale (and for every ASCII byte in the others)
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// pg_cron 1.5+'s `TryParseInterval` (src/job_metadata.c): glibc's
/// `sscanf(asc_tolower(text), " %u secon%c%c %c", &n, &lastChar, &plural, &extra)`, then
/// `lastChar == 'd'` and either 2 conversions (`<n> second`) or 3 with `plural == 's'`
/// (`<n> seconds`), and `0 < n < 60`. What follows from sscanf:
///
/// - any case (`30 SECONDS`); blanks (isspace: also newlines) may come before the number, between
///   it and the word (none at all: `30seconds`), and after `seconds`;
/// - nothing may follow `second`, not even a blank: `'30 second '` is refused, since the blank
///   is read as `plural`, while `'30 seconds '` is accepted;
/// - `%u` takes a sign and any number of digits, through strtoul, then keeps the low 32 bits:
///   `+30`, `030`, `4294967326` (2^32 + 30) and `-4294967266` all read as 30; `-30` and a
///   number past 2^64 read as 4294967266 and 4294967295, both refused.
fn parse_interval(schedule: &str) -> Interval {
    let b: Vec<u8> = schedule.bytes().map(|c| c.to_ascii_lowercase()).collect();
    let skip = |mut i: usize| {
        while i < b.len() && is_c_space(b[i]) {
            i += 1;
        }
        i
    };
    let mut i = skip(0);
    let number_start = i;
    let negative = i < b.len() && b[i] == b'-';
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == digits_start {
        return Interval::NotOne;
    }
    let written = &schedule[number_start..i];
    let n = match schedule[digits_start..i].parse::<u64>() {
        Ok(m) if negative => m.wrapping_neg(),
        Ok(m) => m,
        Err(_) => u64::MAX,
    } as u32;
    i = skip(i);
    if !b[i..].starts_with(b"secon") || b.get(i + 5) != Some(&b'd') {
        return Interval::NotOne;
    }
    let in_range = (1..=59).contains(&n);
    let range_error = || {
        Interval::Refused(format!(
            "an interval schedule takes 1 to 59 seconds, not {written}"
        ))
    };
    let Some(&plural) = b.get(i + 6) else {
        // "<n> second": 2 conversions.
        return if in_range {
            Interval::Seconds(n)
        } else {
            range_error()
        };
    };
    if skip(i + 7) < b.len() {
        // A fourth conversion: text after the word.
        return Interval::Refused(format!(
            "an interval schedule is '{written} seconds' alone, with nothing after it but \
             blanks (\"{}\" follows)",
            // (bytes: `plural` may have been the first byte of a longer character)
            String::from_utf8_lossy(&schedule.as_bytes()[i + 7..]).trim()
        ));
    }
    if plural != b's' {
        return Interval::Refused(format!(
            "an interval schedule ends with \"second\" or \"seconds\" (blanks may follow \
             \"seconds\", nothing may follow \"second\"), not with {}",
            show(plural as i8 as i32)
        ));
    }
    if in_range {
        Interval::Seconds(n)
    } else {
        range_error()
    }
}

fn parse_vixie(schedule: &str, grammar: CronGrammar) -> Result<CronSchedule, CronError> {
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
        // January, except in 1.6 (see the module).
        let january = match grammar {
            CronGrammar::PgCron14 => 1,
            CronGrammar::PgCron16 => 0,
        };
        let (min, hour, dom, month, dow) = match word.as_str() {
            "reboot" | "restart" => {
                out.at_start = true;
                return Ok(out);
            }
            "yearly" | "annually" => (1, 1, 1, january, all(7)),
            "monthly" => (1, 1, 1, all(12), all(7)),
            "weekly" => (1, 1, all(31), all(12), 1),
            "daily" | "midnight" => (1, 1, all(31), all(12), all(7)),
            "hourly" => (1, all(24), all(31), all(12), all(7)),
            _ => {
                return Err(whole(format!(
                    "unknown \"@{word}\": pg_cron {} accepts @yearly, @annually, @monthly, \
                     @weekly, @daily, @midnight, @hourly, @reboot and @restart (lowercase)",
                    grammar.version()
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
        if i == DAY_OF_MONTH && grammar == CronGrammar::PgCron16 && ch == '$' as i32 {
            // parse_cron_entry: `$`, then at least one blank (not a newline), then the month.
            ch = s.get();
            if ch != ' ' as i32 && ch != '\t' as i32 {
                return Err(CronError {
                    field: f.name,
                    reason: format!(
                        "\"$\" (the last day of the month) must stand alone, followed by a \
                         blank, not by {}",
                        show(ch)
                    ),
                });
            }
            ch = skip_blanks(&mut s, ch);
            out.last_day_of_month = true;
            continue;
        }
        ch = get_list(&mut s, f, grammar, &mut bits[i], ch)?;
    }
    // (Only 1.6's bit_nset can set bits past a field's last value; pg_cron never reads them.)
    out.minutes = bits[0] & ((1 << 60) - 1);
    out.hours = (bits[1] & ((1 << 24) - 1)) as u32;
    out.days_of_month = (bits[2] & ((1 << 31) - 1)) as u32;
    out.months = (bits[3] & ((1 << 12) - 1)) as u16;
    // Sunday is 0 and 7.
    let dow = bits[4] & 0xff;
    out.days_of_week = ((dow & 0x7f) | (dow >> 7)) as u8;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::CronGrammar::{PgCron14, PgCron16};
    use super::*;

    const BOTH: [CronGrammar; 2] = [PgCron14, PgCron16];

    fn ok_in(g: CronGrammar, s: &str) -> CronSchedule {
        parse(s, g).unwrap_or_else(|e| panic!("{s:?} rejected by {g:?}: {e}"))
    }

    fn err_in(g: CronGrammar, s: &str) -> CronError {
        match parse(s, g) {
            Ok(v) => panic!("{s:?} accepted by {g:?}: {v:?}"),
            Err(e) => e,
        }
    }

    fn ok(s: &str) -> CronSchedule {
        let c = ok_in(PgCron14, s);
        assert_eq!(ok_in(PgCron16, s), c, "{s:?} parses differently in 1.6");
        c
    }

    fn err(s: &str) -> CronError {
        err_in(PgCron16, s);
        err_in(PgCron14, s)
    }

    fn seconds(g: CronGrammar, s: &str) -> Option<u32> {
        parse(s, g).ok().and_then(|c| c.interval_seconds)
    }

    #[test]
    fn grammar_of_a_version() {
        for (v, g) in [
            ("1.4", PgCron14),
            ("1.4-1", PgCron14),
            ("1.0", PgCron14),
            ("1.3", PgCron14),
            ("", PgCron14),
            ("unknown", PgCron14),
            ("1.5", PgCron16),
            ("1.6", PgCron16),
            ("1.6.5", PgCron16),
            (" 1.7 ", PgCron16),
            ("2.0", PgCron16),
        ] {
            assert_eq!(CronGrammar::for_version(v), g, "{v:?}");
        }
        assert_eq!(PgCron14.version(), "1.4");
        assert_eq!(PgCron16.version(), "1.6");
        // The hints start alike up to "and lists" (docs/refresh.md shows one that fits both).
        let common = "takes five fields (minute hour day-of-month month day-of-week) with *, N, \
                      N-M, */S, N-M/S and lists";
        for g in BOTH {
            assert!(g
                .hint()
                .starts_with(&format!("pg_cron {} {common}", g.version())));
        }
        assert!(PgCron16.hint().contains("'30 seconds'"));
        assert!(!PgCron16.hint().contains("@yearly"));
    }

    #[test]
    fn five_fields_with_ranges_lists_steps_and_names() {
        let c = ok("*/15 2-4 1,15 jan-MAR mon-fri");
        assert_eq!(c.minutes, 1 | 1 << 15 | 1 << 30 | 1 << 45);
        assert_eq!(c.hours, 0b11100);
        assert_eq!(c.days_of_month, 1 | 1 << 14);
        assert_eq!(c.months, 0b111);
        assert_eq!(c.days_of_week, 0b0111110);
        assert_eq!(c.interval_seconds, None);
        assert!(!c.last_day_of_month);
        assert_eq!(ok("0 0 * * 7").days_of_week, 1);
        assert_eq!(ok("0 0 * * 0").days_of_week, 1);
        assert_eq!(ok("10-50/20 * * * *").minutes, 1 << 10 | 1 << 30 | 1 << 50);
        assert_eq!(ok("* * * * *").minutes, (1u64 << 60) - 1);
        assert_eq!(ok("* * * * *").days_of_week, 0x7f);
        assert_eq!(ok("0-59 0-23 1-31 1-12 0-7"), ok("* * * * *"));
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
        assert_eq!(ok("@midnight"), ok("0 0 * * *"));
        assert_eq!(ok("@hourly").hours, (1 << 24) - 1);
        assert_eq!(ok("@weekly"), ok("0 0 * * 0"));
        assert_eq!(ok("@monthly"), ok("0 0 1 * *"));
        assert!(ok("@reboot").at_start);
        assert!(ok("@restart").at_start);
        assert_eq!(err("@Daily").field, "schedule");
        assert!(err_in(PgCron14, "@every_minute")
            .reason
            .contains("pg_cron 1.4 accepts"));
        assert!(err_in(PgCron16, "@every_minute")
            .reason
            .contains("pg_cron 1.6 accepts"));
    }

    #[test]
    fn yearly_selects_january_in_14_and_no_month_in_16() {
        for s in ["@yearly", "@annually"] {
            assert_eq!(ok_in(PgCron14, s), ok_in(PgCron14, "0 0 1 1 *"));
            let c = ok_in(PgCron16, s);
            assert_eq!(c.months, 0, "pg_cron 1.6 sets no month: the job never runs");
            assert_eq!((c.minutes, c.hours, c.days_of_month), (1, 1, 1));
        }
    }

    #[test]
    fn what_both_refuse() {
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
        // `$` anywhere but alone as the day of month.
        for s in [
            "$ * * * *",
            "* $ * * *",
            "* * * $ *",
            "* * * * $",
            "0 12 1,$ * *",
            "0 12 $,1 * *",
            "0 12 $-5 * *",
            "0 12 $/2 * *",
            "0 12 $$ * *",
            "0 12 $5 * *",
            "0 12 $",
            "0 12 $ ",
            "0 12 $\n* *",
            "0 12 */$ * *",
        ] {
            err(s);
        }
        // Neither takes text around an interval, nor one out of 1-59.
        for s in [
            "0 seconds",
            "60 seconds",
            "-30 seconds",
            "30 seconds x",
            "thirty seconds",
        ] {
            err(s);
        }
    }

    #[test]
    fn quirks_kept_from_pg_cron() {
        // Text after the fifth field is ignored (the C parser expected a command there).
        assert_eq!(ok("* * * * * anything"), ok("* * * * *"));
        // Non-alphanumeric text after a complete list item is skipped up to the next blank.
        assert_eq!(ok("5? * * * *").minutes, 1 << 5);
        // Comment lines before the schedule are skipped.
        assert_eq!(ok("# nightly\n0 3 * * *").hours, 1 << 3);
        // A reversed range with a step selects nothing in both.
        assert_eq!(ok("50-10/2 * * * *").minutes, 0);
        // Within one byte of the bit string, a reversed range selects nothing in both.
        assert_eq!(ok("7-1 * * * *").minutes, 0);
        assert_eq!(ok("* * * * 6-1").days_of_week, 0);
    }

    #[test]
    fn pg_cron_14_refuses_what_came_later() {
        let e = err_in(PgCron14, "30 seconds");
        assert_eq!(e.field, "schedule");
        assert!(e.reason.contains("came in pg_cron 1.5"), "{e}");
        let e = err_in(PgCron14, "0 12 $ * *");
        assert_eq!(
            e.reason,
            "day of month field: expected a number, found \"$\"; '$' (last day of the month) came in pg_cron 1.6"
        );
        for s in [
            "1 second",
            "59 seconds",
            "30 SECONDS",
            "30seconds",
            "0 12 $ * *",
        ] {
            err_in(PgCron14, s);
        }
    }

    #[test]
    fn interval_schedules_in_16() {
        for (s, n) in [
            ("30 seconds", 30),
            ("1 second", 1),
            ("1 seconds", 1),
            ("2 second", 2),
            ("59 seconds", 59),
            ("30 SECONDS", 30),
            ("30 Seconds", 30),
            ("30 SeCoNd", 30),
            ("30seconds", 30),
            ("  30   seconds  ", 30),
            ("\t30\nseconds\n", 30),
            ("30 seconds \r\n", 30),
            ("+30 seconds", 30),
            ("030 seconds", 30),
            // %u keeps the low 32 bits of strtoul's answer.
            ("4294967326 seconds", 30),
            ("-4294967266 seconds", 30),
        ] {
            assert_eq!(seconds(PgCron16, s), Some(n), "{s:?}");
            let c = ok_in(PgCron16, s);
            assert!(c.field_values().iter().all(Vec::is_empty), "{s:?}");
            assert!(!c.at_start && !c.last_day_of_month);
        }
        // No length limit: the cron parser's 1000 bytes do not apply to it.
        assert_eq!(
            seconds(PgCron16, &format!("{}30 seconds", " ".repeat(1200))),
            Some(30)
        );
    }

    #[test]
    fn interval_refusals_in_16() {
        let reason = |s: &str| err_in(PgCron16, s).reason;
        assert_eq!(
            reason("0 seconds"),
            "an interval schedule takes 1 to 59 seconds, not 0"
        );
        assert_eq!(
            reason("60 seconds"),
            "an interval schedule takes 1 to 59 seconds, not 60"
        );
        assert_eq!(
            reason("60 second"),
            "an interval schedule takes 1 to 59 seconds, not 60"
        );
        assert!(reason("-30 seconds").ends_with("not -30"));
        assert!(reason("99999999999999999999 seconds").contains("1 to 59"));
        // Nothing after "second", not even a blank; blanks only after "seconds".
        assert!(reason("30 second ").contains("nothing may follow \"second\""));
        assert!(reason("30 second\n").contains("nothing may follow"));
        assert!(reason("30 secondx").contains("not with \"x\""));
        assert!(reason("30 seconds x").contains("(\"x\" follows)"));
        assert!(reason("30 secondss").contains("(\"s\" follows)"));
        assert!(reason("30 second s").contains("(\"s\" follows)"));
        // Bytes of a longer character, read one at a time as sscanf does.
        assert!(reason("30 secondé").contains("(\"\u{fffd}\" follows)"));
        assert!(reason("30 seconds é").contains("(\"é\" follows)"));
        assert!(reason("30 secondé x").contains("(\"\u{fffd} x\" follows)"));
        // Not of the form at all: the cron parser's refusal, with a word on intervals.
        for s in [
            "30 sec",
            "30 seconx",
            "30",
            "seconds",
            "+ 30 seconds",
            "3 0 seconds",
        ] {
            assert_eq!(seconds(PgCron16, s), None, "{s:?}");
            err_in(PgCron16, s);
        }
        let e = err_in(PgCron16, "thirty seconds");
        assert_eq!(e.field, "schedule");
        assert!(e
            .reason
            .starts_with("minute field: \"thirty\" is not a number; an interval"));
        // A five-field schedule is never read as an interval.
        assert_eq!(seconds(PgCron16, "0 * * * * 30 seconds"), None);
    }

    #[test]
    fn last_day_of_month_in_16() {
        let c = ok_in(PgCron16, "0 12 $ * *");
        assert!(c.last_day_of_month);
        assert_eq!(c.days_of_month, 0);
        assert_eq!((c.minutes, c.hours), (1, 1 << 12));
        assert_eq!(c.months, 0xfff);
        let [_, _, days, _, _] = c.field_values();
        assert!(days.is_empty());
        assert!(ok_in(PgCron16, "0 12 $\t*\t*").last_day_of_month);
        assert!(ok_in(PgCron16, "0 12 $   jan,jul mon").last_day_of_month);
        assert_eq!(ok_in(PgCron16, "0 12 $ * * extra"), c);
        // Not followed by a blank: refused, naming the field.
        let e = err_in(PgCron16, "0 12 $, * *");
        assert_eq!(e.field, "day of month");
        assert!(e.reason.contains("not by \",\""), "{e}");
        assert_eq!(err_in(PgCron16, "0 12 $").field, "day of month");
        // Elsewhere, a number was expected.
        let e = err_in(PgCron16, "0 12 1,$ * *");
        assert_eq!(e.field, "day of month");
        assert!(
            e.reason.ends_with("only as the whole day-of-month field"),
            "{e}"
        );
        assert_eq!(err_in(PgCron16, "0 $ * * *").field, "hour");
    }

    #[test]
    fn steps_past_the_field_in_16() {
        for (s, field) in [
            ("*/60 * * * *", "minute"),
            ("0-59/60 * * * *", "minute"),
            ("* */24 * * *", "hour"),
            ("* * */32 * *", "day of month"),
            ("* * * */13 *", "month"),
            ("* * * * */8", "day of week"),
            ("* * * * 0-7/8", "day of week"),
        ] {
            ok_in(PgCron14, s);
            let e = err_in(PgCron16, s);
            assert_eq!(e.field, field, "{s:?}");
            assert!(e.reason.contains("larger than"), "{e}");
        }
        for s in [
            "*/59 * * * *",
            "* */23 * * *",
            "* * */31 * *",
            "* * * */12 *",
            "* * * * */7",
        ] {
            assert_eq!(ok_in(PgCron14, s), ok_in(PgCron16, s), "{s:?}");
        }
        assert_eq!(ok_in(PgCron14, "*/60 * * * *").minutes, 1);
    }

    #[test]
    fn reversed_ranges_across_bytes_in_16() {
        // 1.4: nothing. 1.6: bit_nset from 50's byte to 10's.
        assert_eq!(ok_in(PgCron14, "50-10 * * * *").minutes, 0);
        let [m, ..] = ok_in(PgCron16, "50-10 * * * *").field_values();
        assert_eq!(m, [8, 9, 10, 50, 51, 52, 53, 54, 55]);
        // Bits past the field's last value (60-63, day 32, months 13-16) are dropped.
        let [m, ..] = ok_in(PgCron16, "59-0 * * * *").field_values();
        assert_eq!(m, [0, 59]);
        let [_, h, d, mo, _] = ok_in(PgCron16, "0 17-3 31-1 12-1 *").field_values();
        assert_eq!(h, [0, 1, 2, 3, 17, 18, 19, 20, 21, 22, 23]);
        assert_eq!(d, [1, 31]);
        assert_eq!(mo, [1, 12]);
        let c = ok_in(PgCron16, "0 17-3 31-1 12-1 *");
        assert_eq!(c.days_of_month >> 31, 0);
        assert_eq!(c.months >> 12, 0);
        // Forward ranges are the same in both.
        assert_eq!(
            ok("3-58 1-22 2-30 2-11 1-6"),
            ok_in(PgCron16, "3-58 1-22 2-30 2-11 1-6")
        );
    }

    #[test]
    fn bit_nset_is_the_macro() {
        let set = |a, b| {
            let mut bits = 0u64;
            bit_nset(&mut bits, a, b);
            bits
        };
        assert_eq!(set(0, 0), 1);
        assert_eq!(set(3, 5), 0b111000);
        assert_eq!(set(6, 17), ((1 << 18) - 1) & !0b111111);
        assert_eq!(set(5, 3), 0);
        assert_eq!(set(9, 2), 0b111 | (0xfe << 8));
        assert_eq!(set(0, 59), (1 << 60) - 1);
    }
}
