//! Forecasts from an index's snapshot history: a robust straight line through the snapshots and
//! the day it reaches a threshold, with a confidence band.
//!
//! x is time in days (since the first snapshot used), y a measured quantity: reclaimable bytes,
//! bloat ratio, leaf density %. The line is the Theil–Sen estimator (the median of all pairwise
//! slopes), not least squares: a history has wild points (a bulk load, a REINDEX, a snapshot
//! taken mid-VACUUM) and a median ignores up to about 29% of them (breakdown point 1 − 1/√2),
//! where one wild point is enough to swing a least-squares slope anywhere.
//!
//! The slope's confidence interval is Sen's (1968), distribution-free: it picks two order
//! statistics of the sorted pairwise slopes, how far apart being set by the variance of
//! Kendall's S under "no trend". The crossing band follows from the two extreme lines.

/// Fewest points [`theil_sen`] accepts: a line through fewer says next to nothing (with three
/// points, C ≥ N at any confidence from 0.90 up, so the slope's interval is every pairwise slope).
pub const MIN_POINTS: usize = 4;

/// Most points [`theil_sen`] uses: the pairwise slopes are O(n²) (2000 points give about two
/// million slopes, 16 MB); a longer series is cut to its last `MAX_POINTS` points, which are
/// the newest when the points come in time order.
pub const MAX_POINTS: usize = 2000;

/// A robust straight-line fit y = intercept + slope * x.
///
/// `slope` is the Theil–Sen estimate, `intercept` the median residual under it; the `_low` and
/// `_high` lines are the two ends of the slope's confidence interval, each with its own median
/// intercept, so both pass through the middle of the data rather than through x = 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Points used (at most [`MAX_POINTS`]).
    pub n: usize,
    /// Median of the pairwise slopes (y_j − y_i)/(x_j − x_i) over the pairs with x_j ≠ x_i
    /// (the mean of the two middle ones when their number is even).
    pub slope: f64,
    /// Median of y_i − slope · x_i.
    pub intercept: f64,
    /// Lower end of the slope's confidence interval (Sen 1968): an order statistic of the
    /// pairwise slopes, see [`theil_sen`].
    pub slope_low: f64,
    /// Upper end of the slope's confidence interval.
    pub slope_high: f64,
    /// Median of y_i − slope_low · x_i.
    pub intercept_low: f64,
    /// Median of y_i − slope_high · x_i.
    pub intercept_high: f64,
}

/// The two-sided level of the slope's confidence interval: 95%.
pub const CONFIDENCE: f64 = 0.95;

/// z for [`CONFIDENCE`]: the standard normal quantile Φ⁻¹(0.975) = 1.959963984540054 (R's
/// `qnorm(0.975)`, to f64 precision; the tests check Φ(Z) = 0.975 by integrating the density).
const Z: f64 = 1.959_963_984_540_054;

