//! A bandit campaign's statistics when the weights moved while the base rate drifted.
//!
//! - Simulation (seeded): the pooled difference of two arms with no true effect is biased
//!   (Simpson's paradox), the period-stratified one is unbiased, its 95% intervals cover the
//!   truth at about 95%, and its reported variance is the spread seen across seeds; the same
//!   for revenue with stratified CUPED.
//! - SRM: a correct bandit split raises no alarm against Σ_p units_p × weight_p (it does
//!   against the current weights), and a broken one does.
//! - The stratified estimates, CUPED and ROI of every metric against an independent
//!   computation on the raw per-unit data.
//!
//! Bands: with S seeds the Monte Carlo standard error of a true 95% coverage is
//! sqrt(0.95·0.05/S); the bands below are about 3.5 of them (a correct interval fails with
//! probability ~5e-4), and a mean error is judged against its own standard error over seeds.

use crate::verify_support::{per_unit, rollup_of, Unit};
use liftdeck::domain::ArmRollup;
use liftdeck::stats::ab::{ab_report, ArmInput, ArmRow, Metric, Options};
use liftdeck::stats::metrics::cuped_sums;
use liftdeck::stats::srm::srm_check;
use liftdeck::stats::stratified::{ab_report_stratified, PeriodArms, Strata};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

type Generator = Xoshiro256PlusPlus;

/// A uniform draw in [0, 1) from one integer (the generic samplers are slow in a debug build).
fn unif(rng: &mut Generator) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn bernoulli(rng: &mut Generator, p: f64) -> bool {
    unif(rng) < p
}

/// A standard normal draw (Box–Muller, one of the pair).
fn normal(rng: &mut Generator) -> f64 {
    let u = 1.0 - unif(rng);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * unif(rng)).cos()
}

/// One allocation period of the simulated bandit: its units, the treatment's weight, and the
/// outcome model (conversion base rate, or revenue level and pre-period spend level).
#[derive(Clone, Copy)]
struct Period {
    units: usize,
    treatment_weight: f64,
    base: f64,
    x_level: f64,
}

fn arms(pooled: [ArmRollup; 2]) -> Vec<ArmInput> {
    let [c, t] = pooled;
    vec![
        ArmInput {
            key: "control".into(),
            weight: 0.5,
            rollup: c,
        },
        ArmInput {
            key: "treatment".into(),
            weight: 0.5,
            rollup: t,
        },
    ]
}

/// Draws a campaign: per period each unit goes to treatment with the period's weight and
/// then `unit` adds its outcome to that arm's rollup.
fn campaign(
    rng: &mut Generator,
    periods: &[Period],
    mut unit: impl FnMut(&mut Generator, &Period, bool, &mut ArmRollup),
) -> (Vec<PeriodArms>, Vec<ArmInput>) {
    let mut pooled = [ArmRollup::default(), ArmRollup::default()];
    let mut out = Vec::new();
    for (i, p) in periods.iter().enumerate() {
        let mut cells = [ArmRollup::default(), ArmRollup::default()];
        for _ in 0..p.units {
            let treated = bernoulli(rng, p.treatment_weight);
            unit(rng, p, treated, &mut cells[usize::from(treated)]);
        }
        for (acc, c) in pooled.iter_mut().zip(&cells) {
            *acc += c.clone();
        }
        out.push(PeriodArms {
            period: i as i64 + 1,
            weights: vec![1.0 - p.treatment_weight, p.treatment_weight],
            arms: cells.to_vec(),
        });
    }
    (out, arms(pooled))
}

fn covers(low: Option<f64>, high: Option<f64>, truth: f64) -> bool {
    matches!((low, high), (Some(l), Some(h)) if l <= truth && truth <= h)
}

/// Mean, and its standard error, of a sample.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, (v / n).sqrt())
}

/// The variance of the absolute difference the row's 95% interval was made from.
fn reported_variance(row: &ArmRow) -> f64 {
    let (l, h) = (
        row.abs_ci_low.unwrap_or(0.0),
        row.abs_ci_high.unwrap_or(0.0),
    );
    let se = (h - l) / (2.0 * 1.959963984540054);
    se * se
}

