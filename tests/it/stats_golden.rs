//! Golden tests: every deterministic output of the frequentist, SRM, power and multiple-testing
//! modules against the scipy/statsmodels values in `fixtures/golden/` (how they were produced:
//! `fixtures/golden/README.md`; regenerate with `python3 fixtures/golden/make_golden.py`).
//! Tolerance `|a - e| <= 1e-6·max(|e|, 1e-6)`, and a JSON null must be a `None` and vice versa.
//! The Bayesian fields (`prob_t_beats_c`, posteriors) belong to `stats/bayes/` and are not checked
//! here; nor are the statsmodels root-finding sample sizes, which solve a different equation
//! than the closed forms implemented (the README names the closed-form fields to compare with).

use liftdeck::stats::frequentist::{
    compare_means, compare_proportions, wald_difference, Comparison, Estimate, MeanStats,
    ProportionStats,
};
use liftdeck::stats::multiple::{benjamini_hochberg, holm};
use liftdeck::stats::power::{
    cohens_h, units_per_arm_mean, units_per_arm_proportion, units_per_arm_proportion_cohens_h,
    TestDesign,
};
use liftdeck::stats::srm::{chi_square_fit, srm_check, SRM_ALPHA, SRM_MIN_UNITS_PER_ARM};
use serde_json::Value;

fn cases(file: &str) -> Vec<Value> {
    let path = format!("{}/fixtures/golden/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    doc["cases"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{path}: no cases"))
}

