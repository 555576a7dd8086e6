//! `report did`: difference in differences for a campaign launched in some units (regions,
//! stores, cohorts) from a known time. Builds the balanced unit x calendar-period panel from
//! the store (every assigned unit, every period from the campaign's first event to its last,
//! zero where a unit had no events), pools every non-control arm as treated, and runs the
//! pure estimator `causal::did`: the two-way fixed-effects effect with cluster-robust errors,
//! the event study, the pre-trend test, the placebo and the verdict.

use super::{AppError, Result};
use crate::causal::did::{self, Coefficient, DidError, DidFit, Panel, PanelUnit, TrendVerdict};
use crate::clock::format_rfc3339;
use crate::domain::Micros;
use crate::store::{PanelMetric, PanelPeriod, Store};
use crate::text::escape_control;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the report is asked for; `cluster` `None` clusters by unit.
#[derive(Debug, Clone)]
pub struct DidRequest {
    pub campaign: String,
    pub post_start: Micros,
    pub period: PanelPeriod,
    pub cluster: Option<String>,
    /// `None`: the campaign's metric (purchase → conversion, click → clicks, ...).
    pub metric: Option<PanelMetric>,
    /// `None`: the campaign's alpha, else 0.05.
    pub alpha: Option<f64>,
}

/// One row of the event study: a treated x period coefficient relative to the reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRow {
    pub period: String,
    /// Periods from the first post-period (-1 is the reference, the last pre-period).
    pub relative: i64,
    pub pre: bool,
    pub coefficient: Coefficient,
}

/// The placebo DiD: pre-period data only, the start moved to `fake_start`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaceboRow {
    pub fake_start: String,
    pub fit: DidFit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DidCommandReport {
    pub campaign: String,
    pub metric: String,
    pub period: String,
    pub post_start: String,
    /// The period holding the start, the first post-period (a partly treated period when the
    /// start is not at its beginning).
    pub first_post_period: String,
    pub start_inside_period: bool,
    /// Every period of the panel, in order.
    pub periods: Vec<String>,
    pub pre_periods: usize,
    pub post_periods: usize,
    /// `unit` or the context field the clusters come from.
    pub cluster: String,
    pub alpha: f64,
    pub control: String,
    /// The arms pooled as treated: every arm but control.
    pub treated_arms: Vec<String>,
    pub treated_units: usize,
    pub control_units: usize,
    /// Units left out because lines put them in more than one arm.
    pub excluded_multiple_exposure: usize,
    /// The estimate, its cluster-robust SE and CI, G clusters, N unit-periods, K regressors.
    pub did: DidFit,
    pub reference_period: String,
    pub event_study: Vec<EventRow>,
    pub pre_trend: Option<did::PreTrendTest>,
    pub placebo: Option<PlaceboRow>,
    pub verdict: TrendVerdict,
    pub verdict_message: String,
}

/// The campaign metric an event kind maps to when `--metric` is not given.
pub fn default_metric(kind: &str) -> PanelMetric {
    PanelMetric::parse(kind).unwrap_or(PanelMetric::Conversion)
}

