use super::release::{add_noise, bound, effect, estimate, plan, Caps, Outcome, UnitOutcome};
use super::*;
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::SeedableRng;

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}

// Values from `python3 src/stats/dp/dp_fixture.py` (scipy norm.cdf + brentq for the analytic
// Gaussian; scipy.stats.laplace for the Laplace quantiles and CDF).
#[test]
fn analytic_gaussian_sigma_matches_scipy() {
    let fixture = [
        (0.5, 1e-6, 1.0, 8.05761848072503),
        (1.0, 1e-5, 1.0, 3.7306316348159387),
        (2.0, 1e-6, 10.0, 22.30476271186412),
        (0.1, 1e-8, 1.0, 45.93736018498718),
        (5.0, 1e-6, 1.0, 0.9800490003092092),
    ];
    for (eps, delta, sens, want) in fixture {
        let got = analytic_gaussian_sigma(sens, eps, delta).expect("calibrates");
        assert!(
            close(got, want, 1e-9),
            "eps {eps} delta {delta}: {got} vs {want}"
        );
        // Rounded up: the returned sigma meets the guarantee.
        assert!(gaussian_delta(got, eps, sens) <= delta);
    }
}

#[test]
fn analytic_gaussian_needs_less_noise_than_the_classic_bound() {
    for (eps, delta) in [(0.5, 1e-6), (0.9, 1e-5), (0.1, 1e-8)] {
        let classic = (2.0 * (1.25f64 / delta).ln()).sqrt() / eps;
        let analytic = analytic_gaussian_sigma(1.0, eps, delta).expect("calibrates");
        assert!(analytic < classic, "{analytic} vs {classic}");
        // And the classic one is valid where it is proven (eps < 1).
        assert!(gaussian_delta(classic, eps, 1.0) <= delta);
    }
    assert_eq!(analytic_gaussian_sigma(1.0, 0.0, 1e-6), None);
    assert_eq!(analytic_gaussian_sigma(1.0, 1.0, 0.0), None);
}

#[test]
fn laplace_quantiles_and_cdf_match_scipy() {
    let quantiles = [
        (0.5, 0.001, -3.1073040492110957),
        (0.5, 0.025, -1.4978661367769954),
        (0.5, 0.9, 0.8047189562170503),
        (0.5, 0.999, 3.1073040492110953),
        (2.0, 0.001, -12.429216196844383),
        (2.0, 0.025, -5.991464547107982),
        (2.0, 0.9, 3.218875824868201),
        (2.0, 0.999, 12.429216196844381),
    ];
    for (b, p, want) in quantiles {
        assert!(close(laplace_quantile(p, b), want, 1e-12), "b {b} p {p}");
        assert!(close(laplace_cdf(want, b), p, 1e-12));
    }
    assert_eq!(laplace_quantile(0.5, 2.0), 0.0);
    assert!(close(laplace_cdf(1.3, 0.5), 0.9628632108928331, 1e-14));
    assert!(close(laplace_cdf(1.3, 2.0), 0.738977111619492, 1e-14));
}

