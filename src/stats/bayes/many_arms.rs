//! P(best) for more Beta arms than the banded rule takes. `prob_best` integrates up to 64 arms
//! on its spectral banded rule; beyond, its adaptive quadrature is exact but was measured at
//! 0.68 s for 100 arms (BENCHMARKS.md): ten times the 10,000-draw Monte Carlo a bandit's weight
//! update must beat. `prob_best` (the report and the bandit alike) uses this rule there:
//!
//! P(i best) = ∫ pdf_i(x) Π_{j≠i} cdf_j(x) dx on shared nodes, like `normal_prob_best`:
//! - only for posteriors with both shapes >= 30 (at least 30 successes and 30 failures), where
//!   each density is one smooth bump with its 1e-18 tails within 15 sd of its mean (the
//!   report's banded rule relies on the same bound, checked there against scipy); otherwise the
//!   report's own function is used;
//! - the range is cut to where the maximum lives: above the highest of the arms' lower band
//!   ends (every arm but one is below its own lower end with probability < 1e-18), raised by
//!   bisection while F(x) = Π cdf_j(x) <= 1e-15, up to the highest upper band end; arms whose
//!   band ends below the range are never best (their cdf is 1 over it, to 1e-18);
//! - panels two narrowest-sd wide, 12-point Gauss–Legendre on each (exact for polynomials of
//!   degree 23): checked against scipy quadrature for 100 and 80 arms
//!   (`fixtures/golden/bandit_p_best.json`) to 1e-10.
//!
//! The cost is (nodes) x (live arms) distribution functions, each the report's own accurate
//! `BetaPosterior::cdf`.

use super::BetaPosterior;
use std::sync::OnceLock;

/// Smallest shape this rule accepts.
const MIN_SHAPE: f64 = 30.0;
/// Half-width of each posterior's band, in its sd.
const BAND_SDS: f64 = 15.0;
/// Mass of the maximum's distribution left below the range.
const TAIL: f64 = 1e-15;
/// Panel width in narrowest sd, and Gauss–Legendre points per panel.
const PANEL_SDS: f64 = 2.0;
const POINTS: usize = 12;

/// Gauss–Legendre nodes and weights on [-1, 1], by Newton's method on P_n from the usual
/// starting guesses cos(π(i - 1/4)/(n + 1/2)); converges to machine precision in a few steps.
fn gauss_legendre() -> &'static [(f64, f64); POINTS] {
    static CELL: OnceLock<[(f64, f64); POINTS]> = OnceLock::new();
    CELL.get_or_init(|| {
        let n = POINTS;
        std::array::from_fn(|i| {
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                // P_n(x) and P_n'(x) by the three-term recurrence.
                let (mut p0, mut p1) = (1.0, x);
                for k in 2..=n {
                    let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                    p0 = p1;
                    p1 = p2;
                }
                dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
                let step = p1 / dp;
                x -= step;
                if step.abs() < 1e-16 {
                    break;
                }
            }
            (x, 2.0 / ((1.0 - x * x) * dp * dp))
        })
    })
}

/// P(arm i is best) for Beta posteriors with every shape >= 30; `None` otherwise (or for
/// fewer than two arms). Not renormalised, like the report's.
pub(crate) fn prob_best_many(arms: &[BetaPosterior]) -> Option<Vec<f64>> {
    let k = arms.len();
    if k < 2
        || arms
            .iter()
            .any(|a| a.alpha() < MIN_SHAPE || a.beta() < MIN_SHAPE)
    {
        return None;
    }
    let sd = |a: &BetaPosterior| {
        let s = a.alpha() + a.beta();
        (a.alpha() * a.beta() / (s * s * (s + 1.0))).sqrt()
    };
    let bands: Vec<(f64, f64, f64)> = arms
        .iter()
        .map(|a| {
            let (m, s) = (a.mean(), sd(a));
            ((m - BAND_SDS * s).max(0.0), (m + BAND_SDS * s).min(1.0), s)
        })
        .collect();
    let floor = bands.iter().map(|b| b.0).fold(0.0, f64::max);
    let hi = bands.iter().map(|b| b.1).fold(0.0, f64::max);
    let live: Vec<usize> = (0..k).filter(|&i| bands[i].1 > floor).collect();
    let max_cdf = |x: f64| -> f64 { live.iter().map(|&j| arms[j].cdf(x)).product() };
    let (mut lo, mut above) = (floor, hi);
    for _ in 0..8 {
        let mid = 0.5 * (lo + above);
        if max_cdf(mid) <= TAIL {
            lo = mid;
        } else {
            above = mid;
        }
    }
    let narrow = live
        .iter()
        .map(|&i| bands[i].2)
        .fold(f64::INFINITY, f64::min);
    if !(narrow > 0.0 && hi > lo) {
        return None;
    }
    let panels = ((hi - lo) / (PANEL_SDS * narrow))
        .ceil()
        .clamp(1.0, 100_000.0) as usize;
    let half = (hi - lo) / (2.0 * panels as f64);
    let n = live.len();
    let (mut cdfs, mut pdfs, mut below) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut out = vec![0.0; k];
    let rule = gauss_legendre();
    for p in 0..panels {
        let centre = lo + half * (2 * p + 1) as f64;
        for &(t, w) in rule {
            let x = centre + half * t;
            for (slot, &j) in live.iter().enumerate() {
                cdfs[slot] = arms[j].cdf(x);
                pdfs[slot] = arms[j].pdf(x);
            }
            let mut prefix = 1.0;
            for (b, c) in below.iter_mut().zip(&cdfs) {
                *b = prefix;
                prefix *= c;
            }
            let mut suffix = 1.0;
            for (slot, &j) in live.iter().enumerate().rev() {
                out[j] += w * half * pdfs[slot] * below[slot] * suffix;
                suffix *= cdfs[slot];
            }
        }
    }
    out.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
    Some(out)
}
