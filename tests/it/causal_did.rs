//! Difference in differences: statsmodels goldens, seeded simulations with a known effect and
//! a known pre-trend violation, and the refusals.

use crate::common::fixture;
use crate::verify_support::{Generator, Normals};
use liftdeck::causal::did::{self, DidError, Panel, PanelUnit, TrendVerdict};
use rand::SeedableRng;
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-6 * expected.abs().max(1.0),
        "{what}: {actual} vs statsmodels {expected}"
    );
}

fn golden_panel() -> (Panel, Value) {
    let text = std::fs::read_to_string(fixture("golden/did.json")).expect("golden");
    let g: Value = serde_json::from_str(&text).expect("json");
    let treated = floats(&g["treated"]);
    let cluster = floats(&g["cluster"]);
    let units = g["y"]
        .as_array()
        .expect("rows")
        .iter()
        .enumerate()
        .map(|(i, row)| PanelUnit {
            treated: treated[i] == 1.0,
            cluster: cluster[i] as u64,
            values: floats(row),
        })
        .collect();
    let panel = Panel {
        units,
        periods: g["periods"].as_u64().expect("periods") as usize,
        first_post: g["first_post"].as_u64().expect("first_post") as usize,
    };
    (panel, g)
}

#[test]
fn twfe_did_and_its_cluster_robust_se_match_statsmodels() {
    let (panel, g) = golden_panel();
    let fit = did::estimate(&panel, 0.05).expect("fit");
    let r = &g["did"];
    close(
        fit.effect.estimate,
        r["estimate"].as_f64().expect("n"),
        "estimate",
    );
    close(fit.effect.se, r["se"].as_f64().expect("n"), "se");
    close(
        fit.effect.ci_low,
        r["ci_low"].as_f64().expect("n"),
        "ci_low",
    );
    close(
        fit.effect.ci_high,
        r["ci_high"].as_f64().expect("n"),
        "ci_high",
    );
    close(
        fit.effect.p_value,
        r["p_value"].as_f64().expect("n"),
        "p_value",
    );
    assert_eq!(fit.regressors as u64, r["k"].as_u64().expect("k"));
    assert_eq!(fit.observations as u64, r["nobs"].as_u64().expect("nobs"));
    assert_eq!((fit.clusters, fit.df), (8, 7));
}

#[test]
fn event_study_and_pre_trend_test_match_statsmodels() {
    let (panel, g) = golden_panel();
    let es = did::event_study(&panel, 0.05).expect("fit");
    let r = &g["event_study"];
    assert_eq!(
        es.reference_period as u64,
        r["reference_period"].as_u64().expect("ref")
    );
    assert_eq!(es.regressors as u64, r["k"].as_u64().expect("k"));
    let periods = floats(&r["periods"]);
    let (est, se) = (floats(&r["estimate"]), floats(&r["se"]));
    let (lo, hi) = (floats(&r["ci_low"]), floats(&r["ci_high"]));
    assert_eq!(es.effects.len(), periods.len());
    for (k, e) in es.effects.iter().enumerate() {
        assert_eq!(e.period as f64, periods[k]);
        close(e.coefficient.estimate, est[k], "event estimate");
        close(e.coefficient.se, se[k], "event se");
        close(e.coefficient.ci_low, lo[k], "event ci_low");
        close(e.coefficient.ci_high, hi[k], "event ci_high");
    }
    let test = es.pre_trend.expect("pre-trend test");
    close(test.f, r["pre_trend_f"].as_f64().expect("f"), "pre-trend F");
    close(
        test.p_value,
        r["pre_trend_p"].as_f64().expect("p"),
        "pre-trend p",
    );
    assert_eq!(
        test.df_num as f64,
        r["pre_trend_df_num"].as_f64().expect("df")
    );
    assert_eq!(
        test.df_denom as f64,
        r["pre_trend_df_denom"].as_f64().expect("df")
    );
    // p = 0.14 in the golden: no rejection at 5%.
    assert_eq!(es.verdict, TrendVerdict::Parallel);
    assert_eq!(es.verdict.message(), "trends look parallel");
    let placebo = es.placebo.expect("placebo with 3 pre-periods");
    assert_eq!((placebo.fake_first_post, placebo.fit.periods), (1, 3));
}

