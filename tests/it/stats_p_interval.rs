//! A p-value belongs to its interval: for every metric type (proportion, mean, ratio, CUPED)
//! and both horizons, the p-value the report prints beside an interval is below alpha exactly
//! when that interval excludes zero. Random rollups come from small synthetic unit-level data
//! so every sum is consistent with the others.

use liftdeck::domain::ArmRollup;
use liftdeck::stats::ab::{ab_report, ArmInput, ArmRow, Metric, Options};
use proptest::prelude::*;

/// One unit's outcomes, drawn from a tiny deterministic generator.
struct Unit {
    converted: bool,
    carted: bool,
    revenue: f64,
    cost: f64,
    exposures: f64,
    clicks: f64,
    orders: f64,
    pre: f64,
}

fn next(state: &mut u64) -> f64 {
    // SplitMix64: enough randomness for test data, no dependency on the crate's RNG.
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

fn unit(state: &mut u64, rate: f64, spend: f64) -> Unit {
    let pre = 20.0 * next(state);
    let converted = next(state) < rate;
    let orders = if converted {
        1.0 + (2.0 * next(state)).floor()
    } else {
        0.0
    };
    let revenue = orders * (spend + 0.5 * pre) * (0.5 + next(state));
    let exposures = 1.0 + (4.0 * next(state)).floor();
    let clicks = (exposures * next(state) * (rate * 3.0).min(1.0)).round();
    Unit {
        converted,
        carted: converted || next(state) < rate,
        revenue,
        cost: if converted { 0.1 * revenue } else { 0.0 },
        exposures,
        clicks,
        orders,
        pre,
    }
}

fn rollup(units: &[Unit]) -> ArmRollup {
    let mut r = ArmRollup {
        units: units.len() as i64,
        x_units: units.len() as i64,
        ..ArmRollup::default()
    };
    for u in units {
        let c = f64::from(u8::from(u.converted));
        r.conversions += i64::from(u.converted);
        r.cart_units += i64::from(u.carted);
        r.purchases += u.orders as i64;
        r.purchases_sumsq += u.orders * u.orders;
        r.revenue_sum += u.revenue;
        r.revenue_sumsq += u.revenue * u.revenue;
        r.cost_sum += u.cost;
        r.cost_sumsq += u.cost * u.cost;
        r.revenue_cost_sum += u.revenue * u.cost;
        r.revenue_purchases_sum += u.revenue * u.orders;
        r.exposures += u.exposures as i64;
        r.exposures_sumsq += u.exposures * u.exposures;
        r.clicks += u.clicks as i64;
        r.clicks_sumsq += u.clicks * u.clicks;
        r.clicks_exposures_sum += u.clicks * u.exposures;
        r.x_sum += u.pre;
        r.x_sumsq += u.pre * u.pre;
        r.x_revenue_sum += u.pre * u.revenue;
        r.x_conversion_sum += u.pre * c;
        r.x_cost_sum += u.pre * u.cost;
        r.x_cart_sum += u.pre * f64::from(u8::from(u.carted));
        r.x_exposures_sum += u.pre * u.exposures;
        r.x_clicks_sum += u.pre * u.clicks;
        r.x_purchases_sum += u.pre * u.orders;
    }
    r
}

fn arms(seed: u64, n: [usize; 3], rates: [f64; 3], spend: [f64; 3]) -> Vec<ArmInput> {
    let mut state = seed;
    ["control", "a", "b"]
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let units: Vec<Unit> = (0..n[i])
                .map(|_| unit(&mut state, rates[i], spend[i]))
                .collect();
            ArmInput {
                key: (*key).into(),
                weight: 1.0,
                rollup: rollup(&units),
            }
        })
        .collect()
}

fn excludes_zero(low: Option<f64>, high: Option<f64>) -> Option<bool> {
    Some(low? > 0.0 || high? < 0.0)
}

/// Every (interval, p-value) pair of one row; returns how many pairs were defined.
fn check_row(row: &ArmRow, alpha: f64, what: &str) -> Result<usize, TestCaseError> {
    let pairs = [
        ("fixed relative", row.ci_low, row.ci_high, row.p_value),
        (
            "fixed absolute",
            row.abs_ci_low,
            row.abs_ci_high,
            row.abs_p_value,
        ),
        (
            "always-valid relative",
            row.seq_ci_low,
            row.seq_ci_high,
            row.seq_p_value,
        ),
        (
            "always-valid absolute",
            row.seq_abs_ci_low,
            row.seq_abs_ci_high,
            row.seq_abs_p_value,
        ),
    ];
    let mut defined = 0;
    for (name, low, high, p) in pairs {
        // An interval without its p-value (or the reverse) would be a row that cannot be read.
        prop_assert_eq!(
            excludes_zero(low, high).is_some(),
            p.is_some(),
            "{} {}: interval {:?}..{:?} p {:?}",
            what,
            name,
            low,
            high,
            p
        );
        if let (Some(excl), Some(p)) = (excludes_zero(low, high), p) {
            defined += 1;
            prop_assert_eq!(
                excl,
                p < alpha,
                "{} {}: [{:?}, {:?}] with p = {}",
                what,
                name,
                low,
                high,
                p
            );
        }
    }
    Ok(defined)
}