/// Fits the points by Theil–Sen, with the slope's [`CONFIDENCE`] interval.
///
/// The interval (Sen 1968; Hollander & Wolfe, *Nonparametric Statistical Methods*, §9.3): with
/// N pairwise slopes sorted ascending, Var(S) = [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18 (the sum
/// over groups of t tied x values; ties in y are ignored), C = z · √Var(S) with z the standard
/// normal quantile at 1 − (1 − confidence)/2 ([`Z`]), M1 = (N − C)/2 and M2 = (N + C)/2. `slope_low` is
/// the M1-th smallest slope, 1-based, M1 rounded down and at least 1; `slope_high` the
/// (M2 + 1)-th smallest, rounded up and at most N. Both roundings widen the interval, so it is
/// conservative; when C ≥ N it is the whole range [min slope, max slope].
///
/// `None` when: the lengths differ, there are fewer than [`MIN_POINTS`] points, any x or y is
/// not finite, fewer than two distinct x, or a pairwise slope or
/// a result overflows f64. Only the last [`MAX_POINTS`] points are used (the x values are kept
/// as given, so forecasts stay in the caller's time frame).
pub fn theil_sen(x: &[f64], y: &[f64]) -> Option<Fit> {
    if x.len() != y.len() {
        return None;
    }
    // Checked over the whole input, not only the window used: a non-finite value means the
    // caller's data is broken, and a forecast from the rest would hide that.
    if !x.iter().chain(y).all(|v| v.is_finite()) {
        return None;
    }
    let start = x.len().saturating_sub(MAX_POINTS);
    let (x, y) = (&x[start..], &y[start..]);
    let n = x.len();
    if n < MIN_POINTS {
        return None;
    }

    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[j] - x[i];
            // Pairs at the same x carry no slope; they only shrink Var(S) (tie correction).
            if dx != 0.0 {
                let s = (y[j] - y[i]) / dx;
                // Finite inputs can still overflow (1e308 apart, or x a denormal apart): a
                // NaN or infinite slope would poison the order statistics.
                if !s.is_finite() {
                    return None;
                }
                slopes.push(s);
            }
        }
    }
    if slopes.is_empty() {
        return None; // every x equal
    }
    slopes.sort_unstable_by(f64::total_cmp);
    let slope = median_of_sorted(&slopes);

    let (lo, hi) = band_indices(slopes.len(), kendall_variance(x), Z);
    let (slope_low, slope_high) = (slopes[lo], slopes[hi]);

    let fit = Fit {
        n,
        slope,
        intercept: median_intercept(x, y, slope),
        slope_low,
        slope_high,
        intercept_low: median_intercept(x, y, slope_low),
        intercept_high: median_intercept(x, y, slope_high),
    };
    let finite = [
        fit.slope,
        fit.intercept,
        fit.slope_low,
        fit.slope_high,
        fit.intercept_low,
        fit.intercept_high,
    ]
    .iter()
    .all(|v| v.is_finite());
    finite.then_some(fit)
}

/// When the fitted line reaches a threshold, in the fit's x units (days since the first point).
///
/// `at` is where the central line crosses; `earliest` and `latest` where the two ends of the
/// slope's interval cross, so [earliest, latest] is the band of plausible crossing days. A
/// crossing is forecast only for a trend: when the whole interval moves toward the threshold
/// (its slowest line included). Every field is either a finite number or `None`, never NaN or
/// infinity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossing {
    /// x where intercept + slope · x == threshold; `None` when there is no trend toward the
    /// threshold (the slope's interval reaches 0, or the other way: a flat series, a series
    /// whose only change is one step, one moving away). It may be before "now": the line
    /// crossed in the past (see `crossed`).
    pub at: Option<f64>,
    /// The band's earlier end (the fastest line of the interval); `None` when `at` is.
    pub earliest: Option<f64>,
    /// The band's later end (the slowest line); `None` when `at` is.
    pub latest: Option<f64>,
    /// The fitted value at `now_x` is already at or past the threshold.
    pub crossed: bool,
    /// When `crossed`: x where the central line reached the threshold, not before `first_x`
    /// (a line that was past it at the first point, or that does not move toward it, crossed
    /// at the first point or before); `None` when not crossed.
    pub crossed_at: Option<f64>,
}