/// 40 clusters of 3 units, half the clusters treated, 6 periods with the start at 3; unit and
/// period effects, a cluster x period shock and unit noise. `pre_slope` adds a treated-only
/// linear trend in every period (a parallel-trends violation).
fn simulated(rng: &mut Generator, effect: f64, pre_slope: f64) -> Panel {
    let mut normals = Normals::new();
    let (clusters, per_cluster, periods, first_post) = (40, 3, 6, 3);
    let period_effect: Vec<f64> = (0..periods).map(|_| normals.draw(rng)).collect();
    let mut units = Vec::new();
    for c in 0..clusters {
        let treated = c % 2 == 0;
        let shock: Vec<f64> = (0..periods).map(|_| 0.5 * normals.draw(rng)).collect();
        for _ in 0..per_cluster {
            let level = 3.0 * normals.draw(rng);
            let values = (0..periods)
                .map(|t| {
                    let mut y = level + period_effect[t] + shock[t] + normals.draw(rng);
                    if treated {
                        y += pre_slope * t as f64;
                        if t >= first_post {
                            y += effect;
                        }
                    }
                    y
                })
                .collect();
            units.push(PanelUnit {
                treated,
                cluster: c,
                values,
            });
        }
    }
    Panel {
        units,
        periods,
        first_post,
    }
}

#[test]
fn did_cis_cover_a_known_effect_about_95_percent_of_the_time() {
    let mut rng = Generator::seed_from_u64(20261201);
    let runs = 300;
    let mut covered = 0;
    let mut sum = 0.0;
    for _ in 0..runs {
        let fit = did::estimate(&simulated(&mut rng, 2.0, 0.0), 0.05).expect("fit");
        covered += usize::from(fit.effect.ci_low <= 2.0 && 2.0 <= fit.effect.ci_high);
        sum += fit.effect.estimate;
    }
    let coverage = covered as f64 / runs as f64;
    assert!((0.92..=0.98).contains(&coverage), "coverage {coverage}");
    let mean = sum / runs as f64;
    eprintln!("coverage {coverage}, mean {mean}");
    assert!((mean - 2.0).abs() < 0.05, "mean estimate {mean}");
}

#[test]
fn pre_trend_test_rejects_about_5_percent_under_parallel_trends_and_flags_a_violation() {
    let mut rng = Generator::seed_from_u64(7);
    let runs = 200;
    let (mut rejected, mut placebo_hits) = (0, 0);
    for _ in 0..runs {
        let es = did::event_study(&simulated(&mut rng, 2.0, 0.0), 0.05).expect("fit");
        rejected += usize::from(es.verdict == TrendVerdict::NotParallel);
        placebo_hits += usize::from(es.placebo.expect("placebo").fit.effect.excludes_zero());
    }
    let size = rejected as f64 / runs as f64;
    assert!(
        (0.01..=0.10).contains(&size),
        "rejection rate under parallel trends {size}"
    );
    let placebo_rate = placebo_hits as f64 / runs as f64;
    assert!(
        placebo_rate <= 0.10,
        "placebo finds an effect in {placebo_rate} of runs"
    );

    let (mut flagged, mut placebo_flagged) = (0, 0);
    for _ in 0..runs {
        let es = did::event_study(&simulated(&mut rng, 2.0, 1.0), 0.05).expect("fit");
        flagged += usize::from(es.verdict == TrendVerdict::NotParallel);
        placebo_flagged += usize::from(es.placebo.expect("placebo").fit.effect.excludes_zero());
    }
    let power = flagged as f64 / runs as f64;
    eprintln!("size {size}, placebo {placebo_rate}, power {power}, placebo power {placebo_flagged}/{runs}");
    assert!(power >= 0.8, "violation flagged in only {power} of runs");
    assert!(
        placebo_flagged as f64 / runs as f64 >= 0.5,
        "placebo misses the violation"
    );
}

fn small(treated: &[bool], clusters: &[u64], periods: usize, first_post: usize) -> Panel {
    let units = treated
        .iter()
        .zip(clusters)
        .enumerate()
        .map(|(i, (&treated, &cluster))| PanelUnit {
            treated,
            cluster,
            values: (0..periods).map(|t| (i * 7 + t * 3) as f64 % 5.0).collect(),
        })
        .collect();
    Panel {
        units,
        periods,
        first_post,
    }
}