fn band(seeds: usize) -> f64 {
    3.5 * (0.95 * 0.05 / seeds as f64).sqrt()
}

/// Period 1: 50/50 at a 5% base rate; period 2: 90% to treatment at 10%; no true effect.
const DRIFT: [Period; 2] = [
    Period {
        units: 2000,
        treatment_weight: 0.5,
        base: 0.05,
        x_level: 0.0,
    },
    Period {
        units: 2000,
        treatment_weight: 0.9,
        base: 0.10,
        x_level: 0.0,
    },
];

#[test]
fn pooled_conversion_is_biased_when_weights_move_and_the_stratified_one_covers_the_truth() {
    const SEEDS: usize = 1000;
    let mut rng = Generator::seed_from_u64(20_261_209);
    let opts = Options {
        // The pooled report's exact Beta integrals are not what is measured here.
        exact_beta_max_arms: 0,
        ..Options::default()
    };
    let (mut pooled_err, mut strat_err, mut strat_var) = (Vec::new(), Vec::new(), Vec::new());
    let (mut abs_hits, mut rel_hits, mut pooled_hits) = (0, 0, 0);
    for _ in 0..SEEDS {
        let (periods, arms) = campaign(&mut rng, &DRIFT, |rng, p, _, r| {
            r.units += 1;
            if bernoulli(rng, p.base) {
                r.conversions += 1;
                r.purchases += 1;
            }
        });
        let strata = Strata::new(&periods, 2).expect("periods match the arms");
        let s = ab_report_stratified(
            "bandit",
            Some("control"),
            Metric::Conversion,
            &arms,
            &strata,
            &opts,
        );
        let p = ab_report("bandit", Some("control"), Metric::Conversion, &arms, &opts);
        let (s, p) = (&s.arms[1], &p.arms[1]);
        strat_err.push(s.abs_diff.expect("difference"));
        strat_var.push(reported_variance(s));
        pooled_err.push(p.abs_diff.expect("difference"));
        abs_hits += usize::from(covers(s.abs_ci_low, s.abs_ci_high, 0.0));
        rel_hits += usize::from(covers(s.ci_low, s.ci_high, 0.0));
        pooled_hits += usize::from(covers(p.abs_ci_low, p.abs_ci_high, 0.0));
    }
    let (pm, pse) = mean_se(&pooled_err);
    let (sm, sse) = mean_se(&strat_err);
    let n = SEEDS as f64;
    let (abs_cov, rel_cov, pooled_cov) = (
        abs_hits as f64 / n,
        rel_hits as f64 / n,
        pooled_hits as f64 / n,
    );
    eprintln!(
        "pooled error {pm:.5} ± {pse:.5} (coverage {pooled_cov:.3}); stratified {sm:.5} ± \
         {sse:.5}, coverage abs {abs_cov:.3} rel {rel_cov:.3}"
    );
    // About +0.024 in expectation: treatment got 90% of its units at the higher base rate.
    assert!(pm / pse > 20.0, "pooled bias {pm} ± {pse} not detected");
    assert!(pooled_cov < 0.5, "pooled coverage {pooled_cov}");
    assert!(sm.abs() < 3.5 * sse, "stratified error {sm} ± {sse}");
    for (what, c) in [("absolute", abs_cov), ("relative", rel_cov)] {
        assert!((c - 0.95).abs() <= band(SEEDS), "{what} coverage {c}");
    }
    // The reported variance is the spread of the estimate across seeds (relative standard
    // error of a sample variance over 1000 draws: ~4.5%).
    let spread = sse * sse * n;
    let (reported, _) = mean_se(&strat_var);
    assert!(
        (reported / spread - 1.0).abs() < 0.15,
        "reported {reported} vs across seeds {spread}"
    );
}