/// Kolmogorov-Smirnov distance between seeded draws and the mechanism's CDF.
fn ks_distance(mut draws: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
    draws.sort_by(f64::total_cmp);
    let n = draws.len() as f64;
    draws
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

#[test]
fn noise_follows_the_mechanism_ks_test() {
    const N: usize = 5_000;
    // 1% critical value of the one-sample KS statistic: 1.628/√n.
    let critical = 1.628 / (N as f64).sqrt();
    let mut rng = Prng::seed_from_u64(7);
    let b = laplace_scale(3.0, 0.5);
    let laplace: Vec<f64> = (0..N).map(|_| sample_laplace(&mut rng, b)).collect();
    let d = ks_distance(laplace.clone(), |x| laplace_cdf(x, b));
    assert!(d < critical, "Laplace KS {d} >= {critical}");
    // The test can fail: the same draws against a Laplace of the wrong scale.
    assert!(ks_distance(laplace, |x| laplace_cdf(x, 1.2 * b)) > critical);

    let sigma = analytic_gaussian_sigma(1.0, 1.0, 1e-5).expect("calibrates");
    let gauss: Vec<f64> = (0..N).map(|_| sample_gaussian(&mut rng, sigma)).collect();
    let d = ks_distance(gauss, |x| cdf_pdf(x / sigma).0);
    assert!(d < critical, "Gaussian KS {d} >= {critical}");
}

#[test]
fn noise_moments_match_the_stated_scale() {
    let mut rng = Prng::seed_from_u64(11);
    for noise in [
        Noise::calibrate(2.0, 0.25, 0.0).expect("laplace"),
        Noise::calibrate(2.0, 0.25, 1e-6).expect("gaussian"),
    ] {
        let draws: Vec<f64> = (0..40_000).map(|_| noise.sample(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(
            mean.abs() < 4.0 * noise.sd() / 200.0,
            "{noise:?} mean {mean}"
        );
        assert!(
            close(var.sqrt(), noise.sd(), 0.02),
            "{noise:?} sd {}",
            var.sqrt()
        );
    }
}

#[test]
fn budget_is_split_evenly_and_sums_to_the_release() {
    let caps = Caps {
        events: 5,
        value: Some(100.0),
    };
    let p = plan(Outcome::Revenue, caps, 1.2, 1e-6).expect("plans");
    assert_eq!(p.statistics.len(), 4);
    let eps: f64 = p.statistics.iter().map(|r| r.epsilon).sum();
    let delta: f64 = p.statistics.iter().map(|r| r.delta).sum();
    assert!(close(eps, 1.2, 1e-12) && close(delta, 1e-6, 1e-12));
    let sens: Vec<f64> = p.statistics.iter().map(|r| r.sensitivity).collect();
    assert_eq!(sens, vec![1.0, 100.0, 10_000.0, 5.0]);
    let lap = plan(Outcome::Conversion, caps, 0.9, 0.0).expect("plans");
    assert_eq!(lap.mechanism, Mechanism::Laplace);
    assert!(lap
        .statistics
        .iter()
        .all(|r| close(r.noise.scale, r.sensitivity / 0.3, 1e-12)));
    assert!(plan(
        Outcome::Revenue,
        Caps {
            events: 5,
            value: None
        },
        1.0,
        0.0
    )
    .is_err());
    assert!(plan(Outcome::Conversion, caps, 0.0, 0.0).is_err());
}

#[test]
fn caps_bound_every_contribution() {
    let caps = Caps {
        events: 2,
        value: Some(50.0),
    };
    let units = [
        UnitOutcome {
            arm: 0,
            purchases: 9,
            revenue: 400.0,
            cost: 0.0,
        },
        UnitOutcome {
            arm: 0,
            purchases: 1,
            revenue: 20.0,
            cost: 0.0,
        },
        UnitOutcome {
            arm: 1,
            purchases: 0,
            revenue: 0.0,
            cost: 0.0,
        },
        UnitOutcome {
            arm: 1,
            purchases: 3,
            revenue: 10.0,
            cost: 90.0,
        },
    ];
    let rev = plan(Outcome::Revenue, caps, 1.0, 0.0).expect("plans");
    let sums = bound(&rev, 2, &units);
    assert_eq!(
        (sums[0].units, sums[0].orders, sums[0].sum),
        (2.0, 3.0, 70.0)
    );
    assert_eq!(sums[0].sumsq, 2500.0 + 400.0);
    assert_eq!((sums[1].converted, sums[1].orders), (1.0, 2.0));
    let profit = plan(Outcome::Profit, caps, 1.0, 0.0).expect("plans");
    assert_eq!(bound(&profit, 2, &units)[1].sum, -50.0);
}

/// Two arms of `n` units with conversion rates `pc`, `pt`; returns (noise-aware, naive)
/// coverage of the difference's 95% interval over `trials` seeded releases.
fn conversion_coverage(trials: u64, n: usize, eps: f64, delta: f64) -> (f64, f64) {
    let (pc, pt) = (0.10, 0.12);
    let caps = Caps {
        events: 3,
        value: None,
    };
    let p = plan(Outcome::Conversion, caps, eps, delta).expect("plans");
    let (mut covered, mut naive) = (0, 0);
    let mut rng = Prng::seed_from_u64(2026);
    for _ in 0..trials {
        let units: Vec<UnitOutcome> = (0..2 * n)
            .map(|i| {
                let arm = i % 2;
                let rate = if arm == 0 { pc } else { pt };
                let u: f64 = rand::RngExt::random(&mut rng);
                UnitOutcome {
                    arm,
                    purchases: i64::from(u < rate),
                    revenue: 0.0,
                    cost: 0.0,
                }
            })
            .collect();
        let noisy = add_noise(&p, &bound(&p, 2, &units), &mut rng);
        let (c, t) = (estimate(&p, &noisy[0]), estimate(&p, &noisy[1]));
        let e = effect(&c, &t, 0.05);
        covered += u32::from(e.low <= pt - pc && pt - pc <= e.high);
        let naive_se = (c.sampling_se.powi(2) + t.sampling_se.powi(2)).sqrt();
        naive += u32::from((e.difference - (pt - pc)).abs() <= 1.96 * naive_se);
    }
    (
        f64::from(covered) / trials as f64,
        f64::from(naive) / trials as f64,
    )
}

#[test]
fn intervals_with_noise_keep_nominal_coverage() {
    // Noise comparable to sampling error: ε = 0.5 over 3 statistics, 1,000 units per arm.
    let (laplace, naive) = conversion_coverage(2_000, 1_000, 0.5, 0.0);
    eprintln!("Laplace eps 0.5: coverage {laplace}, without the noise term {naive}");
    assert!(
        (0.93..=0.97).contains(&laplace),
        "Laplace coverage {laplace}"
    );
    // The widening matters: sampling error alone covers far less.
    assert!(naive < 0.90, "naive coverage {naive}");
    let (gauss, gauss_naive) = conversion_coverage(2_000, 1_000, 1.0, 1e-6);
    eprintln!("Gaussian eps 1, delta 1e-6: coverage {gauss}, without the noise term {gauss_naive}");
    assert!((0.93..=0.97).contains(&gauss), "Gaussian coverage {gauss}");
    assert!(gauss_naive < 0.90, "naive coverage {gauss_naive}");
}