#[test]
fn degenerate_panels_are_refused_with_a_reason() {
    let arms = [true, true, false, false];
    let ok = small(&arms, &[1, 2, 3, 4], 4, 2);
    assert!(did::report(&ok, 0.05).is_ok());

    let one_cluster = small(&arms, &[9, 9, 9, 9], 4, 2);
    let err = did::estimate(&one_cluster, 0.05).expect_err("one cluster");
    assert_eq!(err, DidError::OneCluster { cluster: 9 });
    assert!(err.to_string().contains("at least two clusters"));

    let no_treated = small(&[false; 4], &[1, 2, 3, 4], 4, 2);
    assert_eq!(did::estimate(&no_treated, 0.05), Err(DidError::NoTreated));
    let no_control = small(&[true; 4], &[1, 2, 3, 4], 4, 2);
    assert_eq!(did::estimate(&no_control, 0.05), Err(DidError::NoControl));

    let no_pre = small(&arms, &[1, 2, 3, 4], 4, 0);
    assert_eq!(did::event_study(&no_pre, 0.05), Err(DidError::NoPrePeriod));
    let no_post = small(&arms, &[1, 2, 3, 4], 4, 4);
    assert_eq!(
        did::estimate(&no_post, 0.05),
        Err(DidError::NoPostPeriod {
            first_post: 4,
            periods: 4
        })
    );

    let mut unbalanced = ok.clone();
    unbalanced.units[2].values.pop();
    assert_eq!(
        did::report(&unbalanced, 0.05),
        Err(DidError::Unbalanced {
            unit: 2,
            got: 3,
            expected: 4
        })
    );
    let mut missing = ok.clone();
    missing.units[1].values[3] = f64::NAN;
    assert_eq!(
        did::estimate(&missing, 0.05),
        Err(DidError::NotFinite { unit: 1, period: 3 })
    );

    let empty = Panel {
        units: Vec::new(),
        periods: 4,
        first_post: 2,
    };
    assert_eq!(did::estimate(&empty, 0.05), Err(DidError::NoUnits));
}

#[test]
fn a_single_pre_period_is_not_testable_and_has_no_placebo() {
    let panel = small(&[true, true, false, false], &[1, 2, 3, 4], 4, 1);
    let es = did::event_study(&panel, 0.05).expect("fit");
    assert_eq!(es.verdict, TrendVerdict::NotTestable);
    assert!(es.pre_trend.is_none() && es.placebo.is_none());
    assert!(es.effects.iter().all(|e| !e.pre));
}

#[test]
fn the_estimate_is_the_difference_of_differences_and_ignores_unit_and_period_levels() {
    // Two pre and two post periods: the TWFE coefficient is (post - pre of the treated) minus
    // (post - pre of the controls), in means.
    let rows = [
        (true, [1.0, 2.0, 6.0, 7.0]),
        (true, [3.0, 3.0, 9.0, 8.0]),
        (false, [2.0, 1.0, 3.0, 4.0]),
        (false, [0.0, 0.0, 0.0, 2.0]),
    ];
    let panel = Panel {
        units: rows
            .iter()
            .enumerate()
            .map(|(i, (treated, v))| PanelUnit {
                treated: *treated,
                cluster: i as u64,
                values: v.to_vec(),
            })
            .collect(),
        periods: 4,
        first_post: 2,
    };
    let by_hand = (30.0 - 9.0) / 4.0 - (9.0 - 3.0) / 4.0;
    let fit = did::estimate(&panel, 0.05).expect("fit");
    assert!(
        (fit.effect.estimate - by_hand).abs() < 1e-12,
        "{}",
        fit.effect.estimate
    );
    let mut shifted = panel.clone();
    for (i, u) in shifted.units.iter_mut().enumerate() {
        for (t, v) in u.values.iter_mut().enumerate() {
            *v += 10.0 * i as f64 - 3.0 * t as f64;
        }
    }
    let again = did::estimate(&shifted, 0.05).expect("fit");
    assert!((again.effect.estimate - by_hand).abs() < 1e-9);
    assert!((again.effect.se - fit.effect.se).abs() < 1e-9);
}