#[test]
fn stratified_cuped_revenue_is_unbiased_covers_and_fits_the_within_period_slope() {
    const SEEDS: usize = 400;
    const EFFECT: f64 = 0.5;
    const SLOPE: f64 = 1.5;
    // Revenue level and pre-period spend both drift up while traffic moves to treatment.
    let periods = [
        Period {
            units: 1000,
            treatment_weight: 0.5,
            base: 10.0,
            x_level: 5.0,
        },
        Period {
            units: 1000,
            treatment_weight: 0.8,
            base: 16.0,
            x_level: 7.0,
        },
        Period {
            units: 1000,
            treatment_weight: 0.95,
            base: 22.0,
            x_level: 9.0,
        },
    ];
    let mut rng = Generator::seed_from_u64(20_261_210);
    let opts = Options {
        cuped: true,
        ..Options::default()
    };
    let plain = Options::default();
    let (mut err, mut thetas, mut reductions, mut pooled) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut hits, mut plain_hits) = (0, 0);
    for _ in 0..SEEDS {
        let (periods, arms) = campaign(&mut rng, &periods, |rng, p, treated, r| {
            let x = p.x_level + 3.0 * normal(rng);
            let y = p.base
                + SLOPE * (x - p.x_level)
                + 4.0 * normal(rng)
                + if treated { EFFECT } else { 0.0 };
            r.units += 1;
            r.revenue_sum += y;
            r.revenue_sumsq += y * y;
            r.x_units += 1;
            r.x_sum += x;
            r.x_sumsq += x * x;
            r.x_revenue_sum += x * y;
        });
        let strata = Strata::new(&periods, 2).expect("periods match the arms");
        let key = Some("control");
        let s = ab_report_stratified("b", key, Metric::Revenue, &arms, &strata, &opts);
        let cuped = s.cuped.as_ref().expect("CUPED applied");
        thetas.push(cuped.theta);
        reductions.push(cuped.variance_reduction);
        let row = &s.arms[1];
        err.push(row.abs_diff.expect("difference") - EFFECT);
        hits += usize::from(covers(row.abs_ci_low, row.abs_ci_high, EFFECT));
        let u = ab_report_stratified("b", key, Metric::Revenue, &arms, &strata, &plain);
        let row = &u.arms[1];
        plain_hits += usize::from(covers(row.abs_ci_low, row.abs_ci_high, EFFECT));
        let p = ab_report("b", key, Metric::Revenue, &arms, &plain);
        pooled.push(p.arms[1].abs_diff.expect("difference") - EFFECT);
    }
    let (m, se) = mean_se(&err);
    let (pm, pse) = mean_se(&pooled);
    let (theta, _) = mean_se(&thetas);
    let (reduction, _) = mean_se(&reductions);
    let n = SEEDS as f64;
    let (cov, plain_cov) = (hits as f64 / n, plain_hits as f64 / n);
    eprintln!(
        "CUPED error {m:.4} ± {se:.4}, coverage {cov:.3} (plain {plain_cov:.3}), theta \
         {theta:.3}, reduction {reduction:.3}; pooled error {pm:.3} ± {pse:.3}"
    );
    assert!(pm / pse > 20.0, "pooled bias {pm} ± {pse} not detected");
    assert!(m.abs() < 3.5 * se, "stratified CUPED error {m} ± {se}");
    assert!((cov - 0.95).abs() <= band(SEEDS), "CUPED coverage {cov}");
    assert!(
        (plain_cov - 0.95).abs() <= band(SEEDS),
        "plain coverage {plain_cov}"
    );
    // The slope within periods, not the steeper one across them (level and spend drift
    // together: 6 per 2 of spend, a slope of 3).
    assert!((theta - SLOPE).abs() < 0.05, "theta {theta}");
    // R² of spend within a period: 1.5²·9 / (1.5²·9 + 16) = 0.56.
    assert!(
        (reduction - 0.56).abs() < 0.05,
        "variance reduction {reduction}"
    );
}

