//! The relative lift under the exact Beta-Binomial model: with independent posteriors
//! p_c ~ Beta(a_c, b_c) and p_t ~ Beta(a_t, b_t), the lift is L = p_t / p_c - 1. Everything a
//! report row shows about it comes from this one posterior:
//! - chance to beat control P(L > 0) = P(p_t > p_c);
//! - the equal-tailed credible interval, quantiles of L from its distribution function
//!   P(L <= q) = ∫ f_c(x) F_t((1 + q) x) dx, solved by Halley's method in u = ln(1 + q) with
//!   the lift's density ∫ f_c(x) f_t(e^u x) e^u x dx and its derivative (densities only), from
//!   the Cornish–Fisher expansion of ln p_t - ln p_c (exact cumulants): one or two evaluations
//!   of the distribution function per quantile;
//! - the risk of shipping treatment, the expected relative shortfall E[max(0, -L)], as the 1-D
//!   integral ∫ f_c(x) [F_t(x) - E[p_t; p_t <= x] / x] dx.
//!
//! Two ways to the same integrals, each checked against scipy (fixtures/golden/beta_lift.json)
//! and against the other:
//! - [`fixed`]: for large counts (every shape in [30, 1e9], the report's usual case) and for
//!   few conversions (first shapes from 0.5): the densities are sampled once per row, and each
//!   evaluation of the distribution function is a sum over ~100 Gauss–Legendre nodes of
//!   Chebyshev series, with no incomplete beta. The chance and the risk come from the same
//!   nodes.
//! - [`adaptive`]: any shapes (rates near 1, tiny prior shapes): Gauss–Kronrod panels cut at
//!   the tail quantiles of both posteriors, with the incomplete beta at every node; the chance
//!   is [`super::prob_beats`].

mod adaptive;
mod fixed;

use super::beta::BetaPosterior;
use adaptive::AdaptiveRules;
use fixed::FixedRules;
use statrs::distribution::{ContinuousCDF, Normal};

/// The lift's posterior summaries for one treatment arm against control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiftPosterior {
    pub chance_to_beat_control: f64,
    pub credible_low: f64,
    pub credible_high: f64,
    /// E[max(0, -(p_t / p_c - 1))]: the relative lift expected to be lost by shipping.
    pub risk_ship_treatment: f64,
}

/// d/dv [y f(y)] / f(y) at y = e^v for `post`'s density f: a - (b - 1) y / (1 - y). Gives the
/// second derivative of the lift's distribution function from densities alone.
fn log_density_slope(post: &BetaPosterior, y: f64) -> f64 {
    post.alpha() - (post.beta() - 1.0) * y / (1.0 - y)
}

/// Halley steps shorter than this many sd of ln(1 + L) end the search (the error left is of
/// the order of the step cubed, ~1e-15 sd), Newton or bisection steps shorter than its square.
/// The reference test holds the interval to 1e-7 relative.
const STEP_TOLERANCE: f64 = 1e-5;

/// The u with P(ln(1 + L) <= u) = `level`, by Halley's method on `h` (distribution function
/// and its first two derivatives) from the Cornish–Fisher start, kept inside the bracket its
/// own evaluations establish: Newton when Halley's correction is large, bisection when a step
/// leaves the bracket, doubling strides outwards while one side is still open. `None` if it
/// does not converge.
fn solve_quantile(h: &dyn Fn(f64) -> [f64; 3], level: f64, log_ratio: &LogRatio) -> Option<f64> {
    let sd = log_ratio.sd();
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    let (mut u, mut stride) = (log_ratio.quantile_start(level), sd);
    for _ in 0..200 {
        let [cdf, density, slope] = h(u);
        let gap = cdf - level;
        if gap == 0.0 {
            return Some(u);
        }
        if gap < 0.0 {
            lo = u;
        } else {
            hi = u;
        }
        let newton = -gap / density;
        let correction = gap * slope / (2.0 * density * density);
        let (step, tolerance) = if correction.abs() < 0.5 {
            (newton / (1.0 - correction), STEP_TOLERANCE)
        } else {
            (newton, STEP_TOLERANCE * STEP_TOLERANCE)
        };
        let next = u + step;
        u = if density > 0.0 && next > lo && next < hi {
            if step.abs() <= tolerance * sd {
                return Some(next);
            }
            next
        } else if lo.is_finite() && hi.is_finite() {
            if hi - lo <= STEP_TOLERANCE * STEP_TOLERANCE * sd {
                return Some(0.5 * (lo + hi));
            }
            0.5 * (lo + hi)
        } else {
            stride *= 2.0;
            if gap < 0.0 {
                u + stride
            } else {
                u - stride
            }
        };
        if !u.is_finite() {
            return None;
        }
    }
    None
}

