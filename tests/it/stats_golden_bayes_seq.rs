//! Golden checks for `stats::bayes` and `stats::sequential`: every case of
//! `fixtures/golden/proportions.json` (`prob_t_beats_c`) and `fixtures/golden/sequential.json`
//! (scipy/numpy, conventions in `fixtures/golden/README.md`), extra reference values recorded
//! with the script that produced them, and the Gaussian model against first principles.

use liftdeck::stats::bayes::{
    gaussian_effect, prob_beats, prob_beats_closed_form, prob_best, BetaPosterior, BetaPrior,
    EffectPrior,
};
use liftdeck::stats::sequential::{
    confidence_sequence, half_width, mixture_rho, msprt_log_lambda, msprt_p_value, SequentialConfig,
};
use serde_json::Value;

fn golden(name: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("golden file readable");
    let file: Value = serde_json::from_str(&text).expect("golden file is JSON");
    file["cases"].as_array().expect("cases array").clone()
}

fn num(case: &Value, key: &str) -> f64 {
    case[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} in {case}"))
}

/// The README's comparison rule, |a - e| <= rel · max(|e|, 1e-6), at a chosen `rel`.
fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    let bound = rel * expected.abs().max(1e-6);
    assert!(
        (actual - expected).abs() <= bound,
        "{what}: actual {actual:e}, expected {expected:e}, |diff| {:e} > {bound:e}",
        (actual - expected).abs()
    );
}

fn posterior(case: &Value, arm: &str) -> BetaPosterior {
    let units = case[format!("n_{arm}")].as_u64().expect("units");
    let conversions = case[format!("x_{arm}")].as_u64().expect("conversions");
    BetaPosterior::from_counts(units, conversions, BetaPrior::default()).expect("valid counts")
}

#[test]
fn prob_t_beats_c_matches_every_golden_case() {
    let cases = golden("proportions.json");
    assert!(cases.len() >= 28);
    for case in &cases {
        let label = case["label"].to_string();
        let (treatment, control) = (posterior(case, "t"), posterior(case, "c"));
        let expected = num(case, "prob_t_beats_c");
        // The README asks for 1e-6; the quadrature is held to the 1e-9 aim (measured: < 4e-13).
        let quadrature = prob_beats(&treatment, &control);
        assert_close(quadrature, expected, 1e-9, &format!("quadrature {label}"));
        // Evan Miller's sum is limited by lnΓ differences of size 1e7 at n = 1e6 (~1e-9).
        let closed = prob_beats_closed_form(&treatment, &control).expect("integer alpha_t");
        assert_close(closed, expected, 1e-8, &format!("closed form {label}"));
        let best = prob_best(&[treatment, control]);
        assert!((best[0] + best[1] - 1.0).abs() < 1e-9, "{label}: {best:?}");
        assert_close(best[0], expected, 1e-9, &format!("prob_best {label}"));
    }
}