/// Where `fit` reaches `threshold`: x* = (threshold − intercept) / slope for the central line,
/// and the same for the interval's two lines to make the band.
///
/// `rising`: true when the threshold is crossed going up (y ≥ threshold, e.g. bloat ratio),
/// false going down (y ≤ threshold, e.g. leaf density). Going up, the steepest line
/// (`slope_high`) gives `earliest` and the shallowest (`slope_low`) `latest`; going down, the
/// other way round. Nothing is forecast unless the shallowest line moves toward the threshold
/// too: a median slope that is not 0 only because half the pairs straddle one step (an empty
/// index that got three rows and stayed so, in four snapshots) is no trend. The band lines
/// have their own intercepts, so a band end can fall on the wrong side of `at` (typically when
/// the crossing is in the past, where the lines fan out the other way); the ends are then
/// reordered (min and max of the values present), so that earliest ≤ at ≤ latest.
///
/// `first_x` and `now_x`: the x of the first and of the last point; `crossed` compares the
/// fitted value at `now_x` with the threshold, `crossed_at` is when that happened.
pub fn crossing(fit: &Fit, threshold: f64, rising: bool, first_x: f64, now_x: f64) -> Crossing {
    let toward = |slope: f64| if rising { slope > 0.0 } else { slope < 0.0 };
    let reach = |slope: f64, intercept: f64| -> Option<f64> {
        if !toward(slope) {
            return None;
        }
        let x = (threshold - intercept) / slope;
        x.is_finite().then_some(x)
    };
    // (fastest, slowest) ends of the interval
    let ((fast_slope, fast_icpt), (slow_slope, slow_icpt)) = if rising {
        (
            (fit.slope_high, fit.intercept_high),
            (fit.slope_low, fit.intercept_low),
        )
    } else {
        (
            (fit.slope_low, fit.intercept_low),
            (fit.slope_high, fit.intercept_high),
        )
    };
    let now = fit.intercept + fit.slope * now_x;
    // NaN (from a hand-built Fit or a NaN threshold) compares false: not crossed.
    let crossed = if rising {
        now >= threshold
    } else {
        now <= threshold
    };
    let crossed_at = crossed
        .then(|| reach(fit.slope, fit.intercept).map_or(first_x, |x| x.min(now_x).max(first_x)));

    let (at, fast, slow) = if toward(slow_slope) {
        (
            reach(fit.slope, fit.intercept),
            reach(fast_slope, fast_icpt),
            reach(slow_slope, slow_icpt),
        )
    } else {
        (None, None, None)
    };
    // A missing end stays missing; a present end becomes the extreme of everything known.
    let known = [fast, at, slow];
    let lowest = known.iter().flatten().copied().reduce(f64::min);
    let highest = known.iter().flatten().copied().reduce(f64::max);
    Crossing {
        at,
        earliest: at.and(fast).and(lowest),
        latest: at.and(slow).and(highest),
        crossed,
        crossed_at: crossed_at.filter(|x| x.is_finite()),
    }
}

/// Median of an ascending slice (not empty).
fn median_of_sorted(v: &[f64]) -> f64 {
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        // Halves first: `a + b` could overflow where their mean does not.
        v[m - 1] / 2.0 + v[m] / 2.0
    }
}

/// Median of y_i − slope · x_i: the intercept that leaves half the points on each side.
fn median_intercept(x: &[f64], y: &[f64], slope: f64) -> f64 {
    let mut r: Vec<f64> = x.iter().zip(y).map(|(&x, &y)| y - slope * x).collect();
    r.sort_unstable_by(f64::total_cmp);
    median_of_sorted(&r)
}

/// Var(S) of Kendall's S under "no trend", with the correction for tied x:
/// [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18 over the groups of t equal x.
fn kendall_variance(x: &[f64]) -> f64 {
    let term = |t: usize| {
        let t = t as f64;
        t * (t - 1.0) * (2.0 * t + 5.0)
    };
    let mut sorted = x.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    // `==` groups -0.0 with 0.0, as the pairwise loop does (their difference is 0).
    let ties: f64 = sorted.chunk_by(|a, b| a == b).map(|g| term(g.len())).sum();
    (term(x.len()) - ties) / 18.0
}

/// 0-based indices into the N sorted slopes of the interval's ends: lower = the M1-th smallest
/// (1-based, M1 = (N − C)/2 rounded down, at least 1), upper = the (M2 + 1)-th smallest
/// (M2 = (N + C)/2, rounded up, at most N), C = z · √Var(S). The clamping also covers C ≥ N
/// (the whole range).
fn band_indices(n_slopes: usize, var_s: f64, z: f64) -> (usize, usize) {
    let nf = n_slopes as f64;
    let c = z * var_s.sqrt();
    let lower_rank = ((nf - c) / 2.0).floor().clamp(1.0, nf);
    let upper_rank = ((nf + c) / 2.0 + 1.0).ceil().clamp(1.0, nf);
    // `as usize` saturates (a NaN rank becomes 0), and `max(1)` keeps the `- 1` from wrapping:
    // an impossible NaN gives the whole range rather than a panic.
    (
        (lower_rank as usize).max(1) - 1,
        (upper_rank as usize).clamp(1, n_slopes) - 1,
    )
}

