//! How `snapshot_indexes` measures each index: exactly when it is small, otherwise from a
//! random sample of pages that is grown until the leaf density's 95% confidence interval is
//! narrow enough (the history promises the density within 2 points of an exact scan).

/// An index of at most this many pages (8 MB) is read whole: a sample would not save much.
pub const EXACT_MAX_PAGES: u64 = 1024;
/// The first sample of a larger index.
pub const FIRST_SAMPLE: u64 = 300;
/// The 95% half-width of the density aimed at, in points: below the 2 points promised, so that
/// an estimate that lands near the edge of its interval is still within 2 points.
pub const TARGET_HALF_WIDTH: f64 = 1.0;
/// Samples taken at most (the first and two larger ones) before reading the index whole.
pub const MAX_ROUNDS: u32 = 3;

/// How to read an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Exact,
    Sample(u64),
}

/// The first read of an index of `total_pages`: `sample_pages` given means that sample (an
/// index no larger is read whole); otherwise whole when small, else [`FIRST_SAMPLE`] pages.
pub fn first_read(total_pages: u64, sample_pages: Option<u64>) -> Read {
    match sample_pages {
        Some(k) if k < total_pages => Read::Sample(k),
        Some(_) => Read::Exact,
        None if total_pages <= EXACT_MAX_PAGES => Read::Exact,
        None => Read::Sample(FIRST_SAMPLE),
    }
}

/// After a sample of `read` pages gave the density interval `ci` (`None`: no interval, too few
/// leaf pages in it), what next: `None` to keep the estimate, or a larger read. The sample
/// needed is estimated from the interval's width (it shrinks as 1/sqrt(pages)), with 20% to
/// spare. The index is read whole instead when that sample and the `so_far` pages already read
/// would come to half the index or more, or at round [`MAX_ROUNDS`]: so a snapshot never reads
/// more than about 1.5 times the index, where an exact read of it reads it once.
pub fn next_read(
    total_pages: u64,
    read: u64,
    so_far: u64,
    ci: Option<(f64, f64)>,
    round: u32,
) -> Option<Read> {
    let needed = match ci {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() => {
            let half = (hi - lo).abs() / 2.0;
            if half <= TARGET_HALF_WIDTH {
                return None;
            }
            let factor = (half / TARGET_HALF_WIDTH).powi(2) * 1.2;
            ((read.max(1) as f64) * factor).ceil() as u64
        }
        _ => read.saturating_mul(4),
    };
    let needed = needed.max(read.saturating_mul(2));
    if round >= MAX_ROUNDS || needed.saturating_add(so_far).saturating_mul(2) >= total_pages {
        Some(Read::Exact)
    } else {
        Some(Read::Sample(needed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_indexes_are_read_whole_large_ones_sampled() {
        assert_eq!(first_read(10, None), Read::Exact);
        assert_eq!(first_read(EXACT_MAX_PAGES, None), Read::Exact);
        assert_eq!(
            first_read(EXACT_MAX_PAGES + 1, None),
            Read::Sample(FIRST_SAMPLE)
        );
        assert_eq!(first_read(500, Some(100)), Read::Sample(100));
        assert_eq!(first_read(100, Some(100)), Read::Exact);
    }

    #[test]
    fn a_narrow_interval_is_kept_a_wide_one_grows_the_sample() {
        assert_eq!(next_read(100_000, 300, 300, Some((60.0, 61.8)), 1), None);
        // half-width 3 points: 9 times the pages, and 20% more
        assert_eq!(
            next_read(100_000, 300, 300, Some((57.0, 63.0)), 1),
            Some(Read::Sample(3240))
        );
        // at least twice the pages
        assert_eq!(
            next_read(100_000, 300, 300, Some((59.0, 61.1)), 1),
            Some(Read::Sample(600))
        );
        // no interval: four times
        assert_eq!(
            next_read(100_000, 300, 300, None, 1),
            Some(Read::Sample(1200))
        );
        // half the index or more (with what was read before), or the last round: exact
        assert_eq!(
            next_read(5000, 300, 300, Some((50.0, 70.0)), 1),
            Some(Read::Exact)
        );
        assert_eq!(
            next_read(100_000, 3000, 45_000, Some((59.0, 61.1)), 2),
            Some(Read::Exact)
        );
        assert_eq!(
            next_read(1_000_000, 3000, 3300, Some((50.0, 70.0)), MAX_ROUNDS),
            Some(Read::Exact)
        );
        assert_eq!(
            next_read(100_000, 300, 300, Some((f64::NAN, 1.0)), 1),
            Some(Read::Sample(1200))
        );
    }

    #[test]
    fn never_much_more_than_one_exact_read() {
        // the worst case: every interval too wide, to the last round
        for total in [1025u64, 2000, 20_000, 1_000_000] {
            let mut read = match first_read(total, None) {
                Read::Sample(k) => k,
                Read::Exact => continue,
            };
            let (mut so_far, mut round) = (read, 1);
            loop {
                match next_read(total, read, so_far, Some((0.0, 100.0)), round) {
                    Some(Read::Sample(k)) => {
                        read = k;
                        so_far += k;
                        round += 1;
                    }
                    Some(Read::Exact) => {
                        so_far += total;
                        break;
                    }
                    None => break,
                }
            }
            assert!(so_far * 2 <= total * 3, "{total}: read {so_far}");
        }
    }
}
