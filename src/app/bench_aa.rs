//! `liftdeck bench aa`: the large A/A peeking run. Many experiments with no true effect are
//! checked after every batch of units; an experiment counts as a false positive if any look
//! declares a difference. The fixed-horizon test is run side by side on the same data.

use crate::domain::ArmRollup;
use crate::stats::ab::{ab_report, ArmInput, Metric, Options};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::fmt;

#[derive(Debug, Clone)]
pub struct AaBench {
    pub experiments: usize,
    pub looks: usize,
    pub units_per_look: usize,
    pub rate: f64,
    pub alpha: f64,
    pub fixed_false_positive_rate: f64,
    pub sequential_false_positive_rate: f64,
    pub msprt_false_positive_rate: f64,
    /// Share of experiments whose final fixed-horizon test (one look) rejects: ~alpha.
    pub single_look_rate: f64,
}

impl AaBench {
    /// Binomial Monte Carlo standard error of a rate near alpha.
    pub fn monte_carlo_se(&self) -> f64 {
        (self.alpha * (1.0 - self.alpha) / self.experiments as f64).sqrt()
    }
}

impl fmt::Display for AaBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "A/A peeking: {} experiments, {} looks of {} units (both arms), conversion {:.3}, alpha {}",
            self.experiments, self.looks, self.units_per_look, self.rate, self.alpha
        )?;
        writeln!(
            f,
            "  false-positive rate (any look rejects), Monte Carlo SE {:.4}:",
            self.monte_carlo_se()
        )?;
        writeln!(
            f,
            "    fixed-horizon Welch p < alpha at every look   {:.4}",
            self.fixed_false_positive_rate
        )?;
        writeln!(
            f,
            "    always-valid CI excludes 0 at any look        {:.4}",
            self.sequential_false_positive_rate
        )?;
        writeln!(
            f,
            "    mSPRT p < alpha at any look                   {:.4}",
            self.msprt_false_positive_rate
        )?;
        write!(
            f,
            "    fixed-horizon, one look at the end (control)  {:.4}",
            self.single_look_rate
        )
    }
}

/// Runs the A/A simulation. Deterministic for a seed.
pub fn bench_aa(
    experiments: usize,
    looks: usize,
    units_per_look: usize,
    rate: f64,
    seed: u64,
) -> AaBench {
    let opts = Options {
        n_star: (looks * units_per_look) as f64,
        ..Options::default()
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut fixed, mut seq, mut msprt, mut single) = (0, 0, 0, 0);
    for _ in 0..experiments {
        let mut arms = [arm("control"), arm("treatment")];
        let (mut f_hit, mut s_hit, mut m_hit) = (false, false, false);
        let mut last_p = None;
        for _ in 0..looks {
            for _ in 0..units_per_look {
                let a = &mut arms[usize::from(rng.random::<bool>())].rollup;
                a.units += 1;
                if rng.random::<f64>() < rate {
                    a.conversions += 1;
                }
            }
            let r = ab_report("aa", Some("control"), Metric::Conversion, &arms, &opts);
            let t = &r.arms[1];
            f_hit |= t.p_value.is_some_and(|p| p < opts.alpha);
            s_hit |= matches!((t.seq_abs_ci_low, t.seq_abs_ci_high), (Some(l), Some(h)) if l > 0.0 || h < 0.0);
            // The mSPRT p-value dual to the absolute sequence counted just above.
            m_hit |= t.seq_abs_p_value.is_some_and(|p| p < opts.alpha);
            last_p = t.p_value;
        }
        fixed += usize::from(f_hit);
        seq += usize::from(s_hit);
        msprt += usize::from(m_hit);
        single += usize::from(last_p.is_some_and(|p| p < opts.alpha));
    }
    let share = |k: usize| k as f64 / experiments.max(1) as f64;
    AaBench {
        experiments,
        looks,
        units_per_look,
        rate,
        alpha: opts.alpha,
        fixed_false_positive_rate: share(fixed),
        sequential_false_positive_rate: share(seq),
        msprt_false_positive_rate: share(msprt),
        single_look_rate: share(single),
    }
}

fn arm(key: &str) -> ArmInput {
    ArmInput {
        key: key.into(),
        weight: 1.0,
        rollup: ArmRollup::default(),
    }
}

/// Compute time of full A/B reports (every metric) for `arms` arms from rollups, median over
/// `repeats` runs, with and without the exact Beta-Binomial integrals.
#[derive(Debug, Clone)]
pub struct ReportBench {
    pub arms: usize,
    pub metrics: usize,
    pub median_micros: f64,
    pub min_micros: f64,
}

impl fmt::Display for ReportBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "report for {} arms x {} metrics from rollups: median {:.1} us, min {:.1} us",
            self.arms, self.metrics, self.median_micros, self.min_micros
        )
    }
}

