//! `report causal` for randomised campaigns: CUPED and the difference in means against
//! statsmodels, coverage of the ATE intervals, the incremental totals and the subsidy split on
//! simulations with a known truth, and the segments (CATE) section.

use liftdeck::app::causal_randomised::{cuped_effects, incremental_rows, ArmSums};
use liftdeck::app::causal_segments::{format_segments, SegmentAccumulator};
use liftdeck::causal::ipw::{contrast, ArmMoments};
use liftdeck::causal::segments::{segment_effects, FieldInput};
use liftdeck::store::UnitRow;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

type Generator = Xoshiro256PlusPlus;

fn uniform(rng: &mut Generator) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut Generator) -> f64 {
    let u = uniform(rng).max(1e-300);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * uniform(rng)).cos()
}

fn unit(arm: &str, x: Option<f64>, purchases: i64, revenue: f64, cost: f64) -> UnitRow {
    UnitRow {
        unit: String::new(),
        arm: arm.into(),
        propensity: 0.5,
        context: "{}".into(),
        pre_value: x,
        exposures: 1,
        clicks: 0,
        purchases,
        revenue,
        cost,
        conflicts: 0,
        assigned_at: 0,
    }
}

#[test]
fn cuped_and_difference_in_means_match_statsmodels_ols() {
    let text = std::fs::read_to_string("fixtures/golden/causal_randomised.json").expect("golden");
    let g: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut sums = vec![ArmSums::default(), ArmSums::default()];
    let mut moments = [ArmMoments::default(), ArmMoments::default()];
    for u in g["units"].as_array().expect("units") {
        let a = usize::from(u["treated"].as_bool().expect("treated"));
        let (x, y) = (u["x"].as_f64().expect("x"), u["y"].as_f64().expect("y"));
        sums[a].add(&unit("a", Some(x), i64::from(y > 0.0), y, 0.0));
        moments[a].add(y, 0.5);
    }
    let num = |k: &str| g[k].as_f64().expect(k);
    // Outcome 1 is revenue per unit.
    let cuped = cuped_effects(&sums, 0, 0.05)[1][1].expect("cuped");
    assert!((cuped.diff - num("cuped_effect")).abs() < 1e-6, "{cuped:?}");
    assert!((cuped.se - num("cuped_se")).abs() < 1e-6, "{cuped:?}");
    // The full model's robust SE differs only by theta's estimation error (about 1% here).
    assert!((cuped.se / num("cuped_se_full_hc2") - 1.0).abs() < 0.03);
    let dm = contrast(&moments[1], &moments[0], 0.05).expect("contrast");
    assert!((dm.naive_diff - num("diff_means")).abs() < 1e-6);
    // The naive interval uses the Welch SE (HC2), the weighted one the sandwich (HC0).
    let z = 1.959_963_984_540_054;
    let naive_se = (dm.naive_ci.1 - dm.naive_ci.0) / (2.0 * z);
    assert!((naive_se - num("diff_means_se")).abs() < 1e-6);
    assert!((dm.ipw_diff - num("diff_means")).abs() < 1e-6);
    assert!((dm.ipw_se - num("diff_means_se_hc0")).abs() < 1e-6);
}

#[test]
fn ate_intervals_cover_the_truth_near_95_percent() {
    // 1000 seeded randomised experiments of 200 units; the band 93-97% is about 3 binomial
    // standard deviations of the coverage at this count.
    let mut rng = Generator::seed_from_u64(24);
    let (runs, truth) = (1000, 2.0);
    let (mut dm_hits, mut cuped_hits) = (0, 0);
    for _ in 0..runs {
        let mut sums = vec![ArmSums::default(), ArmSums::default()];
        let mut m = [ArmMoments::default(), ArmMoments::default()];
        for i in 0..200 {
            let a = i % 2;
            let x = 10.0 + 3.0 * normal(&mut rng);
            let y = 5.0 + 0.8 * x + truth * a as f64 + 4.0 * normal(&mut rng);
            sums[a].add(&unit("a", Some(x), 1, y, 0.0));
            m[a].add(y, 0.5);
        }
        let c = contrast(&m[1], &m[0], 0.05).expect("contrast");
        dm_hits += usize::from(c.ipw_ci.0 <= truth && truth <= c.ipw_ci.1);
        let d = cuped_effects(&sums, 0, 0.05)[1][1].expect("cuped");
        cuped_hits += usize::from(d.ci.0 <= truth && truth <= d.ci.1);
    }
    for (what, hits) in [("difference in means", dm_hits), ("CUPED", cuped_hits)] {
        let coverage = hits as f64 / runs as f64;
        eprintln!("{what}: coverage {coverage:.3} over {runs} runs");
        assert!((0.93..=0.97).contains(&coverage), "{what}: {coverage}");
    }
}

