//! Difference in differences for a campaign launched in some units (stores, regions, cohorts)
//! from a known period, on a balanced unit x period panel of one metric.
//!
//! The effect is the treated x post coefficient of the two-way fixed-effects regression
//! y_it = α_i + γ_t + β·treated_i·post_t + ε_it, fitted by the two-way within transformation
//! (see `within`). Standard errors are cluster-robust (CR1) with statsmodels' small-sample
//! factor G/(G-1)·(N-1)/(N-K), N the unit-periods and K every regressor of the dummy form
//! (intercept, units - 1 unit dummies, periods - 1 period dummies, and the effect terms), and
//! intervals use Student t with G - 1 degrees of freedom (statsmodels' `use_t=True` choice for
//! `cov_type='cluster'`), because with a handful of regions the normal interval is too narrow.
//!
//! Parallel trends cannot be proven, only probed: the event study fits treated x period terms
//! for every period but the last pre-period (the reference), tests the pre-period ones jointly
//! (an F test with G - 1 denominator degrees of freedom, as statsmodels' `wald_test`), and a
//! placebo refits the DiD on pre-period data only with the start moved halfway into it.

mod within;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, FisherSnedecor, StudentsT};
use std::collections::BTreeMap;
use within::{Checked, WithinFailure};

/// One unit of the panel: its arm, its cluster, and its metric per period (zero when it had
/// no events in a period; every unit has a value for every period).
#[derive(Debug, Clone, PartialEq)]
pub struct PanelUnit {
    pub treated: bool,
    pub cluster: u64,
    pub values: Vec<f64>,
}

/// A balanced panel: periods 0..periods in calendar order, the campaign from `first_post` on.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub units: Vec<PanelUnit>,
    pub periods: usize,
    pub first_post: usize,
}

/// Why a DiD cannot be computed, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DidError {
    #[error("the panel has no units")]
    NoUnits,
    #[error("no treated units: a DiD needs units that got the campaign")]
    NoTreated,
    #[error("no control units: a DiD needs units that did not get the campaign")]
    NoControl,
    #[error("no pre-period: the campaign starts at the first period, so there is no baseline; choose data that begins before the start")]
    NoPrePeriod,
    #[error("no post-period: the start (period {first_post}) is not before the last period ({periods} periods); choose data that runs past the start")]
    NoPostPeriod { first_post: usize, periods: usize },
    #[error("all units are in one cluster ({cluster}); cluster-robust errors need at least two clusters: cluster by unit or by a finer field")]
    OneCluster { cluster: u64 },
    #[error("the panel is not balanced: unit {unit} has {got} periods, expected {expected}")]
    Unbalanced {
        unit: usize,
        got: usize,
        expected: usize,
    },
    #[error("unit {unit} has no usable value in period {period} (not a finite number)")]
    NotFinite { unit: usize, period: usize },
    #[error("too few unit-periods: {observations} for {regressors} regressors including the fixed effects")]
    TooFewObservations {
        observations: usize,
        regressors: usize,
    },
    #[error(
        "the regression is singular (a term is constant once unit and period effects are removed)"
    )]
    Singular,
    #[error("alpha must be in (0, 1), got {0}")]
    Alpha(f64),
}

/// One coefficient with its cluster-robust standard error, t statistic and interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coefficient {
    pub estimate: f64,
    pub se: f64,
    pub t: f64,
    pub p_value: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

impl Coefficient {
    /// True when the interval leaves out zero.
    pub fn excludes_zero(&self) -> bool {
        self.ci_low > 0.0 || self.ci_high < 0.0
    }
}

/// The treated x post estimate and the panel it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DidFit {
    pub effect: Coefficient,
    pub units: usize,
    pub periods: usize,
    pub clusters: usize,
    /// N, the unit-periods.
    pub observations: usize,
    /// K, every regressor of the dummy regression (intercept and fixed effects included).
    pub regressors: usize,
    /// G - 1, the degrees of freedom of the t intervals.
    pub df: usize,
}

/// One treated x period coefficient of the event study, relative to the reference period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PeriodEffect {
    pub period: usize,
    pub pre: bool,
    pub coefficient: Coefficient,
}

/// The joint test that every pre-period coefficient is zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PreTrendTest {
    /// The Wald statistic divided by its numerator df.
    pub f: f64,
    pub df_num: usize,
    pub df_denom: usize,
    pub p_value: f64,
}

/// The DiD refitted on pre-period data only with a made-up start; it should find nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placebo {
    pub fake_first_post: usize,
    pub fit: DidFit,
}