/// The first four cumulants of ln p_t - ln p_c: those of ln p for p ~ Beta(a, b) are
/// ψ⁽ⁿ⁻¹⁾(a) - ψ⁽ⁿ⁻¹⁾(a + b), with signs alternating for the control's.
struct LogRatio {
    cumulants: [f64; 4],
}

impl LogRatio {
    fn new(treatment: &BetaPosterior, control: &BetaPosterior) -> Option<LogRatio> {
        let of = |p: &BetaPosterior| {
            let (pa, ps) = (polygammas(p.alpha()), polygammas(p.alpha() + p.beta()));
            [0, 1, 2, 3].map(|n| pa[n] - ps[n])
        };
        let (t, c) = (of(treatment), of(control));
        let cumulants = [t[0] - c[0], t[1] + c[1], t[2] - c[2], t[3] + c[3]];
        (cumulants.iter().all(|k| k.is_finite()) && cumulants[1] > 0.0)
            .then_some(LogRatio { cumulants })
    }

    fn sd(&self) -> f64 {
        self.cumulants[1].sqrt()
    }

    /// The Cornish–Fisher expansion of the quantile at `level` to the fourth cumulant.
    fn quantile_start(&self, level: f64) -> f64 {
        let [mean, var, k3, k4] = self.cumulants;
        let z = Normal::standard().inverse_cdf(level);
        let (skew, kurt) = (k3 / var.powf(1.5), k4 / (var * var));
        let w = z + (z * z - 1.0) * skew / 6.0 + (z.powi(3) - 3.0 * z) * kurt / 24.0
            - (2.0 * z.powi(3) - 5.0 * z) * skew * skew / 36.0;
        mean + self.sd() * w
    }
}

/// ψ(x) and its first three derivatives for x > 0: the asymptotic series at x + k >= 20 after
/// k steps of the recurrence ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x + 1) - (-1)ⁿ n! / xⁿ⁺¹; ~1e-15 relative, far more
/// than a starting point needs.
fn polygammas(x: f64) -> [f64; 4] {
    let mut out = [0.0; 4];
    let mut x = x;
    while x < 20.0 {
        let r = 1.0 / x;
        out[0] -= r;
        out[1] += r * r;
        out[2] -= 2.0 * r * r * r;
        out[3] += 6.0 * r * r * r * r;
        x += 1.0;
    }
    let r = 1.0 / x;
    let r2 = r * r;
    let series = |c: [f64; 4]| c.iter().rev().fold(0.0, |acc, c| acc * r2 + c);
    out[0] += x.ln() - 0.5 * r - r2 * series([1.0 / 12.0, -1.0 / 120.0, 1.0 / 252.0, -1.0 / 240.0]);
    out[1] += r + 0.5 * r2 + r * r2 * series([1.0 / 6.0, -1.0 / 30.0, 1.0 / 42.0, -1.0 / 30.0]);
    out[2] -= r2 + r * r2 + r2 * r2 * series([0.5, -1.0 / 6.0, 1.0 / 6.0, -3.0 / 10.0]);
    out[3] += 2.0 * r * r2 + 3.0 * r2 * r2 + r * r2 * r2 * series([2.0, -1.0, 4.0 / 3.0, -3.0]);
    out
}

/// The lift posterior of `treatment` against `control` at credible level 1 - `alpha`. `None`
/// for an alpha outside (0, 1) or when a quantile cannot be found.
pub fn beta_lift(
    treatment: &BetaPosterior,
    control: &BetaPosterior,
    alpha: f64,
) -> Option<LiftPosterior> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    let log_ratio = LogRatio::new(treatment, control)?;
    match FixedRules::new(treatment, control) {
        Some(rules) => beta_lift_fixed(&rules, alpha, &log_ratio),
        None => beta_lift_adaptive(treatment, control, alpha, &log_ratio),
    }
}

/// [`beta_lift`] by the fixed rules: the chance and the risk from the same nodes as the
/// interval.
fn beta_lift_fixed(rules: &FixedRules, alpha: f64, log_ratio: &LogRatio) -> Option<LiftPosterior> {
    let h = |u: f64| rules.cdf_density(u);
    let (chance, risk) = rules.chance_and_risk();
    Some(LiftPosterior {
        chance_to_beat_control: chance,
        credible_low: solve_quantile(&h, alpha / 2.0, log_ratio)?.exp_m1(),
        credible_high: solve_quantile(&h, 1.0 - alpha / 2.0, log_ratio)?.exp_m1(),
        risk_ship_treatment: risk,
    })
}

