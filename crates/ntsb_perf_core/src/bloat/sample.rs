//! Sampled scans: which blocks to read ([`sample_blocks`]) and how sure the density estimated
//! from them is ([`ratio_ci`]). The counts of a sampled scan are scaled up by total / read
//! pages in [`BloatAccum::finish`](super::BloatAccum::finish).

/// 95% confidence interval of a ratio-of-sums density estimated from a simple random sample
/// of `n` of `total` pages (finite population correction included).
pub fn ratio_ci(samples: &[(f64, f64)], total: u64, n_read: u64) -> Option<(f64, f64)> {
    let n = samples.len();
    if n < 2 {
        return None;
    }
    let sy: f64 = samples.iter().map(|s| s.0).sum();
    let sx: f64 = samples.iter().map(|s| s.1).sum();
    if sx <= 0.0 {
        return None;
    }
    let r = sy / sx;
    let xbar = sx / n as f64;
    let s2 = samples
        .iter()
        .map(|(y, x)| (y - r * x).powi(2))
        .sum::<f64>()
        / (n as f64 - 1.0);
    let fpc = if total > 0 {
        (1.0 - n_read as f64 / total as f64).max(0.0)
    } else {
        1.0
    };
    let se = (fpc * s2 / n as f64).sqrt() / xbar;
    let lo = (100.0 * (r - 1.96 * se)).clamp(0.0, 100.0);
    let hi = (100.0 * (r + 1.96 * se)).clamp(0.0, 100.0);
    Some((lo, hi))
}

/// Picks `k` distinct blocks out of `n` (Floyd's algorithm), sorted, deterministic for a seed.
pub fn sample_blocks(n: u32, k: u32, seed: u64) -> Vec<u32> {
    let k = k.min(n);
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut chosen = std::collections::BTreeSet::new();
    for j in (n - k)..n {
        let t = (next() % (j as u64 + 1)) as u32;
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_distinct_sorted_bounded() {
        let s = sample_blocks(1000, 50, 7);
        assert_eq!(s.len(), 50);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert!(s.iter().all(|&b| b < 1000));
        assert_eq!(sample_blocks(10, 50, 7), (0..10).collect::<Vec<_>>());
        assert_eq!(s, sample_blocks(1000, 50, 7), "deterministic for a seed");
    }

    #[test]
    fn ci_covers_the_estimate_and_shrinks() {
        let samples: Vec<(f64, f64)> = (0..100)
            .map(|i| (4000.0 + (i % 10) as f64 * 300.0, 8000.0))
            .collect();
        let (lo, hi) = ratio_ci(&samples, 10_000, 100).unwrap();
        let r = 100.0 * samples.iter().map(|s| s.0).sum::<f64>()
            / samples.iter().map(|s| s.1).sum::<f64>();
        assert!(lo < r && r < hi);
        let (lo2, hi2) = ratio_ci(&samples[..20], 10_000, 20).unwrap();
        assert!(hi2 - lo2 > hi - lo);
        // whole population read: no uncertainty left
        let (lo3, hi3) = ratio_ci(&samples, 100, 100).unwrap();
        assert!((hi3 - lo3).abs() < 1e-9);
    }
}