pub fn bench_report(arms: usize, repeats: usize, seed: u64) -> ReportBench {
    let mut rng = StdRng::seed_from_u64(seed);
    let inputs: Vec<ArmInput> = (0..arms)
        .map(|i| {
            let units = 50_000 + rng.random_range(0..1000);
            let conv = (units as f64 * (0.05 + 0.001 * i as f64)) as i64;
            let mut a = arm(if i == 0 { "control" } else { "t" });
            if i > 0 {
                a.key = format!("t{i}");
            }
            let r = &mut a.rollup;
            r.units = units;
            r.conversions = conv;
            r.purchases = conv + conv / 5;
            r.purchases_sumsq = (conv + conv / 2) as f64;
            r.exposures = units;
            r.exposures_sumsq = units as f64;
            r.clicks = units / 5;
            r.clicks_sumsq = (units / 5) as f64;
            r.clicks_exposures_sum = (units / 5) as f64;
            r.cart_units = units / 10;
            r.revenue_sum = conv as f64 * 60.0;
            r.revenue_sumsq = conv as f64 * 60.0 * 60.0 * 1.5;
            r.revenue_purchases_sum = conv as f64 * 75.0;
            r.cost_sum = conv as f64 * 3.0;
            r.cost_sumsq = conv as f64 * 12.0;
            r.revenue_cost_sum = conv as f64 * 200.0;
            a
        })
        .collect();
    let opts = Options::default();
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let started = std::time::Instant::now();
        for metric in Metric::ALL {
            let r = ab_report("bench", Some("control"), metric, &inputs, &opts);
            std::hint::black_box(r);
        }
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    ReportBench {
        arms,
        metrics: Metric::ALL.len(),
        median_micros: times[times.len() / 2],
        min_micros: times[0],
    }
}

/// The report from rollups next to the same per-arm statistics recomputed by a full SQL scan
/// of the events (GROUP BY), on a database of `events` simulated events.
#[derive(Debug, Clone)]
pub struct ScanBench {
    pub events: i64,
    pub rollup_report_micros: f64,
    pub full_scan_report_micros: f64,
}

impl fmt::Display for ScanBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "coupon-10 report, all metrics, on a {}-event database (medians):\n  \
             from rollups (O(arms))         {:>12.1} us\n  \
             from a full GROUP BY scan      {:>12.1} us\n  \
             ratio scan / rollups           {:>12.0}x",
            self.events,
            self.rollup_report_micros,
            self.full_scan_report_micros,
            self.full_scan_report_micros / self.rollup_report_micros
        )
    }
}

/// Fills `db` with simulated demo traffic until it holds at least `events` events (reusing an
/// existing file that already has them), then times both ways of producing the report.
pub fn bench_scan(db: &std::path::Path, events: i64, repeats: usize) -> anyhow::Result<ScanBench> {
    use super::demo::{demo_traffic, ensure_campaigns, DEMO_EPOCH};
    use super::traffic::apply_records;
    use crate::clock::Clock;
    use crate::store::Store;
    let mut store = Store::open(db)?;
    let env = super::Env {
        clock: Clock::virtual_at(DEMO_EPOCH),
        actor: "bench".into(),
    };
    ensure_campaigns(&mut store, &env, 7)?;
    let mut have = store.event_count()?;
    if have < events {
        let run = store.next_run_number("bench-scan")?;
        let mut traffic = demo_traffic(&store, 7, 1000 + run)?;
        while have < events {
            let now = env.clock.now();
            let records = traffic.generate(20_000, now, 10_000_000);
            apply_records(&mut store, "bench", &env.actor, now, records)?;
            env.clock.advance(10_000_000);
            have = store.event_count()?;
        }
    }
    let opts = Options::default();
    let time = |f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        let mut t = Vec::new();
        for _ in 0..repeats.max(1) {
            let started = std::time::Instant::now();
            f()?;
            t.push(started.elapsed().as_secs_f64() * 1e6);
        }
        t.sort_by(f64::total_cmp);
        Ok(t[t.len() / 2])
    };
    let run_report = |summaries: Vec<crate::store::ArmSummary>| {
        let inputs = super::report::report_inputs(summaries);
        for metric in Metric::ALL {
            std::hint::black_box(ab_report(
                "coupon-10",
                Some("control"),
                metric,
                &inputs,
                &opts,
            ));
        }
    };
    let rollup_report_micros = time(&mut || {
        run_report(store.arm_summaries("coupon-10")?);
        Ok(())
    })?;
    let full_scan_report_micros = time(&mut || {
        run_report(store.recompute_rollups("coupon-10")?);
        Ok(())
    })?;
    Ok(ScanBench {
        events: have,
        rollup_report_micros,
        full_scan_report_micros,
    })
}

/// Refresh latency of the console on a large database while another process ingests: how
/// long after `data_version` changes a fresh snapshot (campaigns, health, report, chart) is
/// ready. Medians and p95 over the refreshes seen in `seconds`.
#[derive(Debug, Clone)]
pub struct RefreshBench {
    pub events_at_start: i64,
    pub refreshes: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

impl fmt::Display for RefreshBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "console refresh on a {}-event database while another process ingests: {} \
             refreshes, snapshot ready in median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            self.events_at_start, self.refreshes, self.median_ms, self.p95_ms, self.max_ms
        )
    }
}

/// `writer` is a running child process that commits into `db`; this polls like the console.
pub fn bench_refresh(db: &std::path::Path, seconds: f64) -> anyhow::Result<RefreshBench> {
    use crate::store::Store;
    let store = Store::open_read_only(db)?;
    let events_at_start = store.event_count()?;
    let mut last = store.data_version()?;
    let mut times = Vec::new();
    let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds);
    while std::time::Instant::now() < end {
        let v = store.data_version()?;
        if v != last {
            last = v;
            let started = std::time::Instant::now();
            let snap = super::snapshot::load_snapshot(
                &store,
                &super::snapshot::Focus::default(),
                i64::MAX / 2,
                0,
                900_000_000,
            )?;
            std::hint::black_box(snap);
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(RefreshBench {
        events_at_start,
        refreshes: times.len(),
        median_ms: pick(0.5),
        p95_ms: pick(0.95),
        max_ms: times.last().copied().unwrap_or(0.0),
    })
}
