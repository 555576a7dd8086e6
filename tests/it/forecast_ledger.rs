//! The forecast ledger (`forecast::ledger`): CRPS against properscoring
//! (`fixtures/golden/ledger_crps.json`, 1e-9), coverage and bias on hand-made cases, refusals,
//! and a seeded overconfident forecaster whose coverage recalibration brings back to nominal.

use liftdeck::forecast::ledger::{
    apply, crps_draws, crps_gaussian, describe, gaussian_forecast, recalibration, score, summarise,
    wilson, Forecast, Interval, LedgerError, Outcome, Z95,
};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

fn golden() -> Value {
    let path = format!(
        "{}/fixtures/golden/ledger_crps.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(1.0)
}

#[test]
fn gaussian_crps_matches_properscoring() {
    let doc = golden();
    let cases = doc["gaussian"].as_array().expect("gaussian cases");
    assert!(cases.len() >= 10);
    for c in cases {
        let got = crps_gaussian(f(&c["mu"]), f(&c["sigma"]), f(&c["y"]));
        assert!(close(got, f(&c["crps"]), 1e-9), "{c}: got {got}");
    }
}

#[test]
fn sample_crps_matches_properscoring_crps_ensemble() {
    let doc = golden();
    let cases = doc["ensemble"].as_array().expect("ensemble cases");
    assert!(cases.len() >= 10);
    for c in cases {
        let draws: Vec<f64> = c["draws"]
            .as_array()
            .expect("draws")
            .iter()
            .map(f)
            .collect();
        let got = crps_draws(&draws, f(&c["y"])).expect("crps");
        assert!(
            close(got, f(&c["crps"]), 1e-9),
            "m={}: got {got}",
            draws.len()
        );
    }
    assert_eq!(crps_draws(&[], 1.0), None);
    assert_eq!(crps_draws(&[1.0, f64::NAN], 1.0), None);
}

fn hand(point: f64, l95: f64, l80: f64, h80: f64, h95: f64) -> Forecast {
    Forecast {
        offer_type: "discount".into(),
        point,
        interval_80: Interval { lo: l80, hi: h80 },
        interval_95: Interval { lo: l95, hi: h95 },
        draws: None,
    }
}

fn measured(effect: f64) -> Outcome {
    Outcome { effect, se: 0.0 }
}

#[test]
fn coverage_and_bias_on_hand_made_cases() {
    let fc = hand(10.0, 4.0, 6.0, 14.0, 16.0);
    // Inside both, on the 80% edge, between the two, on the 95% edge, outside both.
    let reviewed = vec![
        (fc.clone(), measured(11.0)),
        (fc.clone(), measured(14.0)),
        (fc.clone(), measured(15.0)),
        (fc.clone(), measured(4.0)),
        (fc.clone(), measured(20.0)),
    ];
    let s = score(0, &fc, &measured(15.0)).expect("score");
    assert!(!s.inside_80 && s.inside_95);
    assert!((s.error + 5.0).abs() < 1e-12);
    assert!((s.sigma - 6.0 / Z95).abs() < 1e-12);
    let sum = summarise(&reviewed).expect("summary");
    assert_eq!(
        (sum.coverage_80.hits, sum.coverage_95.hits, sum.n),
        (2, 4, 5)
    );
    assert!((sum.coverage_80.share - 0.4).abs() < 1e-12);
    assert!((sum.coverage_95.share - 0.8).abs() < 1e-12);
    // Errors 10 - y: -1, -4, -5, 6, -10 -> mean -2.8, sample SD √(175.8/4)... / √5.
    assert!((sum.mean_error + 2.8).abs() < 1e-12);
    let errs = [-1.0f64, -4.0, -5.0, 6.0, -10.0];
    let ss: f64 = errs.iter().map(|e| (e + 2.8).powi(2)).sum();
    assert!((sum.mean_error_se - (ss / 4.0 / 5.0).sqrt()).abs() < 1e-12);
    assert_eq!(sum.mean_crps_draws, None);
    // No measurement noise: the expected coverage is the nominal one.
    assert!((sum.expected_coverage_95 - 0.95).abs() < 1e-9);
    // Wilson for 4 of 5 at 95%, by hand: centre (0.8 + 1.9208/5)/(1 + 3.8415/5).
    let z2 = Z95 * Z95;
    let centre = (0.8 + z2 / 10.0) / (1.0 + z2 / 5.0);
    let half = Z95 / (1.0 + z2 / 5.0) * (0.16 / 5.0 + z2 / 100.0).sqrt();
    assert!((sum.coverage_95.lo - (centre - half)).abs() < 1e-12);
    assert!((sum.coverage_95.hi - (centre + half)).abs() < 1e-12);
    assert_eq!(wilson(0, 0, Z95).n, 0);
    // All or none inside: the interval still holds its share (rounding once left 10 of 10
    // with an upper bound of 0.9999999999999999).
    for n in 1..200 {
        let all = wilson(n, n, Z95);
        assert!(all.lo <= all.share && all.share <= all.hi, "{all:?}");
        let none = wilson(0, n, Z95);
        assert!(none.lo <= none.share && none.share <= none.hi, "{none:?}");
    }
}

#[test]
fn measurement_noise_lowers_the_expected_coverage_by_the_stated_formula() {
    // sigma 1 and measurement SE 1: the 95% interval covers the measured point with
    // probability 2Φ(1.96/√2) - 1 = 0.834224 (scipy).
    let fc = gaussian_forecast("discount", 0.0, 1.0);
    let s = score(
        0,
        &fc,
        &Outcome {
            effect: 0.5,
            se: 1.0,
        },
    )
    .expect("score");
    assert!((s.expected_coverage_95 - 0.834_223_727).abs() < 1e-8);
    assert!(s.expected_coverage_80 < 0.8);
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let crossed = hand(10.0, 12.0, 6.0, 14.0, 16.0);
    let err = summarise(&[(crossed, measured(1.0))]).expect_err("crossed intervals");
    assert!(
        matches!(err, LedgerError::BadForecast { index: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("nest"));
    let fc = hand(10.0, 4.0, 6.0, 14.0, 16.0);
    let err = summarise(&[(
        fc.clone(),
        Outcome {
            effect: 1.0,
            se: -1.0,
        },
    )])
    .expect_err("se");
    assert!(matches!(err, LedgerError::BadOutcome { index: 0 }));
    assert_eq!(summarise(&[]), Err(LedgerError::Empty));
    let few: Vec<_> = (0..19).map(|_| (fc.clone(), measured(10.0))).collect();
    let err = recalibration(&few, "discount").expect_err("too few");
    assert!(matches!(
        err,
        LedgerError::TooFewForecasts {
            have: 19,
            need: 20,
            ..
        }
    ));
    assert!(err.to_string().contains("review more"));
    // Other offer types do not count towards this one.
    let mut mixed = few.clone();
    mixed.push((
        hand(1.0, 0.0, 0.5, 1.5, 2.0).with_type("coupon"),
        measured(1.0),
    ));
    assert!(recalibration(&mixed, "discount").is_err());
}

trait WithType {
    fn with_type(self, t: &str) -> Self;
}
impl WithType for Forecast {
    fn with_type(mut self, t: &str) -> Self {
        self.offer_type = t.into();
        self
    }
}

#[test]
fn recalibration_of_a_calibrated_history_keeps_the_factor_near_one_and_applies_about_the_point() {
    // 40 misses at exactly 0.95 of the half-width (r = 0.95): the quantile is 0.95, shrunk
    // towards 1 by w = 40/50.
    let fc = hand(10.0, 4.0, 6.0, 14.0, 16.0);
    let hist: Vec<_> = (0..40)
        .map(|i| (fc.clone(), measured(if i % 2 == 0 { 15.7 } else { 4.3 })))
        .collect();
    let r = recalibration(&hist, "discount").expect("recalibration");
    assert_eq!(r.based_on, 40);
    assert!((r.raw_factor - 0.95).abs() < 1e-12);
    assert!((r.factor - 0.95f64.powf(0.8)).abs() < 1e-12);
    let wider = apply(&hand(0.0, -1.0, -0.5, 1.0, 3.0), &r);
    assert!((wider.interval_95.hi - 3.0 * r.factor).abs() < 1e-12);
    assert!((wider.interval_80.lo + 0.5 * r.factor).abs() < 1e-12);
    assert_eq!(wider.point, 0.0);
    assert!(describe(&r).contains("from 40 reviewed forecasts of discount"));
    assert!(describe(&r).contains("narrowed"));
}

fn normal(rng: &mut Prng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// 300 forecasts whose stated sigma is half the true one; recalibrate on the first 100 and
/// return (95% coverage of the first 100 as stated, of the next 200 recalibrated, factor).
fn overconfident_run(seed: u64) -> (f64, f64, f64) {
    let mut rng = Prng::seed_from_u64(seed);
    let mut reviewed = Vec::new();
    for _ in 0..300 {
        let truth_sigma = 0.5 + 2.0 * rng.random::<f64>();
        let point = 3.0 * normal(&mut rng);
        let effect = point + truth_sigma * normal(&mut rng);
        let se = 0.2 * truth_sigma;
        reviewed.push((
            gaussian_forecast("discount", point, truth_sigma / 2.0),
            Outcome { effect, se },
        ));
    }
    let (train, later) = reviewed.split_at(100);
    let before = summarise(train).expect("summary").coverage_95.share;
    let r = recalibration(train, "discount").expect("recalibration");
    assert_eq!(r.based_on, 100);
    let recalibrated: Vec<_> = later.iter().map(|(f, o)| (apply(f, &r), *o)).collect();
    let after = summarise(&recalibrated).expect("summary").coverage_95.share;
    (before, after, r.factor)
}

#[test]
fn recalibration_brings_an_overconfident_forecaster_back_to_nominal_coverage() {
    let (before, after, factor) = overconfident_run(7);
    assert!(before < 0.8, "stated 95% intervals covered {before}");
    assert!(
        (0.91..=0.98).contains(&after),
        "recalibrated coverage {after}"
    );
    assert!(factor > 1.5, "factor {factor}");
    // Over 20 seeds the recalibrated coverage averages close to 95%.
    let runs: Vec<_> = (100..120).map(overconfident_run).collect();
    let mean_after = runs.iter().map(|r| r.1).sum::<f64>() / runs.len() as f64;
    let mean_before = runs.iter().map(|r| r.0).sum::<f64>() / runs.len() as f64;
    assert!(mean_before < 0.75, "{mean_before}");
    assert!((0.93..=0.97).contains(&mean_after), "{mean_after}");
}
