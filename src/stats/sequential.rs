//! Always-valid inference for operators who peek. This module owns:
//! - the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas
//!   (2021), two-sided normal-mixture boundary, as GrowthBook uses it, for absolute or relative
//!   differences (the caller passes the estimate and its standard error);
//! - the mixture-SPRT always-valid p-value of Johari, Koomen, Pekelis & Walsh for a normal mean
//!   difference, and `RunningPValue`, its running minimum over looks.
//!
//! Both hold their error rate uniformly over time: checking after every batch of units does not
//! inflate false positives, unlike a fixed-horizon test. Undefined results are `None`, never NaN.
//!
//! Duality: with mixing variance tau² = rho²·sigma² the mSPRT rejects at level alpha exactly
//! when the confidence sequence excludes 0 (substitute V = sigma²/n into the mSPRT threshold
//! and the CS half-width falls out), which is what `always_valid_p_value` uses.

/// Default N*: total units at which the operator expects to decide; the boundary is tightest
/// near there.
pub const DEFAULT_N_STAR: f64 = 5000.0;

/// Tuning shared by the confidence sequence and its matching p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequentialConfig {
    /// Error rate over the whole (unbounded) sequence of looks; not halved for two sides.
    pub alpha: f64,
    /// Total units across arms at which the boundary is tuned to be tightest.
    pub n_star: f64,
}

impl Default for SequentialConfig {
    fn default() -> Self {
        SequentialConfig {
            alpha: 0.05,
            n_star: DEFAULT_N_STAR,
        }
    }
}

impl SequentialConfig {
    fn is_valid(&self) -> bool {
        self.alpha > 0.0 && self.alpha < 1.0 && self.n_star > 0.0 && self.n_star.is_finite()
    }
}

/// An always-valid interval for a difference at the current look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfidenceSequence {
    pub estimate: f64,
    pub half_width: f64,
    pub low: f64,
    pub high: f64,
}

impl ConfidenceSequence {
    /// True when `value` lies outside the interval, e.g. `excludes(0.0)` = significant.
    pub fn excludes(&self, value: f64) -> bool {
        value < self.low || value > self.high
    }
}

/// Mixing parameter rho = sqrt((-2 ln alpha + ln(-2 ln alpha + 1)) / N*), the choice that
/// (approximately) minimises the boundary's width at n = N*.
pub fn mixture_rho(config: &SequentialConfig) -> Option<f64> {
    if !config.is_valid() {
        return None;
    }
    let l = -2.0 * config.alpha.ln();
    Some(((l + (l + 1.0).ln()) / config.n_star).sqrt())
}

/// Half-width sigma · sqrt( 2(n rho² + 1)/(n² rho²) · ln( sqrt(n rho² + 1)/alpha ) ), where
/// `sigma2` is the per-unit variance of the difference estimator (SE² × total units) and
/// `total_units` counts units across all arms. `None` for zero units, a non-positive or
/// non-finite variance, or an invalid config.
pub fn half_width(sigma2: f64, total_units: u64, config: &SequentialConfig) -> Option<f64> {
    let rho = mixture_rho(config)?;
    if total_units == 0 || !(sigma2 > 0.0 && sigma2.is_finite()) {
        return None;
    }
    let n = total_units as f64;
    let nr2 = n * rho * rho;
    // ln(sqrt(n rho² + 1)/alpha) written as ½·ln1p(n rho²) - ln alpha: exact for tiny n rho².
    let log_term = 0.5 * nr2.ln_1p() - config.alpha.ln();
    Some((sigma2 * 2.0 * (nr2 + 1.0) / (n * nr2) * log_term).sqrt())
}

/// Confidence sequence around `estimate` (absolute or relative difference) with standard error
/// `se` after `total_units` units across arms. `None` when the SE is zero or not finite (no
/// uncertainty to bound: a zero-width interval is reported as undefined), when there are no
/// units, or when the estimate is not finite.
pub fn confidence_sequence(
    estimate: f64,
    se: f64,
    total_units: u64,
    config: &SequentialConfig,
) -> Option<ConfidenceSequence> {
    if !(estimate.is_finite() && se > 0.0 && se.is_finite()) {
        return None;
    }
    let half_width = half_width(se * se * total_units as f64, total_units, config)?;
    Some(ConfidenceSequence {
        estimate,
        half_width,
        low: estimate - half_width,
        high: estimate + half_width,
    })
}

/// Log of the mSPRT mixture likelihood ratio for H0: difference = 0, with `variance` = V, the
/// variance of `delta_hat`, and mixing distribution N(0, tau2) on the true difference:
/// log Λ = ½ ln(V/(V+tau2)) + tau2·delta_hat² / (2V(V+tau2)). `None` for non-positive or
/// non-finite V or tau2, or a non-finite estimate.
pub fn msprt_log_lambda(delta_hat: f64, variance: f64, tau2: f64) -> Option<f64> {
    let positive = |v: f64| v > 0.0 && v.is_finite();
    if !delta_hat.is_finite() || !positive(variance) || !positive(tau2) {
        return None;
    }
    let total = variance + tau2;
    // ln(V/(V+tau2)) = -ln1p(tau2/V): keeps precision when tau2 << V.
    let log_shrink = -0.5 * (tau2 / variance).ln_1p();
    Some(log_shrink + tau2 * delta_hat * delta_hat / (2.0 * variance * total))
}

