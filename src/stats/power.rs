//! Power analysis: how many units a test needs, what it can detect, and when it will be done.
//!
//! Owns the per-arm sample sizes for a two-sided test with equal allocation (two proportions
//! by the normal approximation and by Cohen's h; means by the normal approximation), the
//! minimum detectable effect reachable at a given number of units per arm, and the time to
//! decision at the recent traffic rate. Formulas and reference values: `fixtures/golden/power.json`.
//! Everything returns `None` for inputs where the answer is undefined (no effect, rates outside
//! (0, 1), zero traffic), never NaN or infinity.

use statrs::distribution::{ContinuousCDF, Normal};

/// Significance level and power of the planned two-sided test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestDesign {
    pub alpha: f64,
    pub power: f64,
}

impl Default for TestDesign {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            power: 0.8,
        }
    }
}

impl TestDesign {
    /// `(z_{1-alpha/2}, z_{power})`, or `None` unless both levels lie strictly in (0, 1).
    fn quantiles(&self) -> Option<(f64, f64)> {
        let valid = |p: f64| p > 0.0 && p < 1.0;
        if !(valid(self.alpha) && valid(self.power)) {
            return None;
        }
        let z = Normal::standard();
        Some((
            z.inverse_cdf(1.0 - self.alpha / 2.0),
            z.inverse_cdf(self.power),
        ))
    }
}

/// `Some(n)` only for a finite positive sample size.
fn finite_positive(n: f64) -> Option<f64> {
    (n.is_finite() && n > 0.0).then_some(n)
}

/// Treatment rate under the planned relative effect, `None` outside [0, 1] or with no effect.
fn rates(baseline_rate: f64, mde_rel: f64) -> Option<(f64, f64)> {
    let p1 = baseline_rate;
    let p2 = baseline_rate * (1.0 + mde_rel);
    let in_unit = |p: f64| (0.0..=1.0).contains(&p);
    (p1 > 0.0 && p1 < 1.0 && in_unit(p2) && p2 != p1).then_some((p1, p2))
}

/// Cohen's effect size for proportions, `|2·asin(√p2) - 2·asin(√p1)|`; `None` unless both
/// rates lie in [0, 1].
pub fn cohens_h(p1: f64, p2: f64) -> Option<f64> {
    let in_unit = |p: f64| (0.0..=1.0).contains(&p);
    (in_unit(p1) && in_unit(p2)).then(|| (2.0 * p2.sqrt().asin() - 2.0 * p1.sqrt().asin()).abs())
}

/// Units per arm to detect a relative change `mde_rel` (may be negative) of `baseline_rate`:
/// `(z_a·√(2·p̄(1-p̄)) + z_b·√(p1(1-p1) + p2(1-p2)))² / (p2-p1)²` with `p̄ = (p1+p2)/2`, the
/// pooled variance under the null and the unpooled one under the alternative.
pub fn units_per_arm_proportion(
    baseline_rate: f64,
    mde_rel: f64,
    design: TestDesign,
) -> Option<f64> {
    let (p1, p2) = rates(baseline_rate, mde_rel)?;
    let (za, zb) = design.quantiles()?;
    finite_positive(normal_approx_units(p1, p2, za, zb))
}

fn normal_approx_units(p1: f64, p2: f64, za: f64, zb: f64) -> f64 {
    let pbar = (p1 + p2) / 2.0;
    let spread =
        za * (2.0 * pbar * (1.0 - pbar)).sqrt() + zb * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    spread * spread / ((p2 - p1) * (p2 - p1))
}

/// Units per arm by the variance-stabilised closed form `2(z_a + z_b)² / h²`. It ignores the
/// rejection probability in the opposite tail, so it is very slightly conservative.
pub fn units_per_arm_proportion_cohens_h(
    baseline_rate: f64,
    mde_rel: f64,
    design: TestDesign,
) -> Option<f64> {
    let (p1, p2) = rates(baseline_rate, mde_rel)?;
    let (za, zb) = design.quantiles()?;
    let h = cohens_h(p1, p2)?;
    finite_positive(2.0 * (za + zb) * (za + zb) / (h * h))
}

/// Units per arm to detect an absolute change `delta` of a mean with per-unit standard
/// deviation `sigma`: `2(z_a + z_b)²·sigma² / delta²`.
pub fn units_per_arm_mean(sigma: f64, delta: f64, design: TestDesign) -> Option<f64> {
    let (za, zb) = design.quantiles()?;
    if !(sigma > 0.0 && delta != 0.0) {
        return None;
    }
    finite_positive(2.0 * (za + zb) * (za + zb) * sigma * sigma / (delta * delta))
}

