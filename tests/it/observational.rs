//! `causal::observational`: IPW and AIPW on a confounded data set match statsmodels' Logit and
//! a numpy implementation of the same formulas (fixtures/golden/observational.json, made by
//! ref_observational.py); every degenerate input is refused with a message naming the problem.

use crate::common::fixture;
use liftdeck::causal::observational::{
    estimate, Estimand, ObservationalError, ObservationalOptions, ObservationalReport, Units,
};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

struct Data {
    x: Vec<Vec<f64>>,
    t: Vec<bool>,
    y: Vec<f64>,
}

fn golden() -> (Value, Data) {
    let text = std::fs::read_to_string(fixture("golden/observational.json")).expect("golden");
    let g: Value = serde_json::from_str(&text).expect("json");
    let x = g["x"]
        .as_array()
        .expect("rows")
        .iter()
        .map(floats)
        .collect();
    let t = g["treatment"]
        .as_array()
        .expect("treatment")
        .iter()
        .map(|v| v.as_i64() == Some(1))
        .collect();
    let y = floats(&g["outcome"]);
    (g, Data { x, t, y })
}

fn run(
    d: &Data,
    trim: Option<f64>,
    estimand: Estimand,
) -> Result<ObservationalReport, ObservationalError> {
    estimate(
        Units {
            covariates: &d.x,
            names: &[],
            treated: &d.t,
            outcome: &d.y,
        },
        ObservationalOptions { trim, estimand },
    )
}

fn close(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (diff {})",
        (got - want).abs()
    );
}

#[test]
fn ipw_and_aipw_match_statsmodels_and_numpy() {
    let (g, d) = golden();
    for (block, trim) in [("untrimmed", None), ("trimmed", g["trim"].as_f64())] {
        let b = &g[block];
        for (key, estimand) in [("ate", Estimand::Ate), ("att", Estimand::Att)] {
            let r = run(&d, trim, estimand).expect("estimate");
            let coef = floats(&g["propensity_coefficients"]);
            for (got, want) in r.propensity_coefficients.iter().zip(&coef) {
                close("propensity coefficient", *got, *want, 1e-6);
            }
            for (got, want) in r.propensity.iter().zip(floats(&g["propensity"])) {
                close("propensity", *got, want, 1e-8);
            }
            let f = |k: &str| b[k].as_f64().expect(k);
            close(
                &format!("{block} ipw {key}"),
                r.ipw.effect,
                f(&format!("ipw_{key}")),
                1e-6,
            );
            close(
                &format!("{block} ipw {key} se"),
                r.ipw.se,
                f(&format!("ipw_{key}_se")),
                1e-6,
            );
            close(
                &format!("{block} aipw {key}"),
                r.aipw.effect,
                f(&format!("aipw_{key}")),
                1e-6,
            );
            close(
                &format!("{block} aipw {key} se"),
                r.aipw.se,
                f(&format!("aipw_{key}_se")),
                1e-6,
            );
            assert_eq!(
                r.dropped_control as i64,
                b["dropped_control"].as_i64().expect("n")
            );
            assert_eq!(
                r.dropped_treated as i64,
                b["dropped_treated"].as_i64().expect("n")
            );
            if trim.is_none() {
                close(
                    "naive",
                    r.naive.effect,
                    g["naive"].as_f64().expect("naive"),
                    1e-9,
                );
                close(
                    "naive se",
                    r.naive.se,
                    g["naive_se"].as_f64().expect("se"),
                    1e-9,
                );
            }
        }
    }
    // Our IPW SE is statsmodels' GMM SE (the propensity's estimation included).
    let r = run(&d, None, Estimand::Ate).expect("estimate");
    close(
        "statsmodels ipw ate",
        r.ipw.effect,
        g["statsmodels_ipw_ate"].as_f64().expect("v"),
        1e-6,
    );
    close(
        "statsmodels ipw ate se",
        r.ipw.se,
        g["statsmodels_ipw_ate_se"].as_f64().expect("v"),
        1e-6,
    );
    close(
        "statsmodels aipw ate",
        r.aipw.effect,
        g["statsmodels_aipw_ate"].as_f64().expect("v"),
        1e-6,
    );
    let att = run(&d, None, Estimand::Att).expect("estimate");
    close(
        "statsmodels ipw att",
        att.ipw.effect,
        g["statsmodels_ipw_att"].as_f64().expect("v"),
        1e-6,
    );
    close(
        "statsmodels ipw att se",
        att.ipw.se,
        g["statsmodels_ipw_att_se"].as_f64().expect("v"),
        1e-6,
    );
}