/// One simulated coupon test: control buys with probability `p0`; a treated unit buys anyway
/// with `p0` and, if not, because of the coupon with `q`; every treated order costs `coupon`.
/// Returns the sums and the true number of extra orders and of anyway buyers among the treated.
fn coupon_test(rng: &mut Generator, n: usize) -> (Vec<ArmSums>, f64, f64) {
    let (p0, q, coupon, price) = (0.10, 0.06, 5.0, 40.0);
    let mut sums = vec![ArmSums::default(), ArmSums::default()];
    let (mut extra, mut anyway) = (0.0, 0.0);
    for i in 0..2 * n {
        let treated = i % 2 == 1;
        let base = uniform(rng) < p0;
        let caused = treated && !base && uniform(rng) < q;
        let buys = base || caused;
        extra += f64::from(u8::from(caused));
        anyway += f64::from(u8::from(treated && base));
        let cost = if treated && buys { coupon } else { 0.0 };
        let revenue = if buys { price } else { 0.0 };
        sums[usize::from(treated)].add(&unit("a", None, i64::from(buys), revenue, cost));
    }
    (sums, extra, anyway)
}

#[test]
fn incremental_totals_recover_the_extra_orders_and_the_subsidy() {
    let mut rng = Generator::seed_from_u64(7);
    let names = ["control".to_string(), "coupon".to_string()];
    let (runs, n) = (300, 4000);
    let (mut extra_hits, mut subsidy_hits) = (0, 0);
    let (mut extra_err, mut subsidy_err) = (0.0, 0.0);
    for _ in 0..runs {
        let (sums, extra, anyway) = coupon_test(&mut rng, n);
        let rows = incremental_rows(&sums, &names, &[], 0, &[None, None], 0.05);
        let t = rows[0].totals.expect("totals");
        // The expected extra orders: n·(1 - p0)·q.
        let expected = n as f64 * 0.9 * 0.06;
        let e = t.extra_orders;
        extra_hits += usize::from(e.low <= expected && expected <= e.high);
        extra_err += (e.value - extra) / runs as f64;
        let truth = 5.0 * anyway;
        let c = t.cost_to_anyway_buyers;
        subsidy_hits += usize::from(c.low <= truth && truth <= c.high);
        subsidy_err += (c.value - truth) / truth / runs as f64;
        assert!((t.discount_cost - 5.0 * (anyway + extra)).abs() < 1e-6);
        let text = liftdeck::app::causal_randomised::format_sections(
            &[],
            &rows,
            &liftdeck::format::NumberFormat::default(),
        );
        assert!(text.contains("extra orders") && text.contains("would have bought anyway"));
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    }
    let (a, b) = (
        extra_hits as f64 / runs as f64,
        subsidy_hits as f64 / runs as f64,
    );
    eprintln!("extra orders coverage {a:.3}, subsidy coverage {b:.3}, mean errors {extra_err:.2} orders, {subsidy_err:.4} relative");
    assert!((0.92..=0.98).contains(&a), "extra orders coverage {a}");
    // The truth here is the realised cost of this run's anyway buyers, which carries its own
    // binomial noise beside the estimator's: the interval covers it a little less than 95%.
    assert!(b >= 0.90, "subsidy coverage {b}");
    assert!(extra_err.abs() < 3.0, "mean error {extra_err} orders");
    assert!(
        subsidy_err.abs() < 0.01,
        "mean relative error {subsidy_err}"
    );
}

fn arm(values: &[f64]) -> ArmMoments {
    let mut m = ArmMoments::default();
    for &y in values {
        m.add(y, 0.5);
    }
    m
}