/// What the parallel-trends checks say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendVerdict {
    /// The joint pre-period test does not reject at 5%.
    Parallel,
    /// It rejects at 5%: the treated units were already moving differently before the start.
    NotParallel,
    /// One pre-period only: there is no pre-period coefficient to test.
    NotTestable,
}

impl TrendVerdict {
    pub fn message(self) -> &'static str {
        match self {
            TrendVerdict::Parallel => "trends look parallel",
            TrendVerdict::NotParallel => {
                "trends do not look parallel: the treated units already differed before the start"
            }
            TrendVerdict::NotTestable => {
                "trends cannot be checked: one pre-period only (use a longer pre-period or finer periods)"
            }
        }
    }
}

/// The event study and the parallel-trends checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventStudy {
    pub reference_period: usize,
    pub effects: Vec<PeriodEffect>,
    pub regressors: usize,
    pub pre_trend: Option<PreTrendTest>,
    pub placebo: Option<Placebo>,
    pub verdict: TrendVerdict,
}

/// The full report: the DiD estimate and the event study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DidReport {
    pub did: DidFit,
    pub event_study: EventStudy,
}

/// The level at which the pre-trend test decides the verdict.
pub const TREND_TEST_LEVEL: f64 = 0.05;

/// The DiD estimate with `1 - alpha` intervals, and the event study with its checks.
pub fn report(panel: &Panel, alpha: f64) -> Result<DidReport, DidError> {
    Ok(DidReport {
        did: estimate(panel, alpha)?,
        event_study: event_study(panel, alpha)?,
    })
}

/// The treated x post coefficient alone.
pub fn estimate(panel: &Panel, alpha: f64) -> Result<DidFit, DidError> {
    let prepared = Prepared::new(panel, alpha)?;
    let post: Vec<f64> = (0..panel.periods)
        .map(|t| f64::from(u8::from(t >= panel.first_post)))
        .collect();
    let fit = within::fit(&prepared.checked(), &[post]).map_err(failure)?;
    let effect = prepared.coefficient(fit.beta[0], fit.covariance[0][0]);
    Ok(prepared.did_fit(effect, fit.regressors, fit.observations))
}

/// The event study relative to the last pre-period, the joint pre-trend test and the placebo.
pub fn event_study(panel: &Panel, alpha: f64) -> Result<EventStudy, DidError> {
    let prepared = Prepared::new(panel, alpha)?;
    let reference = panel.first_post - 1;
    let terms: Vec<usize> = (0..panel.periods).filter(|&t| t != reference).collect();
    let weights: Vec<Vec<f64>> = terms
        .iter()
        .map(|&s| {
            (0..panel.periods)
                .map(|t| f64::from(u8::from(t == s)))
                .collect()
        })
        .collect();
    let fit = within::fit(&prepared.checked(), &weights).map_err(failure)?;
    let effects = terms
        .iter()
        .enumerate()
        .map(|(k, &period)| PeriodEffect {
            period,
            pre: period < reference,
            coefficient: prepared.coefficient(fit.beta[k], fit.covariance[k][k]),
        })
        .collect();
    // The pre-period terms are the first `reference` ones (periods 0..reference).
    let pre_trend = wald(&fit.beta[..reference], &fit.covariance, prepared.groups - 1);
    let verdict = match pre_trend {
        None => TrendVerdict::NotTestable,
        Some(test) if test.p_value < TREND_TEST_LEVEL => TrendVerdict::NotParallel,
        Some(_) => TrendVerdict::Parallel,
    };
    Ok(EventStudy {
        reference_period: reference,
        effects,
        regressors: fit.regressors,
        pre_trend,
        placebo: placebo(panel, alpha),
        verdict,
    })
}

/// The DiD on periods 0..first_post only, starting halfway; None with fewer than two
/// pre-periods or when that smaller panel cannot be fitted.
fn placebo(panel: &Panel, alpha: f64) -> Option<Placebo> {
    if panel.first_post < 2 {
        return None;
    }
    let fake_first_post = panel.first_post / 2;
    let pre = Panel {
        units: panel
            .units
            .iter()
            .map(|u| PanelUnit {
                treated: u.treated,
                cluster: u.cluster,
                values: u.values[..panel.first_post].to_vec(),
            })
            .collect(),
        periods: panel.first_post,
        first_post: fake_first_post,
    };
    estimate(&pre, alpha).ok().map(|fit| Placebo {
        fake_first_post,
        fit,
    })
}