/// Builds the panel of `req.campaign` and estimates the DiD; a refusal is `AppError::Invalid`
/// naming what is missing.
pub fn did_report(store: &Store, req: &DidRequest) -> Result<DidCommandReport> {
    let key = &req.campaign;
    let (campaign, arms) = store.campaign(key)?;
    let overrides = super::report::ReportOverrides {
        alpha: req.alpha,
        ..Default::default()
    };
    let alpha = super::report::options_for(&campaign.spec, &overrides)?.alpha;
    let metric = req
        .metric
        .unwrap_or_else(|| default_metric(&campaign.spec.metric));
    let control = campaign
        .spec
        .control
        .clone()
        .or_else(|| arms.first().map(|a| a.key.clone()))
        .ok_or_else(|| AppError::Invalid(format!("campaign `{key}` has no arms")))?;
    if let Some(f) = &req.cluster {
        if f.is_empty() || f.contains(['"', '\\']) || f.chars().any(char::is_control) {
            return Err(AppError::Invalid(format!(
                "--cluster `{}`: a context field name without quotes or backslashes",
                escape_control(f)
            )));
        }
    }
    let period = req.period;
    let Some((first, last)) = store.panel_span(key, period)? else {
        return Err(invalid(format!(
            "campaign `{key}` has no events: there is nothing to put in a panel"
        )));
    };
    let start = store.panel_period_key(period, req.post_start)?;
    let label = |k: i64| period_label(period, k);
    if start <= first {
        return Err(invalid(format!(
            "no pre-period: the start {} falls in {}, the first {} with events; a DiD needs \
             data from before the start",
            format_rfc3339(req.post_start),
            label(start),
            period.as_str()
        )));
    }
    if start > last {
        return Err(invalid(format!(
            "no post-period: the start {} is after the last {} with events ({}); a DiD needs \
             data from after the start",
            format_rfc3339(req.post_start),
            period.as_str(),
            label(last)
        )));
    }
    let periods = usize::try_from(last - first + 1)
        .map_err(|_| invalid("the event span is not a valid period range".into()))?;
    let first_post = usize::try_from(start - first)
        .map_err(|_| invalid("the start is not a valid period".into()))?;

    let mut units = Vec::new();
    let (mut excluded, mut missing) = (0usize, 0usize);
    let mut cluster_ids: BTreeMap<String, u64> = BTreeMap::new();
    let mut treated_arms: Vec<String> = Vec::new();
    store.for_each_panel_row(key, period, metric, req.cluster.as_deref(), &mut |row| {
        if row.conflicts > 0 {
            excluded += 1;
            return;
        }
        let cluster = match (&req.cluster, row.cluster) {
            (None, _) => units.len() as u64,
            (Some(_), None) => {
                missing += 1;
                return;
            }
            (Some(_), Some(value)) => {
                let next = cluster_ids.len() as u64;
                *cluster_ids.entry(value).or_insert(next)
            }
        };
        let treated = row.arm != control;
        if treated && !treated_arms.contains(&row.arm) {
            treated_arms.push(row.arm.clone());
        }
        let mut values = vec![0.0; periods];
        for (k, total) in row.totals {
            if let Some(v) = usize::try_from(k - first)
                .ok()
                .and_then(|i| values.get_mut(i))
            {
                *v = total;
            }
        }
        units.push(PanelUnit {
            treated,
            cluster,
            values,
        });
    })?;
    if let Some(field) = &req.cluster {
        if missing > 0 {
            return Err(invalid(format!(
                "--cluster {f}: {missing} unit(s) have no `{f}` in their assignment context; \
                 give every unit the field or cluster by unit",
                f = escape_control(field)
            )));
        }
    }
    // Arms in the campaign's order, not the order units happened to come in.
    treated_arms.sort_by_key(|a| arms.iter().position(|x| &x.key == a));
    let treated_units = units.iter().filter(|u| u.treated).count();
    let control_units = units.len() - treated_units;
    let panel = Panel {
        units,
        periods,
        first_post,
    };
    let report = did::report(&panel, alpha).map_err(|e| refusal(e, &control, &req.cluster))?;
    let first_post_key = first + first_post as i64;
    let es = report.event_study;
    let event_study = es
        .effects
        .iter()
        .map(|e| EventRow {
            period: label(first + e.period as i64),
            relative: e.period as i64 - first_post as i64,
            pre: e.pre,
            coefficient: e.coefficient,
        })
        .collect();
    Ok(DidCommandReport {
        campaign: key.clone(),
        metric: metric.as_str().into(),
        period: period.as_str().into(),
        post_start: format_rfc3339(req.post_start),
        first_post_period: label(first_post_key),
        start_inside_period: period_start(period, first_post_key) != Some(req.post_start),
        periods: (first..=last).map(label).collect(),
        pre_periods: first_post,
        post_periods: periods - first_post,
        cluster: req.cluster.clone().unwrap_or_else(|| "unit".into()),
        alpha,
        control,
        treated_arms,
        treated_units,
        control_units,
        excluded_multiple_exposure: excluded,
        did: report.did,
        reference_period: label(first + es.reference_period as i64),
        event_study,
        pre_trend: es.pre_trend,
        placebo: es.placebo.map(|p| PlaceboRow {
            fake_start: label(first + p.fake_first_post as i64),
            fit: p.fit,
        }),
        verdict: es.verdict,
        verdict_message: es.verdict.message().into(),
    })
}