/// [`beta_lift`] by the adaptive rules alone (any shapes; the reference for the fixed rules in
/// the tests).
fn beta_lift_adaptive(
    treatment: &BetaPosterior,
    control: &BetaPosterior,
    alpha: f64,
    log_ratio: &LogRatio,
) -> Option<LiftPosterior> {
    let rules = AdaptiveRules::new(treatment, control, log_ratio.sd())?;
    let h = |u: f64| rules.cdf_density(u);
    Some(LiftPosterior {
        chance_to_beat_control: super::prob_beats(treatment, control),
        credible_low: solve_quantile(&h, alpha / 2.0, log_ratio)?.exp_m1(),
        credible_high: solve_quantile(&h, 1.0 - alpha / 2.0, log_ratio)?.exp_m1(),
        risk_ship_treatment: rules.risk_ship_treatment()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(n: u64, x: u64) -> BetaPosterior {
        BetaPosterior::from_counts(n, x, super::super::BetaPrior::default()).expect("valid")
    }

    #[test]
    fn the_interval_brackets_the_chance_to_beat_consistently() {
        // P(L <= 0) = 1 - P(beat): the interval excludes 0 from below exactly when P(beat) is
        // above 1 - alpha/2.
        for (c, t) in [
            (post(1000, 100), post(1000, 128)),
            (post(20000, 2000), post(20000, 2080)),
            (post(200, 0), post(200, 3)),
            (post(50, 3), post(40, 1)),
        ] {
            let sd = LogRatio::new(&t, &c).expect("cumulants").sd();
            let rules = AdaptiveRules::new(&t, &c, sd).expect("valid");
            let at_zero = rules.cdf_density(0.0)[0];
            let beat = super::super::prob_beats(&t, &c);
            assert!((at_zero + beat - 1.0).abs() < 1e-9, "{at_zero} + {beat}");
            let l = beta_lift(&t, &c, 0.05).expect("defined");
            assert!(l.credible_low < l.credible_high);
            assert_eq!(l.credible_low > 0.0, beat > 0.975, "{l:?}");
            assert!(l.risk_ship_treatment >= 0.0 && l.risk_ship_treatment <= 1.0);
        }
    }

    #[test]
    fn fixed_rules_match_the_adaptive_rules() {
        let shape = |a: f64, b: f64| BetaPosterior::new(a, b).expect("valid");
        let cases = [
            (shape(101.0, 901.0), shape(129.0, 873.0), 0.05),
            (shape(2_501.0, 47_501.0), shape(2_601.0, 47_401.0), 0.05),
            (shape(31.0, 1e6), shape(45.0, 1e6), 0.05),
            (shape(30.0, 30.0), shape(35.0, 40.0), 0.1),
            (shape(47_501.0, 2_501.0), shape(47_401.0, 2_601.0), 0.05),
            (shape(500.0, 9_500.0), shape(30.0, 970.0), 0.05),
            (shape(30.0, 970.0), shape(5e5, 9.5e6), 0.05),
            (shape(1e7, 9e7), shape(1.0003e7, 9e7), 0.01),
        ];
        // Few conversions (the logit rules): 0 to 28 of 60 to 20,000 units, equal and very
        // unequal arms, and Jeffreys' prior with none.
        let mut few = vec![
            (shape(0.5, 200.5), shape(3.5, 197.5), 0.05),
            (shape(3.5, 197.5), shape(0.5, 200.5), 0.05),
        ];
        for (n_c, x_c, n_t, x_t) in [
            (200, 0, 200, 3),
            (200, 3, 200, 0),
            (200, 3, 200, 5),
            (60, 1, 60, 28),
            (60, 28, 60, 1),
            (1000, 10, 1000, 0),
            (20_000, 3, 20_000, 12),
            (20_000, 28, 60, 1),
            (60, 1, 20_000, 28),
            (1000, 28, 1000, 29),
            (500, 2, 80, 1),
            (300, 0, 300, 0),
        ] {
            few.push((post(n_c, x_c), post(n_t, x_t), 0.05));
        }
        for (c, t, alpha) in cases.into_iter().chain(few) {
            let fixed = beta_lift(&t, &c, alpha).expect("fixed");
            assert!(FixedRules::new(&t, &c).is_some());
            let log_ratio = LogRatio::new(&t, &c).expect("cumulants");
            let adaptive = beta_lift_adaptive(&t, &c, alpha, &log_ratio).expect("adaptive");
            let pairs = [
                (
                    fixed.chance_to_beat_control,
                    adaptive.chance_to_beat_control,
                ),
                (fixed.credible_low, adaptive.credible_low),
                (fixed.credible_high, adaptive.credible_high),
                (fixed.risk_ship_treatment, adaptive.risk_ship_treatment),
            ];
            for (x, y) in pairs {
                assert!(
                    (x - y).abs() <= 1e-9 * y.abs() + 1e-13,
                    "{c:?} {t:?}: {fixed:?} vs {adaptive:?}"
                );
            }
        }
    }

    #[test]
    fn every_regime_matches_scipy_and_the_adaptive_rules_match_it_everywhere() {
        // The reference values the report test reads, here per regime: each case through the
        // rules beta_lift picks for it and through the adaptive rules, at the report test's
        // tolerances; the cases cover all three regimes at least twice.
        let golden: serde_json::Value =
            serde_json::from_str(include_str!("../../../fixtures/golden/beta_lift.json"))
                .expect("reference json");
        let cases = golden["cases"].as_array().expect("cases");
        let mut regimes = std::collections::BTreeMap::new();
        for case in cases {
            let num = |k: &str| case[k].as_f64().expect(k);
            let count = |k: &str| num(k) as u64;
            let c = post(count("n_c"), count("x_c"));
            let t = post(count("n_t"), count("x_t"));
            let alpha = num("alpha");
            let log_ratio = LogRatio::new(&t, &c).expect("cumulants");
            let adaptive = beta_lift_adaptive(&t, &c, alpha, &log_ratio).expect("adaptive");
            let mut results = vec![("adaptive", adaptive)];
            match FixedRules::new(&t, &c) {
                Some(rules) => {
                    let name = rules.regime();
                    let fixed = beta_lift_fixed(&rules, alpha, &log_ratio).expect("fixed");
                    results.push((name, fixed));
                    *regimes.entry(name).or_insert(0) += 1;
                }
                None => *regimes.entry("adaptive").or_insert(0) += 1,
            }
            for (name, got) in results {
                let pairs = [
                    (got.credible_low, num("credible_low"), 1e-7),
                    (got.credible_high, num("credible_high"), 1e-7),
                    (
                        got.chance_to_beat_control,
                        num("chance_to_beat_control"),
                        1e-9,
                    ),
                    (got.risk_ship_treatment, num("risk_ship_treatment"), 1e-7),
                ];
                for (x, want, tolerance) in pairs {
                    let bound = tolerance * want.abs().max(1e-9);
                    assert!((x - want).abs() <= bound, "{name}: {got:?} vs {case}");
                }
            }
        }
        assert_eq!(regimes.len(), 3, "{regimes:?}");
        assert!(regimes.values().all(|&n| n >= 2), "{regimes:?}");
    }

    #[test]
    fn polygammas_match_known_values() {
        // ψ(1) = -γ, ψ'(1) = π²/6, ψ''(1) = -2ζ(3), ψ'''(1) = π⁴/15; ψ(1/2) = -γ - 2 ln 2,
        // ψ'(1/2) = π²/2; and the recurrence's own step: ψ(x + 1) = ψ(x) + 1/x at x = 7.3.
        let pi = std::f64::consts::PI;
        let euler = 0.577_215_664_901_532_9;
        let at_one = polygammas(1.0);
        let want = [
            -euler,
            pi * pi / 6.0,
            -2.404_113_806_319_188_5,
            pi.powi(4) / 15.0,
        ];
        for (got, want) in at_one.iter().zip(want) {
            assert!((got - want).abs() < 1e-14 * want.abs(), "{at_one:?}");
        }
        let half = polygammas(0.5);
        assert!((half[0] + euler + 2.0 * 2f64.ln()).abs() < 1e-14);
        assert!((half[1] - pi * pi / 2.0).abs() < 1e-14);
        let (x, y) = (polygammas(7.3), polygammas(8.3));
        assert!((y[0] - x[0] - 1.0 / 7.3).abs() < 1e-14);
        assert!((x[1] - y[1] - 1.0 / (7.3 * 7.3)).abs() < 1e-15);
    }

    #[test]
    fn identical_arms_are_symmetric_in_log_ratio() {
        let a = post(5000, 500);
        let l = beta_lift(&a, &a, 0.1).expect("defined");
        assert!((l.chance_to_beat_control - 0.5).abs() < 1e-9);
        // ln(1 + L) is symmetric for identical posteriors: (1+low)(1+high) = 1.
        assert!(((1.0 + l.credible_low) * (1.0 + l.credible_high) - 1.0).abs() < 1e-8);
    }
}
