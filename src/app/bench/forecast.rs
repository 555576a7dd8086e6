//! `liftdeck bench forecast coverage`: the long version of the forecast's coverage proof
//! (`forecast::coverage::run`, whose fast size is a test): many seeded held-out plans, each
//! forecast from earlier simulated campaigns and compared with the simulator's closed-form
//! truth. Reported: the share of plans whose truth falls inside the 80% and 95% intervals of
//! incremental orders and incremental profit, with Wilson 95% intervals on each share, overall,
//! by audience and by offer type, and the median width of the intervals relative to the point.
//! The speed benchmark (`bench forecast speed`) is in `forecast_speed.rs`.

use crate::forecast::coverage::{self, CoverageConfig, PlanCheck};
use crate::forecast::ledger::{wilson, Coverage};
use crate::forecast::plan::offer_type;
use crate::forecast::projection::Band;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

/// Plans forecast from each simulated training history.
const PLANS_PER_TRAINING: usize = 5;
/// z of the Wilson intervals on the shares (95%).
const Z95: f64 = 1.959_963_984_540_054;

/// What to run. The defaults are the long run BENCHMARKS.md quotes.
#[derive(Debug, Clone, Copy)]
pub struct CoverageBenchOptions {
    pub plans: usize,
    pub campaigns: usize,
    pub units_per_arm: usize,
    pub draws: usize,
    pub max_sample: usize,
    pub seed: u64,
    /// Each campaign in its own `sim::Season` (true campaign-to-campaign variation).
    pub seasons: bool,
}

impl Default for CoverageBenchOptions {
    fn default() -> Self {
        CoverageBenchOptions {
            plans: 1_000,
            campaigns: 6,
            units_per_arm: 1_500,
            draws: 400,
            max_sample: 3_000,
            seed: 1,
            seasons: true,
        }
    }
}

impl CoverageBenchOptions {
    pub fn config(&self) -> CoverageConfig {
        CoverageConfig {
            trainings: self.plans.div_ceil(PLANS_PER_TRAINING).max(1),
            plans_per_training: PLANS_PER_TRAINING,
            campaigns: self.campaigns.max(1),
            units_per_arm: self.units_per_arm.max(1),
            draws: self.draws,
            max_sample: self.max_sample.max(1),
            season_sd: if self.seasons {
                CoverageConfig::fast().season_sd
            } else {
                (0.0, 0.0)
            },
            seed: self.seed,
        }
    }
}

/// One group of plans: how many, and the four shares inside with their Wilson intervals
/// (incremental orders 80%, 95%; incremental profit 80%, 95%).
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    pub group: String,
    pub plans: usize,
    pub inside: [Coverage; 4],
}

/// Median of (interval width / |point|) over the plans.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RelativeWidths {
    pub orders_80: f64,
    pub orders_95: f64,
    pub profit_80: f64,
    pub profit_95: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverageBench {
    pub plans: usize,
    pub trainings: usize,
    pub campaigns: usize,
    pub units_per_arm: usize,
    pub draws: usize,
    pub max_sample: usize,
    pub seed: u64,
    pub seconds: f64,
    pub overall: CoverageRow,
    pub by_audience: Vec<CoverageRow>,
    pub by_offer_type: Vec<CoverageRow>,
    pub median_relative_width: RelativeWidths,
}

fn row(group: String, checks: &[&PlanCheck]) -> CoverageRow {
    let mut hits = [0usize; 4];
    for c in checks {
        for (h, inside) in hits.iter_mut().zip(c.inside()) {
            *h += usize::from(inside);
        }
    }
    CoverageRow {
        group,
        plans: checks.len(),
        inside: hits.map(|h| wilson(h, checks.len(), Z95)),
    }
}