#[test]
fn bandit_srm_checks_the_split_against_the_weights_each_period_drew_with() {
    let drift = [
        Period {
            units: 3000,
            ..DRIFT[0]
        },
        Period {
            units: 3000,
            ..DRIFT[1]
        },
    ];
    const SEEDS: usize = 200;
    let mut rng = Generator::seed_from_u64(20_261_211);
    let (mut bandit_alarms, mut naive_alarms, mut broken_alarms) = (0, 0, 0);
    for _ in 0..SEEDS {
        let (periods, arms) = campaign(&mut rng, &drift, |_, _, _, r| r.units += 1);
        let strata = Strata::new(&periods, 2).expect("ok");
        bandit_alarms += usize::from(strata.srm().alarm);
        // The pooled check against the weights now (90/10) misreads every correct bandit.
        let units: Vec<u64> = arms.iter().map(|a| a.rollup.units as u64).collect();
        naive_alarms += usize::from(srm_check(&units, &[0.1, 0.9]).alarm);
        // A storefront that kept drawing 50/50 after the bandit logged 10/90 for period 2.
        let stale = [drift[0], drift[0]];
        let (mut broken, _) = campaign(&mut rng, &stale, |_, _, _, r| r.units += 1);
        broken[1].weights = periods[1].weights.clone();
        broken_alarms += usize::from(Strata::new(&broken, 2).expect("ok").srm().alarm);
    }
    assert!(bandit_alarms <= 2, "{bandit_alarms} false alarms");
    assert_eq!(naive_alarms, SEEDS);
    assert_eq!(broken_alarms, SEEDS);
}

fn mean(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    xs.clone().sum::<f64>() / xs.count() as f64
}

/// ddof = 1 covariance of two per-unit series.
fn cov(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a.iter().copied()), mean(b.iter().copied()));
    let s: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    s / (a.len() as f64 - 1.0)
}