fn num(case: &Value, key: &str) -> f64 {
    case[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{}: {key} is not a number", case["label"]))
}

fn count(case: &Value, key: &str) -> u64 {
    case[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{}: {key} is not a count", case["label"]))
}

/// Collects every mismatch of a file so that one run shows them all.
#[derive(Default)]
struct Checker {
    failures: Vec<String>,
    checked: usize,
}

impl Checker {
    fn value(&mut self, case: &Value, key: &str, actual: Option<f64>) {
        let expected = &case[key];
        assert!(
            !expected.is_null() || case.get(key).is_some(),
            "{key} missing from fixture"
        );
        self.checked += 1;
        let label = &case["label"];
        match (actual, expected.as_f64()) {
            (None, None) if expected.is_null() => {}
            (Some(a), Some(e)) => {
                if !a.is_finite() || (a - e).abs() > 1e-6 * e.abs().max(1e-6) {
                    self.failures
                        .push(format!("{label}: {key} = {a:e}, expected {e:e}"));
                }
            }
            (a, _) => self
                .failures
                .push(format!("{label}: {key} = {a:?}, expected {expected}")),
        }
    }

    fn equal<T: PartialEq + std::fmt::Debug>(&mut self, case: &Value, what: &str, a: T, e: T) {
        self.checked += 1;
        if a != e {
            self.failures
                .push(format!("{}: {what} = {a:?}, expected {e:?}", case["label"]));
        }
    }

    fn finish(self, file: &str, min_checks: usize) {
        assert!(
            self.failures.is_empty(),
            "{file}:\n{}",
            self.failures.join("\n")
        );
        assert!(
            self.checked >= min_checks,
            "{file}: only {} checks",
            self.checked
        );
    }
}

/// The fields proportions and means share: Welch test and delta-method relative lift.
fn check_common(ck: &mut Checker, case: &Value, cmp: &Comparison) {
    let welch = cmp.welch;
    ck.value(case, "abs_diff", Some(cmp.abs_diff));
    ck.value(case, "welch_t", welch.map(|w| w.statistic()));
    ck.value(case, "welch_df", welch.and_then(|w| w.df()));
    ck.value(case, "welch_p_value", cmp.p_value());
    ck.value(case, "welch_se", welch.map(|w| w.se()));
    ck.value(case, "rel_lift", cmp.rel_lift);
    ck.value(case, "rel_lift_se", cmp.rel.map(|r| r.se()));
    ck.value(case, "rel_lift_ci_low", cmp.rel_ci.map(|i| i.low));
    ck.value(case, "rel_lift_ci_high", cmp.rel_ci.map(|i| i.high));
}

#[test]
fn proportions_match_scipy_and_statsmodels() {
    let mut ck = Checker::default();
    for case in cases("proportions.json") {
        let c = ProportionStats {
            n: count(&case, "n_c"),
            x: count(&case, "x_c"),
        };
        let t = ProportionStats {
            n: count(&case, "n_t"),
            x: count(&case, "x_t"),
        };
        let cmp = compare_proportions(&c, &t, num(&case, "alpha"))
            .unwrap_or_else(|| panic!("{}: no comparison", case["label"]));
        ck.value(&case, "rate_c", Some(cmp.control));
        ck.value(&case, "rate_t", Some(cmp.treatment));
        ck.value(&case, "var_c", c.moments().map(|m| m.variance));
        ck.value(&case, "var_t", t.moments().map(|m| m.variance));
        ck.value(&case, "wald_se", wald_difference(&c, &t).map(|w| w.se()));
        ck.value(&case, "wald_ci_low", cmp.abs_ci.map(|i| i.low));
        ck.value(&case, "wald_ci_high", cmp.abs_ci.map(|i| i.high));
        check_common(&mut ck, &case, &cmp);
    }
    ck.finish("proportions.json", 28 * 16);
}

#[test]
fn means_match_scipy() {
    let mut ck = Checker::default();
    for case in cases("means.json") {
        let arm = |s: &str| MeanStats {
            n: num(&case, &format!("n_{s}")),
            sum: num(&case, &format!("sum_{s}")),
            sum_sq: num(&case, &format!("sum_sq_{s}")),
        };
        let (c, t) = (arm("c"), arm("t"));
        let cmp = compare_means(&c, &t, num(&case, "alpha"))
            .unwrap_or_else(|| panic!("{}: no comparison", case["label"]));
        ck.value(&case, "mean_c", Some(cmp.control));
        ck.value(&case, "mean_t", Some(cmp.treatment));
        ck.value(&case, "var_c", c.variance());
        ck.value(&case, "var_t", t.variance());
        ck.value(&case, "abs_diff_ci_low", cmp.abs_ci.map(|i| i.low));
        ck.value(&case, "abs_diff_ci_high", cmp.abs_ci.map(|i| i.high));
        let t_crit = cmp
            .welch
            .zip(cmp.abs_ci)
            .map(|(w, i)| (i.high - w.value()) / w.se());
        ck.value(&case, "t_crit", t_crit);
        check_common(&mut ck, &case, &cmp);
    }
    ck.finish("means.json", 15 * 16);
}

#[test]
fn srm_matches_scipy_chisquare() {
    let mut ck = Checker::default();
    for case in cases("srm.json") {
        let list = |key: &str| case[key].as_array().cloned().unwrap_or_default();
        let observed: Vec<u64> = list("observed").iter().filter_map(Value::as_u64).collect();
        let weights: Vec<f64> = list("weights").iter().filter_map(Value::as_f64).collect();
        let fit = chi_square_fit(&observed, &weights);
        ck.value(&case, "chi2", fit.as_ref().map(|f| f.statistic));
        ck.value(&case, "p_value", fit.as_ref().map(|f| f.p_value));
        ck.equal(
            &case,
            "df",
            fit.as_ref().map(|f| f.df as u64),
            case["df"].as_u64(),
        );
        let expected: Vec<f64> = list("expected_counts")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        let got = fit.as_ref().map(|f| f.expected.clone()).unwrap_or_default();
        ck.equal(&case, "expected_counts.len", got.len(), expected.len());
        for (i, (a, e)) in got.iter().zip(&expected).enumerate() {
            let ok = (a - e).abs() <= 1e-6 * e.abs().max(1e-6);
            ck.equal(
                &case,
                &format!("expected_counts[{i}] = {a} vs {e}"),
                ok,
                true,
            );
        }
        // The alarm rule applied to the reference p-value.
        let armed = observed.iter().all(|&o| o >= SRM_MIN_UNITS_PER_ARM);
        let want_alarm = armed && num(&case, "p_value") < SRM_ALPHA;
        ck.equal(
            &case,
            "alarm",
            srm_check(&observed, &weights).alarm,
            want_alarm,
        );
    }
    ck.finish("srm.json", 15 * 5);
}

#[test]
fn power_matches_the_closed_forms() {
    let mut ck = Checker::default();
    for case in cases("power.json") {
        let design = TestDesign {
            alpha: num(&case, "alpha"),
            power: num(&case, "power"),
        };
        let (plain, plain_ceil) = match case["kind"].as_str() {
            Some("proportion") => {
                let (p, mde) = (num(&case, "baseline_rate"), num(&case, "mde_rel"));
                ck.value(
                    &case,
                    "cohens_h",
                    cohens_h(num(&case, "p1"), num(&case, "p2")),
                );
                let h_form = units_per_arm_proportion_cohens_h(p, mde, design);
                ck.value(&case, "n_per_arm_cohen_h_closed_form", h_form);
                let h_ceil = case["n_per_arm_cohen_h_closed_form_ceil"].as_f64();
                ck.equal(&case, "cohen_h ceil", h_form.map(f64::ceil), h_ceil);
                (
                    units_per_arm_proportion(p, mde, design),
                    "n_per_arm_normal_approx_ceil",
                )
            }
            Some("mean") => {
                let n = units_per_arm_mean(num(&case, "sigma"), num(&case, "delta"), design);
                (n, "n_per_arm_normal_approx_ceil")
            }
            other => panic!("unknown kind {other:?}"),
        };
        ck.value(&case, "n_per_arm_normal_approx", plain);
        ck.equal(
            &case,
            "ceil",
            plain.map(f64::ceil),
            case[plain_ceil].as_f64(),
        );
    }
    ck.finish("power.json", 12 * 5 + 8 * 2);
}

#[test]
fn multiple_testing_matches_statsmodels() {
    let mut ck = Checker::default();
    for case in cases("multiple_testing.json") {
        let floats = |key: &str| -> Vec<f64> {
            case[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .collect()
        };
        let bools = |key: &str| -> Vec<bool> {
            case[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_bool)
                .collect()
        };
        let p = floats("p_values");
        let alpha = num(&case, "alpha");
        for (name, adjusted) in [("holm", holm(&p)), ("fdr_bh", benjamini_hochberg(&p))] {
            let adjusted = adjusted.unwrap_or_else(|| panic!("{}: {name} refused", case["label"]));
            let expected = floats(&format!("{name}_adjusted"));
            ck.equal(
                &case,
                &format!("{name} length"),
                adjusted.len(),
                expected.len(),
            );
            for (i, (a, e)) in adjusted.iter().zip(&expected).enumerate() {
                let ok = (a - e).abs() <= 1e-6 * e.abs().max(1e-6);
                ck.equal(&case, &format!("{name}[{i}] = {a} vs {e}"), ok, true);
            }
            let reject: Vec<bool> = adjusted.iter().map(|&a| a <= alpha).collect();
            ck.equal(
                &case,
                &format!("{name}_reject"),
                reject,
                bools(&format!("{name}_reject")),
            );
        }
    }
    ck.finish("multiple_testing.json", 9 * 4);
}

#[test]
fn estimate_reproduces_the_normal_quantile_of_the_fixtures() {
    // The README pins z = norm.ppf(0.975); an Estimate with se = 1 exposes it as a half-width.
    let ci = Estimate::normal(0.0, 1.0).and_then(|e| e.confidence_interval(0.05));
    let z = 1.959963984540054;
    assert!(ci.is_some_and(|i| (i.high - z).abs() < 1e-12 && (i.low + z).abs() < 1e-12));
}