/// Smallest relative increase of `baseline_rate` that `units_per_arm` units per arm detect,
/// i.e. the inverse of [`units_per_arm_proportion`] for upward effects. `None` when even a
/// treatment rate of 1 would need more units. Solved by bisection on the treatment rate
/// because the formula has no closed-form inverse in `p2`; required units fall as `p2`
/// moves away from `p1`, which the bisection relies on.
pub fn mde_proportion(baseline_rate: f64, units_per_arm: f64, design: TestDesign) -> Option<f64> {
    let (za, zb) = design.quantiles()?;
    let p1 = baseline_rate;
    if !(p1 > 0.0 && p1 < 1.0 && units_per_arm > 0.0 && units_per_arm.is_finite()) {
        return None;
    }
    if normal_approx_units(p1, 1.0, za, zb) > units_per_arm {
        return None;
    }
    let (mut lo, mut hi) = (p1, 1.0);
    // 200 halvings of an interval shorter than 1 reach the spacing of adjacent doubles.
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if normal_approx_units(p1, mid, za, zb) > units_per_arm {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi / p1 - 1.0)
}

/// Smallest absolute change of a mean detectable with `units_per_arm` units per arm:
/// `(z_a + z_b)·sigma·√(2/n)`. Divide by the control mean for a relative MDE.
pub fn mde_mean(sigma: f64, units_per_arm: f64, design: TestDesign) -> Option<f64> {
    let (za, zb) = design.quantiles()?;
    if !(sigma > 0.0 && sigma.is_finite() && units_per_arm > 0.0) {
        return None;
    }
    finite_positive((za + zb) * sigma * (2.0 / units_per_arm).sqrt())
}

/// Seconds until `remaining_units` more units arrive at the recent rate; `Some(0.0)` when
/// nothing remains, `None` when traffic has stopped (rate 0) or an input is not finite.
pub fn time_to_decision(remaining_units: f64, units_per_second: f64) -> Option<f64> {
    if !(remaining_units.is_finite() && units_per_second.is_finite()) {
        return None;
    }
    if remaining_units <= 0.0 {
        return Some(0.0);
    }
    (units_per_second > 0.0)
        .then(|| remaining_units / units_per_second)
        .filter(|s| s.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESIGN: TestDesign = TestDesign {
        alpha: 0.05,
        power: 0.8,
    };

    #[test]
    fn undefined_plans_are_none() {
        assert_eq!(units_per_arm_proportion(0.1, 0.0, DESIGN), None);
        assert_eq!(units_per_arm_proportion(0.0, 0.1, DESIGN), None);
        assert_eq!(units_per_arm_proportion(1.0, -0.1, DESIGN), None);
        assert_eq!(units_per_arm_proportion(0.6, 1.0, DESIGN), None);
        assert_eq!(units_per_arm_proportion_cohens_h(0.1, 0.0, DESIGN), None);
        assert_eq!(cohens_h(-0.1, 0.5), None);
        let bad = TestDesign {
            alpha: 0.0,
            power: 0.8,
        };
        assert_eq!(units_per_arm_proportion(0.1, 0.1, bad), None);
        assert_eq!(units_per_arm_mean(0.0, 1.0, DESIGN), None);
        assert_eq!(units_per_arm_mean(1.0, 0.0, DESIGN), None);
        assert_eq!(mde_proportion(0.1, 0.0, DESIGN), None);
        assert_eq!(mde_proportion(0.1, 1.0, DESIGN), None);
        assert_eq!(mde_mean(1.0, 0.0, DESIGN), None);
    }

    #[test]
    fn mde_inverts_the_sample_size() {
        for &(p, mde) in &[
            (0.1, 0.1),
            (0.01, 0.2),
            (0.5, 0.02),
            (0.9, 0.1),
            (0.001, 3.0),
        ] {
            let n = units_per_arm_proportion(p, mde, DESIGN);
            let back = n.and_then(|n| mde_proportion(p, n, DESIGN));
            assert!(
                back.is_some_and(|b| (b - mde).abs() <= 1e-9 * mde),
                "{p} {mde} {back:?}"
            );
        }
        let n = units_per_arm_mean(3.0, 0.5, DESIGN);
        let back = n.and_then(|n| mde_mean(3.0, n, DESIGN));
        assert!(back.is_some_and(|d| (d - 0.5).abs() < 1e-12));
    }

    #[test]
    fn required_units_fall_as_the_effect_grows() {
        let (za, zb) = DESIGN.quantiles().unwrap_or((0.0, 0.0));
        for &p1 in &[0.001, 0.01, 0.1, 0.3, 0.5, 0.7, 0.95] {
            let mut last = f64::INFINITY;
            for i in 1..=1000 {
                let p2 = p1 + (1.0 - p1) * f64::from(i) / 1000.0;
                let n = normal_approx_units(p1, p2, za, zb);
                assert!(n < last, "p1 {p1} p2 {p2}");
                last = n;
            }
        }
    }

    #[test]
    fn time_to_decision_handles_stopped_traffic() {
        assert_eq!(time_to_decision(100.0, 0.0), None);
        assert_eq!(time_to_decision(100.0, f64::NAN), None);
        assert_eq!(time_to_decision(-5.0, 0.0), Some(0.0));
        assert_eq!(time_to_decision(100.0, 4.0), Some(25.0));
    }
}