/// What `bloat_forecast` fits through an index's points: the line ([`theil_sen`]) and, when
/// `threshold` is a number, when it reaches it ([`crossing`], from the first point the fit used
/// to the last point). `None` when the points cannot be fitted.
pub fn forecast(
    x: &[f64],
    y: &[f64],
    threshold: f64,
    rising: bool,
) -> Option<(Fit, Option<Crossing>)> {
    let fit = theil_sen(x, y)?;
    if !threshold.is_finite() {
        return Some((fit, None));
    }
    // (the fit uses the last MAX_POINTS points: the first of those)
    let used = &x[x.len().saturating_sub(MAX_POINTS)..];
    let first = used.iter().cloned().fold(f64::INFINITY, f64::min);
    let now = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    Some((fit, Some(crossing(&fit, threshold, rising, first, now))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64 seeded through splitmix64, so that neighbouring seeds give unrelated series.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            Rng((z ^ (z >> 31)) | 1)
        }
        fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        /// Uniform in [0, 1).
        fn uniform(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
        fn between(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.uniform()
        }
        /// Sum of 12 uniforms − 6: mean 0, variance 1, close to Gaussian.
        fn gaussish(&mut self) -> f64 {
            (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
        }
    }

    fn xs(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64).collect()
    }

    fn noisy_series(seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let x = xs(31);
        let y = x
            .iter()
            .map(|&x| 100.0 + 5.0 * x + rng.between(-10.0, 10.0))
            .collect();
        (x, y)
    }

    #[test]
    fn z_is_the_normal_quantile_of_the_confidence() {
        // Φ(Z) − 1/2 = ∫₀^Z φ: composite Simpson over 2·10⁴ intervals, error far below 1e-12.
        let phi = |t: f64| (-t * t / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let n = 20_000;
        let h = Z / n as f64;
        let inner: f64 = (1..n)
            .map(|i| if i % 2 == 1 { 4.0 } else { 2.0 } * phi(i as f64 * h))
            .sum();
        let cdf = 0.5 + h / 3.0 * (phi(0.0) + inner + phi(Z));
        assert!(
            (cdf - (1.0 - (1.0 - CONFIDENCE) / 2.0)).abs() < 1e-12,
            "{cdf}"
        );
        assert!((Z - 1.959_963_985).abs() < 1e-6, "{Z}");
    }

    #[test]
    fn band_ranks_follow_hollander_wolfe() {
        // n = 10 distinct x: N = 45, Var(S) = 10·9·25/18 = 125, C = 1.96·√125 = 21.91,
        // M1 = 11.54 → 11th smallest (index 10), M2 + 1 = 34.46 → 35th (index 34).
        let x = xs(10);
        assert_eq!(kendall_variance(&x), 125.0);
        let z = Z;
        assert_eq!(band_indices(45, 125.0, z), (10, 34));
        // C >= N: the whole range.
        assert_eq!(band_indices(6, 100.0, z), (0, 5));
        // Tie correction, three pairs of equal x: (6·5·17 − 3·2·1·9)/18 = 456/18.
        let tied = [0.0, 0.0, 1.0, 1.0, -0.0, 2.0];
        assert!((kendall_variance(&[0.0, 0.0, 1.0, 1.0, 2.0, 2.0]) - 456.0 / 18.0).abs() < 1e-12);
        // -0.0 and 0.0 are one group: one triple (3·2·11 = 66), one pair (18), one single.
        assert!((kendall_variance(&tied) - (510.0 - 66.0 - 18.0) / 18.0).abs() < 1e-12);
    }

    #[test]
    fn exact_line_is_recovered() {
        let x = xs(11);
        let y: Vec<f64> = x.iter().map(|&x| 3.0 + 2.0 * x).collect();
        let fit = theil_sen(&x, &y).unwrap();
        assert_eq!(fit.n, 11);
        assert_eq!(fit.slope, 2.0);
        assert!((fit.intercept - 3.0).abs() < 1e-12);
        assert_eq!((fit.slope_low, fit.slope_high), (2.0, 2.0));
        assert!((fit.intercept_low - 3.0).abs() < 1e-12);
        assert!((fit.intercept_high - 3.0).abs() < 1e-12);

        let now = crossing(&fit, 23.0, true, 0.0, 10.0);
        assert_eq!(now.at, Some(10.0));
        assert_eq!((now.earliest, now.latest), (Some(10.0), Some(10.0)));
        assert!(now.crossed);
        assert_eq!(now.crossed_at, Some(10.0));
        let before = crossing(&fit, 23.0, true, 0.0, 5.0);
        assert_eq!(before.at, Some(10.0));
        assert!(!before.crossed);
        assert_eq!(before.crossed_at, None);
        // Crossed before the first point: crossed at the first point (or before).
        let long_ago = crossing(&fit, 5.0, true, 2.0, 10.0);
        assert_eq!(long_ago.at, Some(1.0));
        assert!(long_ago.crossed);
        assert_eq!(long_ago.crossed_at, Some(2.0));
    }

    #[test]
    fn noisy_line_slope_and_band() {
        let (x, y) = noisy_series(42);
        let fit = theil_sen(&x, &y).unwrap();
        assert!((fit.slope - 5.0).abs() < 0.5, "{fit:?}");
        assert!(fit.slope_low <= 5.0 && 5.0 <= fit.slope_high, "{fit:?}");
        assert!(fit.slope_low <= fit.slope && fit.slope <= fit.slope_high);

        let short = theil_sen(&x[..8], &y[..8]).unwrap();
        assert!(
            fit.slope_high - fit.slope_low < short.slope_high - short.slope_low,
            "{fit:?} vs {short:?}"
        );

        // True line 100 + 5x reaches 400 at x = 60.
        let c = crossing(&fit, 400.0, true, 0.0, 30.0);
        let (lo, at, hi) = (c.earliest.unwrap(), c.at.unwrap(), c.latest.unwrap());
        assert!(lo <= at && at <= hi);
        assert!(lo <= 60.0 && 60.0 <= hi, "{c:?}");
        assert!(!c.crossed);
    }

    #[test]
    fn outliers_do_not_move_the_slope() {
        let x = xs(31);
        let mut y: Vec<f64> = x.iter().map(|&x| 100.0 + 5.0 * x).collect();
        for i in [3, 20, 28] {
            y[i] += 10_000.0;
        }
        let fit = theil_sen(&x, &y).unwrap();
        assert!((fit.slope - 5.0).abs() < 0.01, "{fit:?}");
        assert!((fit.intercept - 100.0).abs() < 1e-9, "{fit:?}");

        // Least squares on the same points is dragged far off: the test would catch a
        // non-robust fit.
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
        let ols = sxy / sxx;
        assert!((ols - 5.0).abs() > 1.0, "OLS slope {ols}");
    }

    #[test]
    fn falling_series_crosses_going_down() {
        let x = xs(21);
        let y: Vec<f64> = x.iter().map(|&x| 90.0 - 0.5 * x).collect();
        let fit = theil_sen(&x, &y).unwrap();
        assert_eq!(fit.slope, -0.5);

        let down = crossing(&fit, 70.0, false, 0.0, 20.0);
        assert_eq!(down.at, Some(40.0));
        assert_eq!((down.earliest, down.latest), (Some(40.0), Some(40.0)));
        assert!(!down.crossed); // 80 at x = 20, still above 70

        // Moving away from a threshold above: never.
        let up = crossing(&fit, 95.0, true, 0.0, 20.0);
        assert_eq!((up.at, up.earliest, up.latest), (None, None, None));
        assert!(!up.crossed);
        // The same threshold of 70 asked going up: no crossing ahead, but already at or above.
        let up70 = crossing(&fit, 70.0, true, 0.0, 20.0);
        assert_eq!(up70.at, None);
        assert!(up70.crossed);
        // ... since the first point at least (it moves away from it)
        assert_eq!(up70.crossed_at, Some(0.0));
    }

    #[test]
    fn flat_series_never_crosses() {
        let x = xs(12);
        let y = vec![42.0; 12];
        let fit = theil_sen(&x, &y).unwrap();
        assert_eq!((fit.slope, fit.slope_low, fit.slope_high), (0.0, 0.0, 0.0));
        assert_eq!(fit.intercept, 42.0);
        for rising in [true, false] {
            let c = crossing(&fit, 50.0, rising, 0.0, 11.0);
            assert_eq!((c.at, c.earliest, c.latest), (None, None, None));
        }
        let past = crossing(&fit, 40.0, true, 0.0, 11.0);
        assert!(past.crossed);
        assert_eq!(past.crossed_at, Some(0.0));
        assert!(!crossing(&fit, 50.0, true, 0.0, 11.0).crossed);
    }

    #[test]
    fn one_step_is_no_trend() {
        // An empty index that got three rows, then stayed so (issue 24): four snapshots, half
        // the pairwise slopes straddle the step, so the median slope is half of theirs, but
        // the interval reaches 0: no crossing is forecast ahead.
        let x = [0.0, 1.0, 2.0, 3.0];
        let y = [-13107.0, -4915.0, -4915.0, -4915.0];
        let fit = theil_sen(&x, &y).unwrap();
        assert!(fit.slope > 0.0 && fit.slope_low == 0.0, "{fit:?}");
        let c = crossing(&fit, 0.0, true, 0.0, 3.0);
        assert_eq!((c.at, c.earliest, c.latest), (None, None, None), "{c:?}");
        assert!(!c.crossed);
        // Longer series with one step anywhere: never a trend.
        for n in [6, 10, 20, 40] {
            for step in 1..n {
                let x = xs(n);
                let y: Vec<f64> = (0..n).map(|i| if i < step { 1.0 } else { 2.0 }).collect();
                let fit = theil_sen(&x, &y).unwrap();
                let c = crossing(&fit, 3.0, true, 0.0, (n - 1) as f64);
                assert_eq!(c.at, None, "n {n} step {step}: {fit:?}");
            }
        }
        // The same step past a threshold going down: crossed, at the step at the latest.
        let fit = theil_sen(&x, &[90.0, 1.0, 1.0, 1.0]).unwrap();
        let c = crossing(&fit, 70.0, false, 0.0, 3.0);
        assert_eq!(c.at, None);
        assert!(c.crossed);
        let at = c.crossed_at.unwrap();
        assert!((0.0..=3.0).contains(&at), "{c:?}");
    }

    #[test]
    fn past_crossing_is_kept_and_band_ordered() {
        let (x, y) = noisy_series(7);
        let fit = theil_sen(&x, &y).unwrap();
        // 110 is reached around x = 2, long before now (x = 30).
        let c = crossing(&fit, 110.0, true, 0.0, 30.0);
        let (lo, at, hi) = (c.earliest.unwrap(), c.at.unwrap(), c.latest.unwrap());
        assert!(at < 30.0 && c.crossed);
        assert!(lo <= at && at <= hi, "{c:?}");
        // Whatever the threshold, nothing non-finite comes out.
        for t in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1e308] {
            let c = crossing(&fit, t, true, 0.0, 30.0);
            for v in [c.at, c.earliest, c.latest].into_iter().flatten() {
                assert!(v.is_finite(), "{t}: {c:?}");
            }
        }
    }

    #[test]
    fn interval_covers_true_slope_about_95_percent() {
        let x = xs(20);
        let covered = (0..400u64)
            .filter(|&seed| {
                let mut rng = Rng::new(seed);
                let y: Vec<f64> = x
                    .iter()
                    .map(|&x| 10.0 + 1.5 * x + 2.0 * rng.gaussish())
                    .collect();
                let fit = theil_sen(&x, &y).unwrap();
                fit.slope_low <= 1.5 && 1.5 <= fit.slope_high
            })
            .count();
        assert!((360..=396).contains(&covered), "covered {covered} of 400");
    }

    #[test]
    fn bad_input_gives_none() {
        let x = xs(6);
        let y: Vec<f64> = x.iter().map(|&x| 1.0 + x).collect();
        assert!(theil_sen(&x, &y).is_some());
        assert_eq!(theil_sen(&x[..3], &y[..3]), None);
        assert_eq!(theil_sen(&x, &y[..5]), None);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut bx = x.clone();
            bx[2] = bad;
            assert_eq!(theil_sen(&bx, &y), None);
            let mut by = y.clone();
            by[4] = bad;
            assert_eq!(theil_sen(&x, &by), None);
        }
        assert_eq!(theil_sen(&[3.0; 6], &y), None);
        // Finite but overflowing slopes.
        let huge = [-1e308, 0.0, 1e308, 2e307];
        assert_eq!(theil_sen(&[0.0, 1e-310, 2e-310, 3e-310], &huge), None);
    }

    #[test]
    fn tied_x_still_fit_exactly() {
        let x: Vec<f64> = (0..16).map(|i| (i / 2) as f64).collect();
        let y: Vec<f64> = x.iter().map(|&x| 3.0 + 2.0 * x).collect();
        let fit = theil_sen(&x, &y).unwrap();
        assert_eq!(fit.n, 16);
        assert_eq!((fit.slope, fit.slope_low, fit.slope_high), (2.0, 2.0, 2.0));
        assert!((fit.intercept - 3.0).abs() < 1e-12);
    }

    #[test]
    fn long_series_uses_last_max_points() {
        // 500 old points on a different line, then MAX_POINTS on y = 1 + 0.25x: only the
        // newest are used, so the old line leaves no trace.
        let x: Vec<f64> = (0..MAX_POINTS + 500).map(|i| i as f64).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|&x| {
                if x < 500.0 {
                    1e6 - 7.0 * x
                } else {
                    1.0 + 0.25 * x
                }
            })
            .collect();
        let fit = theil_sen(&x, &y).unwrap();
        assert_eq!(fit.n, MAX_POINTS);
        assert_eq!(
            (fit.slope, fit.slope_low, fit.slope_high),
            (0.25, 0.25, 0.25)
        );
        assert!((fit.intercept - 1.0).abs() < 1e-9);
    }

    #[test]
    fn forecast_fits_then_crosses_from_the_points_used() {
        let x = xs(11);
        let y: Vec<f64> = x.iter().map(|&x| 3.0 + 2.0 * x).collect();
        let (fit, c) = forecast(&x, &y, 43.0, true).unwrap();
        assert_eq!(fit, theil_sen(&x, &y).unwrap());
        let (x0, xn) = (x[0], x[10]);
        assert_eq!(c, Some(crossing(&fit, 43.0, true, x0, xn)));
        // a threshold that is not a number: the line only
        assert_eq!(forecast(&x, &y, f64::NAN, true), Some((fit, None)));
        assert_eq!(forecast(&x, &y, f64::INFINITY, false), Some((fit, None)));
        // too few points: nothing
        assert_eq!(forecast(&x[..3], &y[..3], 43.0, true), None);
        // a long series: the crossing starts at the first point the fit used
        let x: Vec<f64> = (0..MAX_POINTS + 5).map(|i| i as f64).collect();
        let y: Vec<f64> = x.iter().map(|&x| 1.0 + 0.5 * x).collect();
        let (fit, c) = forecast(&x, &y, 1e4, true).unwrap();
        let last = *x.last().unwrap();
        assert_eq!(c, Some(crossing(&fit, 1e4, true, 5.0, last)));
    }
}
