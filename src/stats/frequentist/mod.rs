//! Fixed-horizon frequentist comparison of a treatment arm against control.
//!
//! Owns the Welch t-test, the unpooled Wald interval for a difference of proportions, relative lift
//! with its delta-method interval, and [`Estimate`]: a difference plus its standard error from
//! which every caller (CUPED, ratio metrics, guardrails) gets intervals and p-values the same
//! way. Conventions are those of `fixtures/golden/README.md`: treatment minus control, ddof = 1
//! sample variances, two-sided tests. An undefined result is `None`, never NaN. The per-arm
//! sufficient statistics are in `arm`, Student t quantiles in `student_t`.

mod arm;
mod student_t;

pub use arm::{ArmEstimate, ArmMoments, MeanStats, ProportionStats, RatioStats};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
pub(crate) use student_t::t_upper_quantile;

/// Significance level used when a campaign does not configure its own.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// A closed interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alternative {
    Greater,
    Less,
}

/// Which way a metric should move: conversion up is good, cost per unit up is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardrailVerdict {
    /// Significantly worse than control by more than the margin: flag it.
    Worse,
    /// Significantly not worse than control by the margin (non-inferiority shown).
    NonInferior,
    Inconclusive,
}

/// Both one-sided tests of a guardrail against the tolerated margin `m >= 0`, in the metric's
/// good direction `g` (the difference, sign-flipped for lower-is-better metrics):
/// `p_worse` tests H1: g < -m, `p_non_inferior` tests H1: g > -m.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guardrail {
    pub p_worse: f64,
    pub p_non_inferior: f64,
    pub verdict: GuardrailVerdict,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Reference {
    Normal,
    StudentT(StudentsT),
}

/// A difference (or any statistic) with a positive standard error and the reference
/// distribution of `value / se`. Constructors refuse a zero or non-finite standard error, so
/// everything derived from an `Estimate` is finite: that is where the null rules live.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    value: f64,
    se: f64,
    reference: Reference,
}

impl Estimate {
    /// Large-sample estimate: `value / se` is compared with the standard normal.
    pub fn normal(value: f64, se: f64) -> Option<Self> {
        (value.is_finite() && se.is_finite() && se > 0.0).then_some(Self {
            value,
            se,
            reference: Reference::Normal,
        })
    }

    /// `value / se` is compared with Student's t at `df` degrees of freedom.
    pub fn student_t(value: f64, se: f64, df: f64) -> Option<Self> {
        let t = StudentsT::new(0.0, 1.0, df)
            .ok()
            .filter(|_| df.is_finite())?;
        Self::normal(value, se).map(|e| Self {
            reference: Reference::StudentT(t),
            ..e
        })
    }

    pub fn value(&self) -> f64 {
        self.value
    }

    pub fn se(&self) -> f64 {
        self.se
    }

    /// Degrees of freedom, `None` for a normal reference.
    pub fn df(&self) -> Option<f64> {
        match self.reference {
            Reference::Normal => None,
            Reference::StudentT(t) => Some(t.freedom()),
        }
    }

    /// The test statistic against a true difference of zero (t or z).
    pub fn statistic(&self) -> f64 {
        self.value / self.se
    }

    fn cdf(&self, x: f64) -> f64 {
        match self.reference {
            Reference::Normal => Normal::standard().cdf(x),
            Reference::StudentT(t) => t.cdf(x),
        }
    }

    fn sf(&self, x: f64) -> f64 {
        match self.reference {
            Reference::Normal => Normal::standard().sf(x),
            Reference::StudentT(t) => t.sf(x),
        }
    }

    /// Two-sided p-value of H0: true difference = 0. The upper tail is computed directly (not
    /// as 1 - cdf) so that tiny p-values keep their relative precision.
    pub fn p_value(&self) -> f64 {
        (2.0 * self.sf(self.statistic().abs())).min(1.0)
    }

    /// One-sided p-value of H1: true value `> null_value` (`Greater`) or `< null_value` (`Less`).
    pub fn p_value_one_sided(&self, null_value: f64, alternative: Alternative) -> f64 {
        let stat = (self.value - null_value) / self.se;
        match alternative {
            Alternative::Greater => self.sf(stat),
            Alternative::Less => self.cdf(stat),
        }
    }