/// F = b'V⁻¹b / q against F(q, df_denom); None with no coefficient or a singular V (more
/// pre-periods than the clusters can support).
fn wald(beta: &[f64], covariance: &[Vec<f64>], df_denom: usize) -> Option<PreTrendTest> {
    let q = beta.len();
    if q == 0 {
        return None;
    }
    let block: Vec<Vec<f64>> = covariance[..q].iter().map(|r| r[..q].to_vec()).collect();
    let inv = crate::linalg::invert(&block)?;
    let w: f64 = (0..q)
        .map(|a| (0..q).map(|b| beta[a] * inv[a][b] * beta[b]).sum::<f64>())
        .sum();
    let f = w / q as f64;
    let dist = FisherSnedecor::new(q as f64, df_denom as f64).ok()?;
    (f.is_finite() && f >= 0.0).then(|| PreTrendTest {
        f,
        df_num: q,
        df_denom,
        p_value: dist.sf(f),
    })
}

fn failure(f: WithinFailure) -> DidError {
    match f {
        WithinFailure::TooFewObservations {
            observations,
            regressors,
        } => DidError::TooFewObservations {
            observations,
            regressors,
        },
        WithinFailure::Singular => DidError::Singular,
    }
}

/// The checked panel in the regression's layout, with the t distribution of its intervals.
struct Prepared {
    treated: Vec<bool>,
    cluster: Vec<usize>,
    groups: usize,
    periods: usize,
    values: Vec<f64>,
    t: StudentsT,
    critical: f64,
}

impl Prepared {
    fn new(panel: &Panel, alpha: f64) -> Result<Prepared, DidError> {
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(DidError::Alpha(alpha));
        }
        if panel.units.is_empty() {
            return Err(DidError::NoUnits);
        }
        for (unit, u) in panel.units.iter().enumerate() {
            if u.values.len() != panel.periods {
                return Err(DidError::Unbalanced {
                    unit,
                    got: u.values.len(),
                    expected: panel.periods,
                });
            }
            if let Some(period) = u.values.iter().position(|v| !v.is_finite()) {
                return Err(DidError::NotFinite { unit, period });
            }
        }
        if !panel.units.iter().any(|u| u.treated) {
            return Err(DidError::NoTreated);
        }
        if panel.units.iter().all(|u| u.treated) {
            return Err(DidError::NoControl);
        }
        if panel.first_post == 0 {
            return Err(DidError::NoPrePeriod);
        }
        if panel.first_post >= panel.periods {
            return Err(DidError::NoPostPeriod {
                first_post: panel.first_post,
                periods: panel.periods,
            });
        }
        let mut ids = BTreeMap::new();
        for u in &panel.units {
            let next = ids.len();
            ids.entry(u.cluster).or_insert(next);
        }
        if ids.len() < 2 {
            return Err(DidError::OneCluster {
                cluster: panel.units[0].cluster,
            });
        }
        let groups = ids.len();
        let cluster = panel.units.iter().map(|u| ids[&u.cluster]).collect();
        let t = StudentsT::new(0.0, 1.0, (groups - 1) as f64).map_err(|_| DidError::Singular)?;
        let critical = crate::stats::frequentist::t_upper_quantile(&t, alpha / 2.0);
        Ok(Prepared {
            treated: panel.units.iter().map(|u| u.treated).collect(),
            cluster,
            groups,
            periods: panel.periods,
            values: panel
                .units
                .iter()
                .flat_map(|u| u.values.iter().copied())
                .collect(),
            t,
            critical,
        })
    }

    fn checked(&self) -> Checked<'_> {
        Checked {
            treated: &self.treated,
            cluster: &self.cluster,
            groups: self.groups,
            periods: self.periods,
            values: &self.values,
        }
    }

    fn coefficient(&self, estimate: f64, variance: f64) -> Coefficient {
        let se = variance.max(0.0).sqrt();
        let t = estimate / se;
        Coefficient {
            estimate,
            se,
            t,
            p_value: 2.0 * self.t.sf(t.abs()),
            ci_low: estimate - self.critical * se,
            ci_high: estimate + self.critical * se,
        }
    }

    fn did_fit(&self, effect: Coefficient, regressors: usize, observations: usize) -> DidFit {
        DidFit {
            effect,
            units: self.treated.len(),
            periods: self.periods,
            clusters: self.groups,
            observations,
            regressors,
            df: self.groups - 1,
        }
    }
}