fn run_case(
    seed: u64,
    n: [usize; 3],
    rates: [f64; 3],
    spend: [f64; 3],
    alpha: f64,
) -> Result<(), TestCaseError> {
    let inputs = arms(seed, n, rates, spend);
    for (metric, cuped) in [
        (Metric::Conversion, false),
        (Metric::Revenue, false),
        (Metric::Ctr, false),
        (Metric::Aov, false),
        (Metric::Conversion, true),
        (Metric::Revenue, true),
        (Metric::Aov, true),
    ] {
        let opts = Options {
            alpha,
            cuped,
            n_star: 400.0,
            ..Options::default()
        };
        let report = ab_report("c", Some("control"), metric, &inputs, &opts);
        for row in report.arms.iter().filter(|r| r.key != "control") {
            check_row(row, alpha, &format!("{} cuped={cuped}", metric.name()))?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn p_below_alpha_exactly_when_its_interval_excludes_zero(
        seed in any::<u64>(),
        n in proptest::array::uniform3(2usize..400),
        rates in proptest::array::uniform3(0.02f64..0.6),
        spend in proptest::array::uniform3(5.0f64..60.0),
        alpha in prop_oneof![Just(0.05), Just(0.01), 0.001f64..0.3],
    ) {
        run_case(seed, n, rates, spend, alpha)?;
    }
}

/// A sweep of the treatment's conversions across the significance threshold at fixed units:
/// near the threshold the absolute-difference test and the relative interval disagree, which is
/// where a mismatched pairing shows. Every step must agree for the pair the report prints.
#[test]
fn conversions_swept_across_the_threshold_keep_p_and_interval_together() {
    let control = ArmRollup {
        units: 1000,
        conversions: 100,
        ..ArmRollup::default()
    };
    let mut crossings = 0;
    let mut last: Option<bool> = None;
    for x in 100..200 {
        let inputs = [
            ArmInput {
                key: "control".into(),
                weight: 1.0,
                rollup: control.clone(),
            },
            ArmInput {
                key: "t".into(),
                weight: 1.0,
                rollup: ArmRollup {
                    units: 1000,
                    conversions: x,
                    ..ArmRollup::default()
                },
            },
        ];
        for alpha in [0.05, 0.01] {
            let opts = Options {
                alpha,
                ..Options::default()
            };
            let r = ab_report("c", Some("control"), Metric::Conversion, &inputs, &opts);
            let row = &r.arms[1];
            let excl = excludes_zero(row.ci_low, row.ci_high).expect("defined");
            let p = row.p_value.expect("defined");
            assert_eq!(excl, p < alpha, "x = {x}, alpha {alpha}: p = {p} {row:?}");
            let seq = excludes_zero(row.seq_ci_low, row.seq_ci_high).expect("defined");
            let seq_p = row.seq_p_value.expect("defined");
            assert_eq!(
                seq,
                seq_p < alpha,
                "x = {x}, alpha {alpha}: seq p = {seq_p}"
            );
            if alpha == 0.05 {
                crossings += usize::from(last.is_some_and(|l| l != excl));
                last = Some(excl);
            }
        }
    }
    assert_eq!(crossings, 1, "the sweep crosses the threshold once");
}

/// The relative interval and its p-value against mpmath (fixtures/golden/p_interval.json,
/// made by `python3 fixtures/golden/ref_p_interval.py`), fixed-horizon and always-valid.
#[test]
fn relative_p_values_match_the_independent_reference() {
    let mut checked = 0;
    for case in crate::verify_support::golden("p_interval.json") {
        let c = &case["control"];
        let t = &case["treatment"];
        let side = |v: &serde_json::Value, key: &str| -> ArmInput {
            let f = |i: usize| v[i].as_f64().expect("number");
            let rollup = if case["kind"] == "proportion" {
                ArmRollup {
                    units: f(0) as i64,
                    conversions: f(1) as i64,
                    ..ArmRollup::default()
                }
            } else {
                ArmRollup {
                    units: f(0) as i64,
                    revenue_sum: f(1),
                    revenue_sumsq: f(2),
                    ..ArmRollup::default()
                }
            };
            ArmInput {
                key: key.into(),
                weight: 1.0,
                rollup,
            }
        };
        let metric = if case["kind"] == "proportion" {
            Metric::Conversion
        } else {
            Metric::Revenue
        };
        let opts = Options {
            alpha: crate::verify_support::num(&case, "alpha"),
            n_star: crate::verify_support::num(&case, "n_star"),
            ..Options::default()
        };
        let inputs = [side(c, "control"), side(t, "t")];
        let r = ab_report("c", Some("control"), metric, &inputs, &opts);
        let row = &r.arms[1];
        for (field, ours) in [
            ("rel_lift", row.rel_lift),
            ("ci_low", row.ci_low),
            ("ci_high", row.ci_high),
            ("p_value", row.p_value),
            ("seq_ci_low", row.seq_ci_low),
            ("seq_ci_high", row.seq_ci_high),
            ("seq_p_value", row.seq_p_value),
        ] {
            let want = crate::verify_support::num(&case, field);
            let got = ours.expect("defined");
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1e-6),
                "{field}: {got} vs {want} in {case}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 7);
}