#[test]
fn diagnostics_count_every_unit_and_weighting_improves_balance() {
    let (_, d) = golden();
    let r = run(&d, None, Estimand::Ate).expect("estimate");
    let treated = d.t.iter().filter(|&&t| t).count();
    assert_eq!(r.overlap.histogram_treated.iter().sum::<usize>(), treated);
    assert_eq!(
        r.overlap.histogram_control.iter().sum::<usize>(),
        d.t.len() - treated
    );
    assert!(r.overlap.ess_treated > 1.0 && r.overlap.ess_treated <= treated as f64);
    assert!(r.overlap.top1_weight_share > 0.01 && r.overlap.top1_weight_share < 0.5);
    assert_eq!(r.balance.len(), 3);
    assert_eq!(r.balance[0].name, "covariate 1");
    // x1 drives treatment, so it is imbalanced before weighting and balanced after.
    assert!(r.balance[0].flagged_before, "{:?}", r.balance[0]);
    for b in &r.balance {
        assert!(b.smd_after.abs() < b.smd_before.abs().max(0.05), "{b:?}");
        assert!(!b.flagged, "{b:?}");
    }
}

fn small() -> Data {
    let x: Vec<Vec<f64>> = (0..40)
        .map(|i| vec![(i % 7) as f64, (i % 5) as f64 * 0.5])
        .collect();
    let t: Vec<bool> = (0..40).map(|i| (i * 7 + 3) % 11 < 5).collect();
    let y: Vec<f64> = (0..40).map(|i| i as f64 * 0.1).collect();
    Data { x, t, y }
}

#[test]
fn an_empty_arm_is_refused() {
    let mut d = small();
    d.t = vec![true; 40];
    let e = run(&d, None, Estimand::Ate).expect_err("refused");
    assert_eq!(e, ObservationalError::EmptyArm("control"));
    d.t = vec![false; 40];
    let e = run(&d, None, Estimand::Att).expect_err("refused");
    assert!(e.to_string().contains("treated arm has no units"), "{e}");
}

#[test]
fn a_constant_or_non_finite_covariate_is_refused_by_name() {
    let mut d = small();
    for r in &mut d.x {
        r[1] = 3.0;
    }
    let names = vec!["basket".to_string(), "tenure".to_string()];
    let e = estimate(
        Units {
            covariates: &d.x,
            names: &names,
            treated: &d.t,
            outcome: &d.y,
        },
        ObservationalOptions::default(),
    )
    .expect_err("refused");
    assert_eq!(e, ObservationalError::ConstantCovariate("tenure".into()));
    assert!(e.to_string().contains("'tenure'"), "{e}");
    let mut d = small();
    d.x[9][0] = f64::NAN;
    let e = run(&d, None, Estimand::Ate).expect_err("refused");
    assert_eq!(
        e,
        ObservationalError::NonFiniteCovariate {
            name: "covariate 1".into(),
            unit: 9
        }
    );
    let mut d = small();
    d.y[4] = f64::INFINITY;
    assert_eq!(
        run(&d, None, Estimand::Ate),
        Err(ObservationalError::NonFiniteOutcome(4))
    );
}

#[test]
fn separated_arms_are_refused_as_no_overlap() {
    let mut d = small();
    // Treatment decided by a threshold on the first covariate: no finite propensity fit.
    d.t = d.x.iter().map(|r| r[0] >= 3.0).collect();
    let e = run(&d, None, Estimand::Ate).expect_err("refused");
    assert!(matches!(e, ObservationalError::NoOverlap(_)), "{e}");
    assert!(e.to_string().starts_with("no overlap"), "{e}");
}

#[test]
fn trimming_that_empties_an_arm_is_refused_as_no_overlap() {
    let (_, d) = golden();
    let r = run(&d, None, Estimand::Ate).expect("estimate");
    // Keeping only propensities in [0.4999, 0.5001] leaves an arm (here both) empty.
    let lo = 0.4999;
    let e = run(&d, Some(lo), Estimand::Ate).expect_err("refused");
    assert!(matches!(e, ObservationalError::NoOverlap(_)), "{e}");
    assert!(e.to_string().contains("after trimming"), "{e}");
    assert!(r.kept_treated > 0);
    assert_eq!(
        run(&d, Some(0.5), Estimand::Ate),
        Err(ObservationalError::BadTrim(0.5))
    );
    assert_eq!(
        run(&d, Some(-0.1), Estimand::Ate),
        Err(ObservationalError::BadTrim(-0.1))
    );
}

#[test]
fn mismatched_lengths_are_refused() {
    let mut d = small();
    d.y.pop();
    let e = run(&d, None, Estimand::Ate).expect_err("refused");
    assert!(matches!(e, ObservationalError::Shape(_)), "{e}");
    assert!(e.to_string().contains("39 outcomes"), "{e}");
    let d = small();
    let names = vec!["basket".to_string()];
    let e = estimate(
        Units {
            covariates: &d.x,
            names: &names,
            treated: &d.t,
            outcome: &d.y,
        },
        ObservationalOptions::default(),
    )
    .expect_err("refused");
    assert!(
        e.to_string().contains("1 covariate names for 2 covariates"),
        "{e}"
    );
}

#[test]
fn an_arm_too_small_for_its_outcome_model_is_refused_for_aipw() {
    let mut d = small();
    // Two treated units with two covariates: three coefficients cannot be fitted from two rows.
    d.t = (0..40).map(|i| i == 3 || i == 18).collect();
    let e = run(&d, None, Estimand::Ate).expect_err("refused");
    assert_eq!(e, ObservationalError::OutcomeModel("treated"));
}
