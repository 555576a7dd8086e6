use super::*;
use crate::forecast::coverage::{self, CoverageConfig};

#[test]
fn dersimonian_laird_is_zero_without_excess_spread_and_grows_with_it() {
    let same = [(0.1, 0.01), (0.1, 0.02), (0.1, 0.01)];
    assert_eq!(dersimonian_laird(&same), 0.0);
    let spread = [(-0.5, 0.01), (0.0, 0.01), (0.5, 0.01)];
    // Q = 100·0.5 = 50, df 2, denominator 300 − 100 = 200: τ² = 48/200.
    assert!((dersimonian_laird(&spread) - (48.0f64 / 200.0).sqrt()).abs() < 1e-12);
}

#[test]
fn gaussian_draws_have_the_covariance_of_the_inverse_precision() {
    // Precision [[4, 2], [2, 3]] -> covariance [[3, -2], [-2, 4]] / 8.
    let g = Gaussian::from_precision(vec![1.0, -1.0], vec![4.0, 2.0, 2.0, 3.0]).expect("pd");
    assert!((g.sd(0) - (3.0f64 / 8.0).sqrt()).abs() < 1e-12);
    assert!((g.sd(1) - (4.0f64 / 8.0).sqrt()).abs() < 1e-12);
    let d = g.draw(&[0.0, 0.0]);
    assert_eq!(d, vec![1.0, -1.0]);
}

#[test]
fn a_history_without_control_or_offers_is_refused_with_the_reason() {
    let h = coverage::simulated_history(3, 1, 100);
    let only_control = History {
        campaigns: h.campaigns.clone(),
        units: h
            .units
            .iter()
            .filter(|u| u.offer == Offer::None)
            .cloned()
            .collect(),
    };
    let err = fit(&only_control).expect_err("no offers");
    assert!(err.to_string().contains("no usable history"), "{err}");
    let tiny = History {
        campaigns: h.campaigns.clone(),
        units: h.units[..50].to_vec(),
    };
    assert!(fit(&tiny).expect_err("tiny").to_string().contains("200"));
}

#[test]
#[ignore = "size probe"]
fn coverage_probe() {
    let cfg = CoverageConfig::fast();
    let t = std::time::Instant::now();
    let r = coverage::run(&cfg).expect("runs");
    eprintln!("{:?} in {:?}", r.shares(), t.elapsed());
    let h = coverage::simulated_history(
        cfg.seed.wrapping_mul(7919),
        cfg.campaigns,
        cfg.units_per_arm,
    );
    let m = fit(&h).expect("fit");
    eprintln!(
        "tau_base {:?} support {:?}",
        m.tau_base,
        m.support
            .iter()
            .map(|s| (s.tau, s.campaigns.len(), s.depths.clone(), s.take_rate))
            .collect::<Vec<_>>()
    );
    let names = m.encoder.names();
    let k = m.conversion.mean.len();
    for j in 0..k {
        eprintln!(
            "coef {j} {} {:.3} sd {:.3}",
            names
                .get(j % (names.len() + 1))
                .cloned()
                .unwrap_or_default(),
            m.conversion.mean[j],
            m.conversion.sd(j)
        );
    }
    for c in &r.checks {
        let f = &c.forecast.incremental_conversions;
        eprintln!(
            "{} {} truth {:.1} fc {:.1} [{:.1},{:.1}] profit truth {:.0} fc {:.0} [{:.0},{:.0}]",
            c.plan.offer.describe(),
            c.plan.audience.describe(),
            c.truth_incremental,
            f.value,
            f.low_95,
            f.high_95,
            c.truth_profit,
            c.forecast.incremental_profit.value,
            c.forecast.incremental_profit.low_95,
            c.forecast.incremental_profit.high_95
        );
    }
}