    /// Two-sided `1 - alpha` interval; `None` unless `0 < alpha < 1`.
    pub fn confidence_interval(&self, alpha: f64) -> Option<Interval> {
        if !(alpha > 0.0 && alpha < 1.0) {
            return None;
        }
        let crit = match self.reference {
            Reference::Normal => Normal::standard().inverse_cdf(1.0 - alpha / 2.0),
            Reference::StudentT(t) => t_upper_quantile(&t, alpha / 2.0),
        };
        let half = crit * self.se;
        if !half.is_finite() {
            return None;
        }
        Some(Interval {
            low: self.value - half,
            high: self.value + half,
        })
    }

    /// One-sided guardrail tests at level `alpha` with tolerated harm `margin` (same units as
    /// the estimate; 0 flags any significant harm). `None` for a negative margin or bad alpha.
    pub fn guardrail(&self, margin: f64, direction: Direction, alpha: f64) -> Option<Guardrail> {
        if !(margin >= 0.0 && margin.is_finite() && alpha > 0.0 && alpha < 0.5) {
            return None;
        }
        let null_value = match direction {
            Direction::HigherIsBetter => -margin,
            Direction::LowerIsBetter => margin,
        };
        let (worse, better) = match direction {
            Direction::HigherIsBetter => (Alternative::Less, Alternative::Greater),
            Direction::LowerIsBetter => (Alternative::Greater, Alternative::Less),
        };
        let p_worse = self.p_value_one_sided(null_value, worse);
        let p_non_inferior = self.p_value_one_sided(null_value, better);
        let verdict = if p_worse < alpha {
            GuardrailVerdict::Worse
        } else if p_non_inferior < alpha {
            GuardrailVerdict::NonInferior
        } else {
            GuardrailVerdict::Inconclusive
        };
        Some(Guardrail {
            p_worse,
            p_non_inferior,
            verdict,
        })
    }
}

/// Welch's unequal-variance t-test of treatment minus control, Welch–Satterthwaite df
/// `(a+b)² / (a²/(n_c-1) + b²/(n_t-1))` with `a = s_c²/n_c`, `b = s_t²/n_t`. `None` when both
/// arms have zero variance (nothing to test) or an arm has fewer than two units.
pub fn welch_test(control: &ArmMoments, treatment: &ArmMoments) -> Option<Estimate> {
    if !(control.n >= 2.0 && treatment.n >= 2.0) {
        return None;
    }
    let a = control.variance / control.n;
    let b = treatment.variance / treatment.n;
    let se = (a + b).sqrt();
    if se.is_nan() || se <= 0.0 {
        return None;
    }
    let df = (a + b) * (a + b) / (a * a / (control.n - 1.0) + b * b / (treatment.n - 1.0));
    Estimate::student_t(treatment.mean - control.mean, se, df)
}

/// Normal-reference difference `treatment - control` with `se = sqrt(v_c + v_t)`.
pub fn difference(control: ArmEstimate, treatment: ArmEstimate) -> Option<Estimate> {
    Estimate::normal(
        treatment.value - control.value,
        (control.variance + treatment.variance).sqrt(),
    )
}

/// Unpooled Wald estimate of a difference of proportions, with the binomial variance
/// `r(1-r)/n` per arm (not ddof = 1). `None` when both rates are 0 or 1 (zero width).
pub fn wald_difference(control: &ProportionStats, treatment: &ProportionStats) -> Option<Estimate> {
    let arm = |s: &ProportionStats| {
        s.rate().map(|r| ArmEstimate {
            value: r,
            variance: r * (1.0 - r) / s.n as f64,
        })
    };
    difference(arm(control)?, arm(treatment)?)
}

/// `treatment / control - 1`; `None` when the control value is zero.
pub fn relative_lift(control: f64, treatment: f64) -> Option<f64> {
    (control != 0.0)
        .then(|| treatment / control - 1.0)
        .filter(|l| l.is_finite())
}