#[test]
fn segment_p_values_are_holm_and_bh_adjusted_over_every_segment() {
    let ys = |k: usize, n: usize| -> Vec<f64> {
        (0..n).map(|i| f64::from(u8::from(i % k == 0))).collect()
    };
    let fields = vec![
        FieldInput {
            field: "device".into(),
            values: vec![
                ("desktop".into(), vec![arm(&ys(10, 200)), arm(&ys(4, 200))]),
                ("mobile".into(), vec![arm(&ys(10, 300)), arm(&ys(8, 300))]),
            ],
        },
        FieldInput {
            field: "region".into(),
            values: vec![
                ("eu".into(), vec![arm(&ys(10, 250)), arm(&ys(5, 250))]),
                ("na".into(), vec![arm(&ys(10, 250)), arm(&ys(9, 250))]),
            ],
        },
    ];
    let names = ["control".to_string(), "coupon".to_string()];
    let out = segment_effects(&fields, &names, 0, 0.05);
    let est: Vec<_> = out
        .iter()
        .flat_map(|f| f.segments.iter().map(|s| s.effect.expect("estimate")))
        .collect();
    let p: Vec<f64> = est.iter().map(|e| e.p_value).collect();
    // By hand: sort ascending, Holm multiplies the j-th smallest by (4 - j + 1) with a running
    // maximum; BH multiplies by 4 / j with a running minimum from the top.
    let mut order: Vec<usize> = (0..4).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let s: Vec<f64> = order.iter().map(|&i| p[i]).collect();
    let holm_sorted = [
        (4.0 * s[0]).min(1.0),
        (4.0 * s[0]).max(3.0 * s[1]).min(1.0),
        (4.0 * s[0]).max(3.0 * s[1]).max(2.0 * s[2]).min(1.0),
        (4.0 * s[0])
            .max(3.0 * s[1])
            .max(2.0 * s[2])
            .max(s[3])
            .min(1.0),
    ];
    let bh3 = s[3];
    let bh2 = (4.0 * s[2] / 3.0).min(bh3);
    let bh1 = (4.0 * s[1] / 2.0).min(bh2);
    let bh0 = (4.0 * s[0]).min(bh1);
    let bh_sorted = [bh0, bh1, bh2, bh3];
    for (rank, &i) in order.iter().enumerate() {
        assert!(
            (est[i].p_holm - holm_sorted[rank]).abs() < 1e-12,
            "holm {i}"
        );
        assert!((est[i].p_bh - bh_sorted[rank]).abs() < 1e-12, "bh {i}");
    }
    // desktop (+15 points) and mobile (+2.5) differ: Cochran's Q says so.
    let device = out[0].heterogeneity.expect("q");
    assert!(device.df == 1 && device.p_value < 0.05, "{device:?}");
}

#[test]
fn a_single_segment_or_no_events_says_so() {
    let names = ["control".to_string(), "coupon".to_string()];
    let mut acc = SegmentAccumulator::new(2, None).expect("acc");
    for i in 0..40 {
        let device = if i % 4 < 2 { "mobile" } else { "desktop" };
        let ctx =
            format!(r#"{{"plan":"free","device":"{device}","user_id":"u{i}","score":0.{i}}}"#);
        acc.add(&ctx, i % 2, 0.0, 0.5);
    }
    let r = acc.finish(&names, 0, 0.05).expect("segments");
    let reason = |f: &str| {
        r.skipped
            .iter()
            .find(|s| s.field == f)
            .map(|s| s.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason("plan").contains("single segment"), "{r:?}");
    assert!(reason("user_id").contains("identifier"));
    assert!(reason("score").contains("not categorical"));
    let device = &r.fields[0];
    assert_eq!(device.field, "device");
    assert!(device.segments.iter().all(
        |s| s.effect.is_none() && s.reason.as_deref().is_some_and(|m| m.contains("no events"))
    ));
    let text = format_segments(&r, 0.05);
    assert!(
        text.contains("no events") && text.contains("plan skipped: a single segment"),
        "{text}"
    );
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    // --by a field no unit has is a refusal, not an empty section.
    let mut by = SegmentAccumulator::new(2, Some("nope")).expect("acc");
    by.add(r#"{"device":"mobile"}"#, 0, 1.0, 0.5);
    assert!(by.finish(&names, 0, 0.05).is_err());
    assert!(SegmentAccumulator::new(2, Some("a b")).is_err());
}