fn invalid(message: String) -> AppError {
    AppError::Invalid(message)
}

/// The estimator's refusal in the command's words (arms and the cluster flag by name).
fn refusal(e: DidError, control: &str, cluster: &Option<String>) -> AppError {
    invalid(match e {
        DidError::NoControl => {
            format!("no control units: no unit is in the control arm `{control}`")
        }
        DidError::NoTreated => format!(
            "no treated units: every unit is in the control arm `{control}`; a DiD needs \
             units that got the campaign"
        ),
        DidError::OneCluster { .. } => match cluster {
            Some(f) => format!(
                "all units share one `{}`: cluster-robust errors need at least two clusters; \
                 cluster by unit or by a finer field",
                escape_control(f)
            ),
            None => "the panel has one unit: cluster-robust errors need at least two".into(),
        },
        other => other.to_string(),
    })
}

/// The period's name: 2026-08-03, 2026-W32 (ISO week), 2026-08, 2026-Q3.
pub fn period_label(period: PanelPeriod, key: i64) -> String {
    match period {
        PanelPeriod::Day => {
            date_of_day(key).map_or_else(|| format!("day {key}"), |d| d.to_string())
        }
        PanelPeriod::Week => date_of_day(key * 7 - 3).map_or_else(
            || format!("week {key}"),
            |d| {
                let (y, w, _) = d.to_iso_week_date();
                format!("{y:04}-W{w:02}")
            },
        ),
        PanelPeriod::Month => format!("{:04}-{:02}", key.div_euclid(12), key.rem_euclid(12) + 1),
        PanelPeriod::Quarter => format!("{:04}-Q{}", key.div_euclid(4), key.rem_euclid(4) + 1),
    }
}

/// The first instant of the period, in UTC microseconds.
pub fn period_start(period: PanelPeriod, key: i64) -> Option<Micros> {
    const DAY_US: i64 = 86_400_000_000;
    let first_of_month = |year: i64, month0: i64| -> Option<i64> {
        let month = time::Month::try_from(u8::try_from(month0 + 1).ok()?).ok()?;
        let d = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, 1).ok()?;
        Some(i64::from(d.to_julian_day()) - UNIX_JULIAN_DAY)
    };
    let day = match period {
        PanelPeriod::Day => key,
        PanelPeriod::Week => key * 7 - 3,
        PanelPeriod::Month => first_of_month(key.div_euclid(12), key.rem_euclid(12))?,
        PanelPeriod::Quarter => first_of_month(key.div_euclid(4), key.rem_euclid(4) * 3)?,
    };
    day.checked_mul(DAY_US)
}

/// The Julian day number of 1970-01-01.
const UNIX_JULIAN_DAY: i64 = 2_440_588;

fn date_of_day(day: i64) -> Option<time::Date> {
    time::Date::from_julian_day(i32::try_from(day + UNIX_JULIAN_DAY).ok()?).ok()
}

fn signed(x: f64) -> String {
    format!("{x:+.4}")
}

fn ci(c: &Coefficient) -> String {
    format!("[{:+.4}, {:+.4}]", c.ci_low, c.ci_high)
}

