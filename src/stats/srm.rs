//! Sample-ratio mismatch and multiple exposure: is the traffic split the one configured?
//!
//! Owns the chi-square goodness-of-fit of units per arm against the configured weights, the
//! SRM alarm rule (p < 0.001 once every arm has at least 8 units) and the multiple-exposure
//! flag (units seen in two arms >= 1% of units). A mismatch means assignment or logging is
//! broken, so every other figure of the campaign is suspect: hence the strict threshold.

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// The alarm fires below this p-value: SRM is checked on every refresh, so a loose threshold
/// would cry wolf; a real assignment bug drives p far below it within hours.
pub const SRM_ALPHA: f64 = 0.001;
/// Below this many units in any arm the chi-square approximation is not trusted.
pub const SRM_MIN_UNITS_PER_ARM: u64 = 8;
/// Share of units assigned to more than one arm at which the campaign is flagged.
pub const MULTIPLE_EXPOSURE_SHARE: f64 = 0.01;

/// Pearson chi-square goodness of fit of observed counts against expected proportions.
#[derive(Debug, Clone, PartialEq)]
pub struct ChiSquareFit {
    pub statistic: f64,
    pub df: usize,
    pub p_value: f64,
    /// The expected count per arm (`total · weight_i / Σweights` for configured weights).
    pub expected: Vec<f64>,
}

/// Chi-square goodness of fit of `observed` counts against `weights` (need not sum to 1).
/// `None` when the test is undefined: fewer than two arms, lengths differ, no units, or a
/// weight that is not positive and finite (an arm configured to get no traffic has no place
/// in a ratio test).
pub fn chi_square_fit(observed: &[u64], weights: &[f64]) -> Option<ChiSquareFit> {
    if observed.len() < 2 || observed.len() != weights.len() {
        return None;
    }
    if !weights.iter().all(|w| w.is_finite() && *w > 0.0) {
        return None;
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    let weight_sum: f64 = weights.iter().sum();
    if !(total > 0.0 && weight_sum.is_finite()) {
        return None;
    }
    let expected: Vec<f64> = weights.iter().map(|w| total * w / weight_sum).collect();
    chi_square_expected(observed, expected)
}

/// Pearson chi-square of `observed` counts against `expected` counts given directly (a
/// bandit's Σ_p units_p · weight_{arm,p}), df = arms - 1. `None` under the same rules as
/// [`chi_square_fit`]: fewer than two arms, lengths differ, no units, or an expected count
/// that is not positive and finite.
pub fn chi_square_expected(observed: &[u64], expected: Vec<f64>) -> Option<ChiSquareFit> {
    if observed.len() < 2 || observed.len() != expected.len() {
        return None;
    }
    if !expected.iter().all(|e| e.is_finite() && *e > 0.0) || observed.iter().all(|&o| o == 0) {
        return None;
    }
    let statistic: f64 = observed
        .iter()
        .zip(&expected)
        .map(|(&o, &e)| (o as f64 - e) * (o as f64 - e) / e)
        .sum();
    let df = observed.len() - 1;
    let p_value = ChiSquared::new(df as f64).ok()?.sf(statistic);
    (statistic.is_finite() && p_value.is_finite()).then_some(ChiSquareFit {
        statistic,
        df,
        p_value,
        expected,
    })
}

/// Why an SRM check did or did not raise the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrmStatus {
    /// Every arm has enough units; `alarm` is the verdict.
    Evaluated,
    /// Some arm has fewer than [`SRM_MIN_UNITS_PER_ARM`] units; the alarm stays off.
    InsufficientUnits { min_arm_units: u64 },
    /// The test is undefined for this input (see [`chi_square_fit`]).
    Undefined,
}

/// What the report shows as `srm`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SrmCheck {
    /// Chi-square p-value whenever the test is defined, even before the alarm is armed, so an
    /// operator can watch it; `None` when undefined.
    pub p_value: Option<f64>,
    pub alarm: bool,
    pub status: SrmStatus,
}

/// SRM check of units per arm against configured weights.
pub fn srm_check(observed: &[u64], weights: &[f64]) -> SrmCheck {
    verdict(observed, chi_square_fit(observed, weights))
}

/// SRM check of units per arm against expected counts given directly: for a bandit, each
/// arm's Σ over allocation periods of the period's units times the arm's weight in it.
pub fn srm_check_expected(observed: &[u64], expected: Vec<f64>) -> SrmCheck {
    verdict(observed, chi_square_expected(observed, expected))
}