/// Relative lift with its delta-method standard error (normal reference), centred on the
/// plain lift with no bias correction:
/// `Var = v_t/c² + t²·v_c/c⁴` for arm values `c`, `t` with estimate variances `v_c`, `v_t`.
/// `None` when the control value is zero or the variance is exactly zero.
pub fn relative_lift_delta(control: ArmEstimate, treatment: ArmEstimate) -> Option<Estimate> {
    let lift = relative_lift(control.value, treatment.value)?;
    let c2 = control.value * control.value;
    let var =
        treatment.variance / c2 + treatment.value * treatment.value * control.variance / (c2 * c2);
    Estimate::normal(lift, var.sqrt())
}

/// Everything the report shows for one treatment arm against control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Control rate or mean.
    pub control: f64,
    /// Treatment rate or mean.
    pub treatment: f64,
    pub abs_diff: f64,
    /// Wald (normal) for proportions, Welch t at the Welch df for means.
    pub abs_ci: Option<Interval>,
    pub rel_lift: Option<f64>,
    /// Delta-method estimate of the relative lift; its `se()` is the reported `rel_lift_se`.
    pub rel: Option<Estimate>,
    pub rel_ci: Option<Interval>,
    /// Welch t-test on the per-unit data (0/1 data for proportions): `t`, `df`, `p_value`.
    pub welch: Option<Estimate>,
}

impl Comparison {
    pub fn p_value(&self) -> Option<f64> {
        self.welch.map(|w| w.p_value())
    }

    /// `abs` picks the absolute-difference estimate given the Welch test: proportions use the
    /// Wald estimate instead, means the Welch test itself.
    fn new(
        (control, treatment): (f64, f64),
        moments: Option<(ArmMoments, ArmMoments)>,
        abs: impl FnOnce(Option<Estimate>) -> Option<Estimate>,
        alpha: f64,
    ) -> Self {
        let welch = moments.and_then(|(c, t)| welch_test(&c, &t));
        let rel =
            moments.and_then(|(c, t)| relative_lift_delta(c.arm_estimate(), t.arm_estimate()));
        Self {
            control,
            treatment,
            abs_diff: treatment - control,
            abs_ci: abs(welch).and_then(|e| e.confidence_interval(alpha)),
            rel_lift: relative_lift(control, treatment),
            rel,
            rel_ci: rel.and_then(|e| e.confidence_interval(alpha)),
            welch,
        }
    }
}

/// Compares two proportion arms; `None` when either arm has no units.
pub fn compare_proportions(
    control: &ProportionStats,
    treatment: &ProportionStats,
    alpha: f64,
) -> Option<Comparison> {
    let rates = (control.rate()?, treatment.rate()?);
    let moments = control.moments().zip(treatment.moments());
    let wald = |_| wald_difference(control, treatment);
    Some(Comparison::new(rates, moments, wald, alpha))
}