fn rel_close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn stratified_estimates_cuped_and_roi_match_a_direct_computation_on_raw_units() {
    let mut rng = Generator::seed_from_u64(20_261_212);
    // Three arms over three periods of different sizes, weights and behaviour.
    let plan: [(usize, [f64; 3], f64); 3] = [
        (300, [0.34, 0.33, 0.33], 0.2),
        (500, [0.2, 0.5, 0.3], 0.35),
        (400, [0.1, 0.1, 0.8], 0.5),
    ];
    let mut cells: Vec<[Vec<Unit>; 3]> = Vec::new();
    for &(n, w, level) in &plan {
        let mut c: [Vec<Unit>; 3] = Default::default();
        for _ in 0..n {
            let u = unif(&mut rng);
            let a = if u < w[0] {
                0
            } else if u < w[0] + w[1] {
                1
            } else {
                2
            };
            let x = 20.0 * level + 5.0 * normal(&mut rng);
            let exposures = 1.0 + (4.0 * unif(&mut rng)).floor();
            let clicks = (0..exposures as usize)
                .filter(|_| bernoulli(&mut rng, level * 0.5 + 0.01 * x.max(0.0)))
                .count() as f64;
            let orders = (0..2).filter(|_| bernoulli(&mut rng, level * 0.4)).count() as f64;
            let revenue = orders * (30.0 + 0.5 * x + 10.0 * unif(&mut rng));
            let cost = orders * (2.0 + 3.0 * unif(&mut rng)) * (1 + a) as f64;
            c[a].push(Unit {
                x,
                exposures,
                clicks,
                cart: orders > 0.0 || bernoulli(&mut rng, 0.1),
                orders,
                revenue,
                cost,
            });
        }
        cells.push(c);
    }
    let periods: Vec<PeriodArms> = cells
        .iter()
        .zip(&plan)
        .enumerate()
        .map(|(i, (c, p))| PeriodArms {
            period: 10 + i as i64,
            weights: p.1.to_vec(),
            arms: c.iter().map(|u| rollup_of(u)).collect(),
        })
        .collect();
    let strata = Strata::new(&periods, 3).expect("ok");
    let total: f64 = plan.iter().map(|p| p.0 as f64).sum();
    let w: Vec<f64> = plan.iter().map(|p| p.0 as f64 / total).collect();
    for metric in Metric::ALL {
        let got = strata.estimates(metric);
        let fit = strata.cuped(metric).expect("CUPED");
        // The independent route: per cell, the raw values; per arm the combined ratio
        // R = Σ w ȳ / Σ w d̄ (d = 1 for means) and the linearised L = y - R·d per unit.
        let mut direct = Vec::new();
        let (mut s_lx, mut s_xx) = (0.0, 0.0);
        for a in 0..3 {
            let ys = |p: usize| cells[p][a].iter().map(move |u| per_unit(metric, u).0);
            let ds = |p: usize| cells[p][a].iter().map(move |u| per_unit(metric, u).1);
            let big_y: f64 = (0..3).map(|p| w[p] * mean(ys(p))).sum();
            let big_d: f64 = (0..3).map(|p| w[p] * mean(ds(p))).sum();
            let r = big_y / big_d;
            let l: Vec<Vec<f64>> = (0..3)
                .map(|p| ys(p).zip(ds(p)).map(|(y, d)| y - r * d).collect())
                .collect();
            let x: Vec<Vec<f64>> = (0..3)
                .map(|p| cells[p][a].iter().map(|u| u.x).collect())
                .collect();
            let n: Vec<f64> = (0..3).map(|p| cells[p][a].len() as f64).collect();
            let var: f64 = (0..3)
                .map(|p| w[p] * w[p] * cov(&l[p], &l[p]) / n[p])
                .sum::<f64>()
                / (big_d * big_d);
            let e = got[a].expect("estimate");
            rel_close(e.value, r, &format!("{metric:?} arm {a} value"));
            rel_close(e.variance, var, &format!("{metric:?} arm {a} variance"));
            for p in 0..3 {
                s_lx += cov(&l[p], &x[p]) * (n[p] - 1.0);
                s_xx += cov(&x[p], &x[p]) * (n[p] - 1.0);
            }
            direct.push((r, big_d, l, x, n));
        }
        let theta = s_lx / s_xx;
        rel_close(fit.theta, theta, &format!("{metric:?} theta"));
        let x_period: Vec<f64> = (0..3)
            .map(|p| mean(cells[p].iter().flatten().map(|u| u.x)))
            .collect();
        for (a, (r, big_d, l, x, n)) in direct.iter().enumerate() {
            let shift: f64 = (0..3)
                .map(|p| w[p] * (mean(x[p].iter().copied()) - x_period[p]))
                .sum();
            let var: f64 = (0..3)
                .map(|p| {
                    let resid: Vec<f64> =
                        l[p].iter().zip(&x[p]).map(|(l, x)| l - theta * x).collect();
                    w[p] * w[p] * cov(&resid, &resid) / n[p]
                })
                .sum::<f64>()
                / (big_d * big_d);
            let e = fit.estimates[a].expect("adjusted");
            rel_close(
                e.value,
                r - theta * shift / big_d,
                &format!("{metric:?} adj"),
            );
            rel_close(e.variance, var, &format!("{metric:?} adj variance"));
        }
        // The rollup's CUPED sums are the ones the raw units give (same n in every cell).
        assert_eq!(
            cuped_sums(metric, &periods[0].arms[0]).n,
            cells[0][0].len() as f64
        );
    }
    // ROI of arm 2 against arm 0 from stratified revenue and cost per unit.
    let arm_moments = |a: usize| {
        let mut m = [0.0; 5];
        for p in 0..3 {
            let rev: Vec<f64> = cells[p][a].iter().map(|u| u.revenue).collect();
            let cost: Vec<f64> = cells[p][a].iter().map(|u| u.cost).collect();
            let n = rev.len() as f64;
            m[0] += w[p] * mean(rev.iter().copied());
            m[1] += w[p] * mean(cost.iter().copied());
            m[2] += w[p] * w[p] * cov(&rev, &rev) / n;
            m[3] += w[p] * w[p] * cov(&cost, &cost) / n;
            m[4] += w[p] * w[p] * cov(&rev, &cost) / n;
        }
        m
    };
    let (c, t) = (arm_moments(0), arm_moments(2));
    let (dr, dc) = (t[0] - c[0], t[1] - c[1]);
    let var = (t[2] + c[2]) / (dc * dc) + dr * dr * (t[3] + c[3]) / dc.powi(4)
        - 2.0 * dr * (t[4] + c[4]) / dc.powi(3);
    let roi = strata.roi(0, 2, 0.05).expect("roi");
    rel_close(roi.roi, dr / dc - 1.0, "roi");
    rel_close(roi.se, var.sqrt(), "roi se");
}

