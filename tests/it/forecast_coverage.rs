//! The forecast's intervals by simulation: 200 seeded plans forecast from earlier simulated
//! campaigns, each then run on new shoppers and compared with the closed-form truth. The
//! long version (more plans, bigger histories) is `liftdeck bench forecast`.

use liftdeck::forecast::coverage::{run, CoverageConfig};

#[test]
fn two_hundred_held_out_plans_fall_inside_their_intervals_about_as_often_as_stated() {
    let cfg = CoverageConfig::fast();
    let r = run(&cfg).expect("the simulated histories train");
    assert!(r.checks.len() >= 200, "{} plans", r.checks.len());
    let [c80, c95, p80, p95] = r.shares();
    eprintln!("inside 80%/95%: orders {c80:.3}/{c95:.3}, profit {p80:.3}/{p95:.3}");
    // Every simulated campaign, past or planned, has its own season (CoverageConfig::fast), so
    // the campaign spread is real and must be learnt. With 200 plans a share's standard error
    // is about 0.028 at 80% and 0.015 at 95%; the bands allow about two of them (measured:
    // 0.800 / 0.960 for orders, 0.840 / 0.985 for profit).
    assert!(
        (0.72..=0.89).contains(&c80),
        "incremental orders inside 80%: {c80}"
    );
    assert!(
        (0.90..=0.99).contains(&c95),
        "incremental orders inside 95%: {c95}"
    );
    assert!(
        (0.72..=0.90).contains(&p80),
        "incremental profit inside 80%: {p80}"
    );
    assert!(
        (0.89..=0.99).contains(&p95),
        "incremental profit inside 95%: {p95}"
    );
    // The intervals must carry information, not just cover: the forecast points track the
    // truths across plans, and the typical 95% interval is narrower than the truths' range.
    let points: Vec<f64> = r
        .checks
        .iter()
        .map(|c| c.forecast.incremental_conversions.value)
        .collect();
    let truths: Vec<f64> = r.checks.iter().map(|c| c.truth_incremental).collect();
    let corr = correlation(&points, &truths);
    let mut widths: Vec<f64> = r
        .checks
        .iter()
        .map(|c| {
            let b = c.forecast.incremental_conversions;
            b.high_95 - b.low_95
        })
        .collect();
    widths.sort_by(f64::total_cmp);
    let range = truths.iter().cloned().fold(f64::MIN, f64::max)
        - truths.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        corr > 0.7,
        "forecast points against truths: correlation {corr}"
    );
    assert!(
        widths[widths.len() / 2] < 0.5 * range,
        "{} vs {range}",
        widths[widths.len() / 2]
    );
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}