/// Compares two mean arms; `None` when either arm has no units.
pub fn compare_means(control: &MeanStats, treatment: &MeanStats, alpha: f64) -> Option<Comparison> {
    let means = (control.mean()?, treatment.mean()?);
    let moments = control.moments().zip(treatment.moments());
    Some(Comparison::new(means, moments, |welch| welch, alpha))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finite(c: &Comparison) -> bool {
        let ci = |i: Option<Interval>| i.is_none_or(|i| i.low.is_finite() && i.high.is_finite());
        let est = |e: Option<Estimate>| {
            e.is_none_or(|e| e.p_value().is_finite() && e.statistic().is_finite())
        };
        c.abs_diff.is_finite() && ci(c.abs_ci) && ci(c.rel_ci) && est(c.rel) && est(c.welch)
    }

    #[test]
    fn zero_units_give_no_comparison() {
        let empty = ProportionStats { n: 0, x: 0 };
        let some = ProportionStats { n: 10, x: 3 };
        assert_eq!(compare_proportions(&empty, &some, DEFAULT_ALPHA), None);
        assert_eq!(compare_proportions(&some, &empty, DEFAULT_ALPHA), None);
        let none = MeanStats::default();
        assert_eq!(compare_means(&none, &none, DEFAULT_ALPHA), None);
        assert_eq!(RatioStats::default().arm_estimate(), None);
    }

    #[test]
    fn one_unit_per_arm_has_a_difference_but_no_test() {
        let one = MeanStats {
            n: 1.0,
            sum: 4.0,
            sum_sq: 16.0,
        };
        let two = MeanStats {
            n: 1.0,
            sum: 6.0,
            sum_sq: 36.0,
        };
        let c = compare_means(&one, &two, DEFAULT_ALPHA);
        assert!(c.is_some_and(|c| c.abs_diff == 2.0
            && c.rel_lift == Some(0.5)
            && c.welch.is_none()
            && c.abs_ci.is_none()
            && c.rel.is_none()));
        let p = compare_proportions(
            &ProportionStats { n: 1, x: 1 },
            &ProportionStats { n: 1, x: 0 },
            0.05,
        );
        assert!(p.is_some_and(|c| c.welch.is_none() && c.rel.is_none() && finite(&c)));
    }

    #[test]
    fn all_converted_in_both_arms_is_undefined_not_nan() {
        let all = ProportionStats { n: 50, x: 50 };
        let c = compare_proportions(&all, &all, DEFAULT_ALPHA);
        assert!(c.is_some_and(|c| c.abs_diff == 0.0
            && c.rel_lift == Some(0.0)
            && c.abs_ci.is_none()
            && c.rel.is_none()
            && c.p_value().is_none()));
    }

    #[test]
    fn zero_variance_in_both_arms_is_undefined() {
        let c = MeanStats {
            n: 10.0,
            sum: 50.0,
            sum_sq: 250.0,
        };
        // 0.1 is not exact in binary: sum_sq - sum²/n leaves rounding residue, still zero.
        let t = MeanStats {
            n: 10.0,
            sum: (0..10).map(|_| 0.1).sum(),
            sum_sq: (0..10).map(|_| 0.01).sum(),
        };
        assert_eq!(t.variance(), Some(0.0));
        let cmp = compare_means(&c, &t, DEFAULT_ALPHA);
        assert!(cmp.is_some_and(|c| c.welch.is_none() && c.rel.is_none() && finite(&c)));
        let zero = MeanStats {
            n: 5.0,
            sum: 0.0,
            sum_sq: 0.0,
        };
        let cmp = compare_means(&zero, &c, DEFAULT_ALPHA);
        assert!(cmp.is_some_and(|c| c.rel_lift.is_none() && c.rel.is_none() && finite(&c)));
    }

    #[test]
    fn invalid_alpha_and_standard_errors_are_refused() {
        assert_eq!(Estimate::normal(1.0, 0.0), None);
        assert_eq!(Estimate::normal(f64::NAN, 1.0), None);
        assert_eq!(Estimate::student_t(1.0, 1.0, 0.0), None);
        assert_eq!(Estimate::student_t(1.0, 1.0, f64::INFINITY), None);
        let e = Estimate::normal(1.0, 0.5);
        assert!(e.is_some_and(|e| e.confidence_interval(0.0).is_none()
            && e.confidence_interval(1.0).is_none()
            && e.guardrail(-1.0, Direction::HigherIsBetter, 0.05).is_none()));
        assert_eq!(ProportionStats { n: 3, x: 4 }.rate(), None);
    }

    #[test]
    fn guardrail_verdicts_follow_the_metric_direction() {
        let drop = Estimate::normal(-0.05, 0.01);
        let verdict = |e: Option<Estimate>, m: f64, d: Direction| {
            e.and_then(|e| e.guardrail(m, d, 0.05)).map(|g| g.verdict)
        };
        assert_eq!(
            verdict(drop, 0.0, Direction::HigherIsBetter),
            Some(GuardrailVerdict::Worse)
        );
        assert_eq!(
            verdict(drop, 0.1, Direction::HigherIsBetter),
            Some(GuardrailVerdict::NonInferior)
        );
        assert_eq!(
            verdict(drop, 0.05, Direction::HigherIsBetter),
            Some(GuardrailVerdict::Inconclusive)
        );
        assert_eq!(
            verdict(drop, 0.0, Direction::LowerIsBetter),
            Some(GuardrailVerdict::NonInferior)
        );
        let g = drop.and_then(|e| e.guardrail(0.02, Direction::HigherIsBetter, 0.05));
        assert!(g.is_some_and(|g| (g.p_worse + g.p_non_inferior - 1.0).abs() < 1e-12));
    }
}