impl DidCommandReport {
    /// The plain-text report `liftdeck report did` prints.
    pub fn format_text(&self) -> String {
        let level = format!("{:.0}%", (1.0 - self.alpha) * 100.0);
        let e = &self.did.effect;
        let mut out = format!(
            "Difference in differences: {} ({} per unit per {})\n",
            escape_control(&self.campaign),
            self.metric,
            self.period
        );
        out += &format!(
            "Start {}: first post-period {}{}; periods {} .. {} ({} pre, {} post)\n",
            self.post_start,
            self.first_post_period,
            if self.start_inside_period {
                " (the start falls inside it; counted as post)"
            } else {
                ""
            },
            self.periods.first().map_or("", String::as_str),
            self.periods.last().map_or("", String::as_str),
            self.pre_periods,
            self.post_periods
        );
        out += &format!(
            "Treated: {} ({} units) against control `{}` ({} units); clustered by {} (G = {})\n",
            self.treated_arms
                .iter()
                .map(|a| format!("`{}`", escape_control(a)))
                .collect::<Vec<_>>()
                .join(", "),
            self.treated_units,
            escape_control(&self.control),
            self.control_units,
            escape_control(&self.cluster),
            self.did.clusters
        );
        if self.excluded_multiple_exposure > 0 {
            out += &format!(
                "Left out: {} unit(s) put in more than one arm\n",
                self.excluded_multiple_exposure
            );
        }
        out += &format!(
            "Effect (treated x post): {} per unit-period, SE {:.4}, {level} CI {}, p {}\n",
            signed(e.estimate),
            e.se,
            ci(e),
            crate::format::p_value(e.p_value)
        );
        out += &format!(
            "  N = {} unit-periods, K = {} regressors (fixed effects included), t with {} df\n",
            self.did.observations, self.did.regressors, self.did.df
        );
        out += &format!(
            "Event study (relative to {}, the last pre-period):\n  {:<10} {:>4} {:>11}  {level} CI\n",
            self.reference_period, "period", "rel", "estimate"
        );
        for r in &self.event_study {
            out += &format!(
                "  {:<10} {:>4} {:>11}  {}{}\n",
                r.period,
                r.relative,
                signed(r.coefficient.estimate),
                ci(&r.coefficient),
                if r.pre && r.coefficient.excludes_zero() {
                    "  (pre-period differs)"
                } else {
                    ""
                }
            );
        }
        match &self.pre_trend {
            Some(t) => {
                out += &format!(
                    "Pre-trend joint test: F({}, {}) = {:.3}, p {}\n",
                    t.df_num,
                    t.df_denom,
                    t.f,
                    crate::format::p_value(t.p_value)
                )
            }
            None => out += "Pre-trend joint test: none (one pre-period)\n",
        }
        match &self.placebo {
            Some(p) => {
                out += &format!(
                    "Placebo (pre-period only, start moved to {}): {} {level} CI {}{}\n",
                    p.fake_start,
                    signed(p.fit.effect.estimate),
                    ci(&p.fit.effect),
                    if p.fit.effect.excludes_zero() {
                        "  (finds an effect where there was none)"
                    } else {
                        ""
                    }
                )
            }
            None => out += "Placebo: none (fewer than two pre-periods)\n",
        }
        out += &format!("Verdict: {}\n", self.verdict_message);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_starts_of_known_dates() {
        // 2026-08-03 is a Monday, ISO week 32; its day key is 20668.
        let day = 20_668;
        assert_eq!(period_label(PanelPeriod::Day, day), "2026-08-03");
        let week = (day + 3) / 7;
        assert_eq!(period_label(PanelPeriod::Week, week), "2026-W32");
        assert_eq!(
            period_start(PanelPeriod::Week, week),
            Some(day * 86_400_000_000)
        );
        assert_eq!(period_label(PanelPeriod::Month, 2026 * 12 + 7), "2026-08");
        assert_eq!(period_label(PanelPeriod::Quarter, 2026 * 4 + 2), "2026-Q3");
        let q3 = period_start(PanelPeriod::Quarter, 2026 * 4 + 2).expect("start");
        assert_eq!(format_rfc3339(q3), "2026-07-01T00:00:00Z");
    }
}