fn grouped(checks: &[PlanCheck], key: impl Fn(&PlanCheck) -> String) -> Vec<CoverageRow> {
    let mut groups: BTreeMap<String, Vec<&PlanCheck>> = BTreeMap::new();
    for c in checks {
        groups.entry(key(c)).or_default().push(c);
    }
    groups.into_iter().map(|(g, cs)| row(g, &cs)).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

fn relative(b: &Band, wide: bool) -> f64 {
    let w = if wide {
        b.high_95 - b.low_95
    } else {
        b.high_80 - b.low_80
    };
    w / b.value.abs()
}

/// The figures of a finished run (split out so they can be checked on a small run).
pub fn summarise(checks: &[PlanCheck]) -> (CoverageRow, Vec<CoverageRow>, Vec<CoverageRow>) {
    let all: Vec<&PlanCheck> = checks.iter().collect();
    (
        row("all plans".into(), &all),
        grouped(checks, |c| c.plan.audience.describe()),
        grouped(checks, |c| offer_type(&c.plan.offer).to_string()),
    )
}

/// Runs the coverage check at the size of `o` and summarises it.
pub fn bench_forecast_coverage(o: &CoverageBenchOptions) -> anyhow::Result<CoverageBench> {
    let cfg = o.config();
    let started = Instant::now();
    let result = coverage::run(&cfg)?;
    let seconds = started.elapsed().as_secs_f64();
    let checks = &result.checks;
    let (overall, by_audience, by_offer_type) = summarise(checks);
    let widths = |f: &dyn Fn(&PlanCheck) -> f64| median(checks.iter().map(f).collect());
    let median_relative_width = RelativeWidths {
        orders_80: widths(&|c| relative(&c.forecast.incremental_conversions, false)),
        orders_95: widths(&|c| relative(&c.forecast.incremental_conversions, true)),
        profit_80: widths(&|c| relative(&c.forecast.incremental_profit, false)),
        profit_95: widths(&|c| relative(&c.forecast.incremental_profit, true)),
    };
    Ok(CoverageBench {
        plans: checks.len(),
        trainings: cfg.trainings,
        campaigns: cfg.campaigns,
        units_per_arm: cfg.units_per_arm,
        draws: cfg.draws,
        max_sample: cfg.max_sample,
        seed: cfg.seed,
        seconds,
        overall,
        by_audience,
        by_offer_type,
        median_relative_width,
    })
}

fn share(c: &Coverage) -> String {
    format!(
        "{:>5.1}% [{:>5.1}, {:>5.1}]",
        100.0 * c.share,
        100.0 * c.lo,
        100.0 * c.hi
    )
}

fn write_rows(f: &mut fmt::Formatter<'_>, title: &str, rows: &[CoverageRow]) -> fmt::Result {
    writeln!(
        f,
        "  {title:<22} {:>6}  {:<21} {:<21} {:<21} {:<21}",
        "plans", "orders in 80%", "orders in 95%", "profit in 80%", "profit in 95%"
    )?;
    for r in rows {
        let [a, b, c, d] = &r.inside;
        writeln!(
            f,
            "  {:<22} {:>6}  {:<21} {:<21} {:<21} {:<21}",
            r.group,
            r.plans,
            share(a),
            share(b),
            share(c),
            share(d)
        )?;
    }
    Ok(())
}

impl fmt::Display for CoverageBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "forecast coverage: {} held-out plans from {} simulated histories ({} past campaigns, \
             {} units an arm), {} draws, {} audience units scored a draw, seed {}, {:.1} s",
            self.plans,
            self.trainings,
            self.campaigns,
            self.units_per_arm,
            self.draws,
            self.max_sample,
            self.seed,
            self.seconds
        )?;
        writeln!(
            f,
            "  share of plans whose truth is inside the interval [Wilson 95%]"
        )?;
        write_rows(f, "", std::slice::from_ref(&self.overall))?;
        write_rows(f, "by audience", &self.by_audience)?;
        write_rows(f, "by offer type", &self.by_offer_type)?;
        let w = &self.median_relative_width;
        writeln!(
            f,
            "  median interval width / |point|: incremental orders 80% {:.2}, 95% {:.2}; \
             incremental profit 80% {:.2}, 95% {:.2}",
            w.orders_80, w.orders_95, w.profit_80, w.profit_95
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_groups_every_plan_once_and_its_wilson_intervals_hold_the_share() {
        let o = CoverageBenchOptions {
            plans: 10,
            campaigns: 3,
            units_per_arm: 300,
            draws: 40,
            max_sample: 200,
            seed: 3,
            seasons: true,
        };
        let b = bench_forecast_coverage(&o).expect("the small run trains");
        assert_eq!(b.overall.plans, b.plans);
        assert!(b.plans >= 8, "{} plans", b.plans);
        for groups in [&b.by_audience, &b.by_offer_type] {
            assert_eq!(groups.iter().map(|r| r.plans).sum::<usize>(), b.plans);
        }
        for c in &b.overall.inside {
            assert!(c.lo <= c.share && c.share <= c.hi, "{c:?}");
            assert!(c.hi - c.lo > 0.0);
        }
        assert!(b.median_relative_width.orders_95 > b.median_relative_width.orders_80);
        let text = b.to_string();
        assert!(text.contains("by offer type"), "{text}");
    }
}