#[test]
fn stratified_figures_match_the_numpy_and_scipy_reference() {
    let text = std::fs::read_to_string(crate::common::fixture("golden/stratified.json"))
        .expect("golden file");
    let golden: serde_json::Value = serde_json::from_str(&text).expect("json");
    let cases = golden["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 2);
    let num = |v: &serde_json::Value| v.as_f64().expect("number");
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let arms = case["arms"].as_u64().expect("arms") as usize;
        let rows: Vec<Vec<f64>> = case["units"]
            .as_array()
            .expect("units")
            .iter()
            .map(|r| r.as_array().expect("row").iter().map(num).collect())
            .collect();
        let periods: Vec<PeriodArms> = case["periods"]
            .as_array()
            .expect("periods")
            .iter()
            .enumerate()
            .map(|(p, spec)| PeriodArms {
                period: p as i64,
                weights: spec["weights"]
                    .as_array()
                    .expect("weights")
                    .iter()
                    .map(num)
                    .collect(),
                arms: (0..arms)
                    .map(|a| {
                        let units: Vec<Unit> = rows
                            .iter()
                            .filter(|r| r[0] as usize == p && r[1] as usize == a)
                            .map(|r| Unit {
                                x: r[2],
                                exposures: r[3],
                                clicks: r[4],
                                cart: r[5] > 0.0,
                                orders: r[6],
                                revenue: r[7],
                                cost: r[8],
                            })
                            .collect();
                        rollup_of(&units)
                    })
                    .collect(),
            })
            .collect();
        let strata = Strata::new(&periods, arms).expect("ok");
        let s = strata.summary();
        assert_eq!(s.strata as u64, case["strata"].as_u64().expect("strata"));
        assert_eq!(
            s.strata_used as u64,
            case["strata_used"].as_u64().expect("n")
        );
        assert_eq!(
            s.units_left_out,
            case["units_left_out"].as_u64().expect("n")
        );
        for (metric_name, m) in case["metrics"].as_object().expect("metrics") {
            let metric = Metric::parse(metric_name).expect("metric");
            let what = |x: &str| format!("{name} {metric_name} {x}");
            let got = strata.estimates(metric);
            for (a, e) in m["estimates"].as_array().expect("e").iter().enumerate() {
                let g = got[a].expect("estimate");
                rel_close(g.value, num(&e["value"]), &what("value"));
                rel_close(g.variance, num(&e["variance"]), &what("variance"));
            }
            let fit = strata.cuped(metric).expect("CUPED");
            rel_close(fit.theta, num(&m["cuped_theta"]), &what("theta"));
            rel_close(
                fit.variance_reduction,
                num(&m["cuped_variance_reduction"]),
                &what("reduction"),
            );
            for (a, e) in m["cuped_estimates"]
                .as_array()
                .expect("e")
                .iter()
                .enumerate()
            {
                let g = fit.estimates[a].expect("adjusted");
                rel_close(g.value, num(&e["value"]), &what("adjusted value"));
                rel_close(g.variance, num(&e["variance"]), &what("adjusted variance"));
            }
        }
        let srm = &case["srm"];
        for (got, want) in s
            .srm_expected_units
            .iter()
            .zip(srm["expected"].as_array().expect("expected"))
        {
            rel_close(*got, num(want), &format!("{name} expected units"));
        }
        let p = strata.srm().p_value.expect("p");
        rel_close(p, num(&srm["p_value"]), &format!("{name} SRM p"));
        for r in case["roi"].as_array().expect("roi") {
            let t = r["treatment"].as_u64().expect("t") as usize;
            let got = strata.roi(0, t, 0.05).expect("roi");
            rel_close(got.roi, num(&r["roi"]), &format!("{name} roi"));
            rel_close(got.se, num(&r["se"]), &format!("{name} roi se"));
        }
    }
}