/// Single-look mSPRT p-value min(1, 1/Λ), computed as exp(-log Λ) so a huge Λ cannot overflow.
pub fn msprt_p_value(delta_hat: f64, variance: f64, tau2: f64) -> Option<f64> {
    msprt_log_lambda(delta_hat, variance, tau2).map(|log_lambda| (-log_lambda).exp().min(1.0))
}

/// The p-value that matches `confidence_sequence`: mSPRT with tau² = rho²·sigma², sigma² =
/// SE² × total units (see the module note), so p <= alpha exactly when the CS excludes 0.
/// Feed successive looks into a `RunningPValue` for the always-valid value over time.
pub fn always_valid_p_value(
    estimate: f64,
    se: f64,
    total_units: u64,
    config: &SequentialConfig,
) -> Option<f64> {
    let rho = mixture_rho(config)?;
    if total_units == 0 {
        return None;
    }
    let variance = se * se;
    msprt_p_value(
        estimate,
        variance,
        rho * rho * variance * total_units as f64,
    )
}

/// Running minimum of the per-look p-values: the always-valid p-value after any number of
/// looks. It never goes back up, which is what makes stopping at any look safe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunningPValue {
    current: f64,
}

impl Default for RunningPValue {
    fn default() -> Self {
        RunningPValue { current: 1.0 }
    }
}

impl RunningPValue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in one look's p-value (an undefined look, `None` or NaN, changes nothing) and
    /// returns the always-valid p-value so far.
    pub fn observe(&mut self, p_value: Option<f64>) -> f64 {
        if let Some(p) = p_value.filter(|p| !p.is_nan()) {
            self.current = self.current.min(p.clamp(0.0, 1.0));
        }
        self.current
    }

    /// The always-valid p-value so far (1 before any defined look).
    pub fn value(&self) -> f64 {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_inputs_are_none_not_nan() {
        let cfg = SequentialConfig::default();
        assert_eq!(confidence_sequence(0.1, 0.02, 0, &cfg), None);
        assert_eq!(confidence_sequence(0.1, 0.0, 100, &cfg), None);
        assert_eq!(confidence_sequence(f64::NAN, 0.1, 100, &cfg), None);
        assert_eq!(half_width(0.0, 100, &cfg), None);
        assert_eq!(half_width(1.0, 0, &cfg), None);
        let bad = SequentialConfig { alpha: 0.0, ..cfg };
        assert_eq!(mixture_rho(&bad), None);
        let bad = SequentialConfig { n_star: 0.0, ..cfg };
        assert_eq!(confidence_sequence(0.1, 0.02, 100, &bad), None);
        assert_eq!(msprt_p_value(0.1, 0.0, 0.01), None);
        assert_eq!(msprt_p_value(0.1, 1e-3, 0.0), None);
        assert_eq!(always_valid_p_value(0.1, 0.02, 0, &cfg), None);
        assert_eq!(always_valid_p_value(0.1, 0.0, 10, &cfg), None);
    }

    #[test]
    fn one_unit_gives_a_finite_wide_interval() {
        let cs = confidence_sequence(0.0, 1.0, 1, &SequentialConfig::default());
        let cs = cs.expect("defined");
        assert!(cs.half_width.is_finite() && cs.half_width > 10.0);
    }

    #[test]
    fn huge_evidence_does_not_overflow() {
        let p = msprt_p_value(1.0, 1e-12, 1.0).expect("defined");
        assert_eq!(p, 0.0);
        assert!(msprt_log_lambda(1.0, 1e-12, 1.0)
            .expect("defined")
            .is_finite());
    }

    #[test]
    fn p_value_is_dual_to_the_sequence() {
        let cfg = SequentialConfig::default();
        for (est, se, n) in [
            (0.01, 0.004, 4000_u64),
            (0.02, 0.004, 4000),
            (-0.3, 0.2, 90),
        ] {
            let cs = confidence_sequence(est, se, n, &cfg).expect("defined");
            let p = always_valid_p_value(est, se, n, &cfg).expect("defined");
            assert_eq!(cs.excludes(0.0), p < cfg.alpha, "{est} {se} {n}");
            // At the boundary itself Λ = 1/alpha exactly.
            let edge = always_valid_p_value(cs.half_width, se, n, &cfg).expect("defined");
            assert!((edge - cfg.alpha).abs() < 1e-12, "{edge}");
        }
    }

    #[test]
    fn running_p_value_keeps_the_minimum() {
        let mut running = RunningPValue::new();
        assert_eq!(running.value(), 1.0);
        assert_eq!(running.observe(Some(0.4)), 0.4);
        assert_eq!(running.observe(Some(0.7)), 0.4);
        assert_eq!(running.observe(None), 0.4);
        assert_eq!(running.observe(Some(f64::NAN)), 0.4);
        assert_eq!(running.observe(Some(0.01)), 0.01);
    }
}