#[test]
fn beta_references_for_non_integer_shapes_and_many_arms() {
    // Produced by fixtures/golden/ref_bayes_extra.py (scipy 1.17.1, mpmath 1.3.0, run once):
    //   mpmath (30 digits): mp.quad(pdf_c(q)·betainc(a_t, b_t, q, 1, regularized), [0,.25,.5,.75,1])
    //   scipy: Σ quad(beta.pdf_i·Π beta.cdf_j, epsabs=1e-15, epsrel=1e-13) over pieces cut at
    //   the 1e-16 … 0.5 tail quantiles of every arm.
    let beta = |a: f64, b: f64| BetaPosterior::new(a, b).expect("valid shapes");
    let beats = [
        ((0.2, 0.3), (2.0, 5.0), 0.490_617_904_761_904_8),
        ((0.05, 0.05), (2.0, 5.0), 0.524_999_460_928_066_2),
        // Jeffreys prior, 3 vs 0 conversions out of 1e6.
        (
            (3.5, 999_997.5),
            (0.5, 1_000_000.5),
            0.966_854_595_229_180_2,
        ),
    ];
    for ((at, bt), (ac, bc), expected) in beats {
        let actual = prob_beats(&beta(at, bt), &beta(ac, bc));
        assert_close(
            actual,
            expected,
            1e-9,
            &format!("Beta({at},{bt}) vs Beta({ac},{bc})"),
        );
    }
    let check_best = |shapes: &[(f64, f64)], expected: &[f64]| {
        let arms: Vec<_> = shapes.iter().map(|&(a, b)| beta(a, b)).collect();
        let actual = prob_best(&arms);
        assert!((actual.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        for (a, e) in actual.iter().zip(expected) {
            assert_close(*a, *e, 1e-8, &format!("prob_best {shapes:?}"));
        }
    };
    check_best(
        &[(11.0, 91.0), (16.0, 86.0), (13.0, 109.0)],
        &[
            0.122_788_190_302_641_5,
            0.773_114_842_845_526_6,
            0.104_096_966_851_832_05,
        ],
    );
    check_best(
        &[
            (101.0, 9901.0),
            (121.0, 9881.0),
            (1.0, 1.0),
            (111.0, 9891.0),
        ],
        &[
            0.000_624_965_225_905_261_4,
            0.008_870_286_106_658_3,
            0.987_640_653_030_427_9,
            0.002_864_095_637_008_289_5,
        ],
    );
}

#[test]
fn sequential_matches_every_golden_case() {
    let cases = golden("sequential.json");
    let (mut sequences, mut msprts) = (0, 0);
    for case in &cases {
        let n = case["n"].as_u64().expect("integer n");
        let sigma2 = num(case, "sigma2");
        match case["kind"].as_str() {
            Some("confidence_sequence") => {
                sequences += 1;
                let config = SequentialConfig {
                    alpha: num(case, "alpha"),
                    n_star: num(case, "n_star"),
                };
                let what = format!("{case}");
                let rho = mixture_rho(&config).expect("valid config");
                assert_close(rho, num(case, "rho"), 1e-12, &what);
                let expected = num(case, "half_width");
                let direct = half_width(sigma2, n, &config).expect("defined");
                assert_close(direct, expected, 1e-12, &what);
                // The caller's route: an estimate and its SE, sigma² = SE² × n.
                let se = (sigma2 / n as f64).sqrt();
                let cs = confidence_sequence(0.25, se, n, &config).expect("defined");
                assert_close(cs.half_width, expected, 1e-12, &what);
                assert_close(cs.high - cs.low, 2.0 * expected, 1e-12, &what);
                assert!(cs.half_width > num(case, "fixed_horizon_half_width"));
            }
            Some("msprt") => {
                msprts += 1;
                let (delta, tau2) = (num(case, "delta_hat"), num(case, "tau2"));
                let variance = sigma2 / n as f64;
                let what = format!("{case}");
                assert_close(variance, num(case, "V"), 1e-15, &what);
                let log_lambda = msprt_log_lambda(delta, variance, tau2).expect("defined");
                assert_close(log_lambda, num(case, "log_lambda"), 1e-12, &what);
                assert_close(log_lambda.exp(), num(case, "lambda"), 1e-11, &what);
                let p = msprt_p_value(delta, variance, tau2).expect("defined");
                assert_close(p, num(case, "p_value"), 1e-11, &what);
            }
            other => panic!("unknown kind {other:?}"),
        }
    }
    assert_eq!((sequences, msprts), (16, 12));
}

#[test]
fn gaussian_model_matches_scipy() {
    // Produced by fixtures/golden/ref_gauss_extra.py (scipy 1.17.1, run once): conjugate update by hand,
    // chance = norm.sf(0), CI = norm.ppf(0.025/0.975), losses = quad(max(0, ∓x)·norm.pdf(x))
    // over mean ± 40 sd with a break at 0, epsabs=1e-15, epsrel=1e-13.
    #[rustfmt::skip]
    let cases: [(f64, f64, EffectPrior, [f64; 7]); 5] = [
        (0.05, 0.04, EffectPrior::Flat, [0.05, 0.04, 0.8943502263331446,
            -0.028398559381602184, 0.12839855938160216, 0.002023474732218113, 0.052023474732218127]),
        (-0.12, 0.03, EffectPrior::Flat, [-0.12, 0.03, 3.167124183311986e-05,
            -0.17879891953620164, -0.06120108046379838, 0.12000021435775295, 2.1435775297217001e-07]),
        (0.3, 0.25, EffectPrior::PROPER_DEFAULT, [0.17704918032786884, 0.19205531989934396,
            0.8217006409236239, -0.19937232971416416, 0.5534706903699018, 0.018527529478594804,
            0.19557670980646363]),
        (0.0, 0.01, EffectPrior::PROPER_DEFAULT, [0.0, 0.009994449069791543, 0.5,
            -0.019588760222111274, 0.01958876022211127, 0.003987208303258616, 0.003987208303258616]),
        (-0.02, 0.5, EffectPrior::PROPER_DEFAULT, [-0.005294117647058824, 0.2572478777137633,
            0.49179041510711563, -0.509490693065399, 0.4989024577712812, 0.10529584580818988,
            0.10000172816113104]),
    ];
    for (estimate, se, prior, expected) in cases {
        let post = gaussian_effect(estimate, se, prior, 0.05).expect("defined");
        let actual = [
            post.mean,
            post.sd,
            post.chance_to_beat_control,
            post.ci_low,
            post.ci_high,
            post.risk_ship_treatment,
            post.risk_keep_control,
        ];
        for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
            assert_close(
                *a,
                *e,
                1e-9,
                &format!("{estimate} {se} {prior:?} field {i}"),
            );
        }
    }
}

/// ∫_a^b f by composite Simpson with 20k steps (~1e-14 relative on these smooth integrands).
fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    if b <= a {
        return 0.0;
    }
    let steps = 20_000;
    let h = (b - a) / steps as f64;
    let inner: f64 = (1..steps)
        .map(|i| f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
        .sum();
    (f(a) + inner + f(b)) * h / 3.0
}

#[test]
fn gaussian_closed_forms_match_numerical_integration() {
    for (estimate, se) in [
        (0.03, 0.02),
        (-0.01, 0.05),
        (0.2, 0.01),
        (0.0, 0.3),
        (-0.4, 0.1),
    ] {
        for prior in [EffectPrior::Flat, EffectPrior::PROPER_DEFAULT] {
            let post = gaussian_effect(estimate, se, prior, 0.1).expect("defined");
            let (mu, s) = (post.mean, post.sd);
            let what = format!("{estimate} {se} {prior:?}");
            let norm = (2.0 * std::f64::consts::PI).sqrt() * s;
            let density = |x: f64| (-0.5 * ((x - mu) / s).powi(2)).exp() / norm;
            // Integrate over mu ± 12 sd (the rest is < 1e-32), split at 0 where max(0, ±x) kinks.
            let (lo, hi) = (mu - 12.0 * s, mu + 12.0 * s);
            let ship = simpson(|x| -x * density(x), lo, hi.min(0.0));
            let keep = simpson(|x| x * density(x), lo.max(0.0), hi);
            let chance = simpson(density, lo.max(0.0), hi);
            let below_ci = simpson(density, lo, post.ci_low);
            let above_ci = simpson(density, post.ci_high, hi);
            // Tolerances follow statrs's Φ (~1e-10 relative, see above), not the integration.
            assert_close(post.risk_ship_treatment, ship, 1e-8, &what);
            assert_close(post.risk_keep_control, keep, 1e-8, &what);
            assert_close(post.chance_to_beat_control, chance, 1e-9, &what);
            // Equal tails of a 90% interval.
            assert!((below_ci - 0.05).abs() <= 1e-10 && (above_ci - 0.05).abs() <= 1e-10);
            // max(0, X) - max(0, -X) = X, so the two risks differ by exactly the mean.
            let gap = post.risk_keep_control - post.risk_ship_treatment;
            assert!((gap - mu).abs() <= 1e-15 + 1e-12 * mu.abs(), "{what}");
        }
    }
}