/// The alarm rule shared by both checks: no alarm until every arm has enough units.
fn verdict(observed: &[u64], fit: Option<ChiSquareFit>) -> SrmCheck {
    let Some(fit) = fit else {
        return SrmCheck {
            p_value: None,
            alarm: false,
            status: SrmStatus::Undefined,
        };
    };
    let min_arm_units = observed.iter().copied().min().unwrap_or(0);
    if min_arm_units < SRM_MIN_UNITS_PER_ARM {
        let status = SrmStatus::InsufficientUnits { min_arm_units };
        return SrmCheck {
            p_value: Some(fit.p_value),
            alarm: false,
            status,
        };
    }
    SrmCheck {
        p_value: Some(fit.p_value),
        alarm: fit.p_value < SRM_ALPHA,
        status: SrmStatus::Evaluated,
    }
}

/// Units seen in more than one arm (e.g. a conflicting assignment line).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultipleExposure {
    pub conflicted_units: u64,
    /// All units of the campaign, the conflicted ones included.
    pub units: u64,
    /// `conflicted_units / units`; `None` with no units.
    pub share: Option<f64>,
    pub flagged: bool,
}

/// Flags the campaign when conflicted units are at least [`MULTIPLE_EXPOSURE_SHARE`] (1%) of its
/// units. The comparison is done in integers (`100·conflicted >= units`) so that exactly 1%
/// flags regardless of rounding.
pub fn multiple_exposure(conflicted_units: u64, units: u64) -> MultipleExposure {
    let share = (units > 0).then(|| conflicted_units as f64 / units as f64);
    let flagged = units > 0 && u128::from(conflicted_units) * 100 >= u128::from(units);
    MultipleExposure {
        conflicted_units,
        units,
        share,
        flagged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_inputs_give_no_p_value_and_no_alarm() {
        for (obs, w) in [
            (vec![], vec![]),
            (vec![10], vec![1.0]),
            (vec![0, 0], vec![0.5, 0.5]),
            (vec![10, 10], vec![0.5]),
            (vec![10, 10], vec![1.0, 0.0]),
            (vec![10, 10], vec![1.0, f64::NAN]),
            (vec![10, 10], vec![-1.0, 2.0]),
        ] {
            let check = srm_check(&obs, &w);
            assert_eq!(
                check,
                SrmCheck {
                    p_value: None,
                    alarm: false,
                    status: SrmStatus::Undefined
                }
            );
        }
    }

    #[test]
    fn alarm_waits_for_eight_units_per_arm() {
        // 7 vs 0 is wildly off, but one arm is still empty: no alarm yet, p still reported.
        let early = srm_check(&[7, 0], &[1.0, 1.0]);
        assert_eq!(
            early.status,
            SrmStatus::InsufficientUnits { min_arm_units: 0 }
        );
        assert!(!early.alarm);
        assert!(early.p_value.is_some_and(|p| p < 0.01));
        let late = srm_check(&[100, 8], &[1.0, 1.0]);
        assert_eq!(late.status, SrmStatus::Evaluated);
        assert!(late.alarm);
        assert!(!srm_check(&[8, 8], &[1.0, 1.0]).alarm);
    }

    #[test]
    fn one_unit_in_one_arm_is_defined() {
        let fit = chi_square_fit(&[1, 0], &[1.0, 1.0]);
        assert!(fit.is_some_and(|f| (f.statistic - 1.0).abs() < 1e-12 && f.p_value.is_finite()));
    }

    #[test]
    fn expected_counts_given_directly_match_the_weights_form() {
        // Proportional expected counts are the configured-weights test exactly.
        let (obs, w) = ([480_u64, 520, 1010], [1.0, 1.0, 2.0]);
        let by_weights = chi_square_fit(&obs, &w).expect("defined");
        let expected: Vec<f64> = w.iter().map(|w| 2010.0 * w / 4.0).collect();
        let direct = chi_square_expected(&obs, expected).expect("defined");
        assert!((by_weights.statistic - direct.statistic).abs() < 1e-12);
        assert!((by_weights.p_value - direct.p_value).abs() < 1e-15);
        for bad in [vec![10.0, 0.0], vec![10.0, f64::NAN], vec![10.0]] {
            assert_eq!(chi_square_expected(&[5, 5], bad), None);
        }
        assert_eq!(chi_square_expected(&[0, 0], vec![1.0, 1.0]), None);
        assert!(!srm_check_expected(&[7, 0], vec![3.5, 3.5]).alarm);
        assert!(srm_check_expected(&[100, 8], vec![54.0, 54.0]).alarm);
    }

    #[test]
    fn multiple_exposure_flags_at_one_percent() {
        assert!(multiple_exposure(1, 100).flagged);
        assert!(!multiple_exposure(1, 101).flagged);
        assert!(!multiple_exposure(0, 0).flagged);
        assert_eq!(multiple_exposure(0, 0).share, None);
        assert!(multiple_exposure(u64::MAX, u64::MAX).flagged);
    }
}
