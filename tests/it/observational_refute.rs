//! `causal::observational::refute` on seeded simulations (issue proof (d)): the placebo
//! treatment finds no effect across seeds while the real estimate does, an independent common
//! cause barely moves the estimate, an 80% subset stays inside the full data's interval, and
//! the checks are deterministic for a seed.

use liftdeck::causal::observational::refute::{
    common_cause, placebo, subset, COMMON_CAUSE_TOLERANCE_SE,
};
use liftdeck::causal::observational::{
    estimate, refute, ObservationalOptions, RefutationKind, Units,
};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{Rng, SeedableRng};

const EFFECT: f64 = 2.0;

fn uniform(rng: &mut Prng) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

fn normal(rng: &mut Prng) -> f64 {
    let (u, v) = (uniform(rng), uniform(rng));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

struct Data {
    x: Vec<Vec<f64>>,
    t: Vec<bool>,
    y: Vec<f64>,
    names: Vec<String>,
}

impl Data {
    fn units(&self) -> Units<'_> {
        Units {
            covariates: &self.x,
            names: &self.names,
            treated: &self.t,
            outcome: &self.y,
        }
    }
}

/// Confounded: x1 raises both the chance of treatment and the outcome.
fn draw(seed: u64, n: usize) -> Data {
    let mut rng = Prng::seed_from_u64(seed);
    let (mut x, mut t, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let (x1, x2) = (normal(&mut rng), normal(&mut rng));
        let treated = uniform(&mut rng) < 1.0 / (1.0 + (-(0.8 * x1 - 0.4 * x2)).exp());
        y.push(1.0 + 1.5 * x1 + 0.5 * x2 + if treated { EFFECT } else { 0.0 } + normal(&mut rng));
        x.push(vec![x1, x2]);
        t.push(treated);
    }
    Data {
        x,
        t,
        y,
        names: vec!["x1".into(), "x2".into()],
    }
}

#[test]
fn the_placebo_treatment_finds_no_effect_across_seeds() {
    let options = ObservationalOptions::default();
    let runs = 40;
    let (mut held, mut z_sum) = (0, 0.0);
    for seed in 0..runs {
        let data = draw(1000 + seed, 400);
        let real = estimate(data.units(), options).expect("estimate");
        // The real effect is found: the placebo covering zero is not the estimator's blindness.
        assert!(!real.aipw.covers(0.0), "seed {seed}: {:?}", real.aipw);
        let p = placebo(data.units(), options, seed);
        assert_eq!(p.kind, RefutationKind::PlaceboTreatment);
        let e = p.estimate.expect("placebo estimated");
        assert_eq!(p.held, e.covers(0.0));
        held += usize::from(p.held);
        z_sum += e.effect / e.se;
    }
    // 95% intervals: about 38 of 40 cover zero; 33 or fewer would be a 1-in-1000 event.
    assert!(held >= 34, "placebo held in {held} of {runs}");
    let mean_z = z_sum / runs as f64;
    assert!(
        mean_z.abs() < 0.6,
        "placebo effects centred at {mean_z} SEs"
    );
}

#[test]
fn a_random_common_cause_and_a_subset_leave_the_estimate_in_place() {
    let options = ObservationalOptions::default();
    let (mut worst, mut total): (f64, f64) = (0.0, 0.0);
    for seed in 0..20 {
        let data = draw(2000 + seed, 400);
        let real = estimate(data.units(), options).expect("estimate");
        let c = common_cause(data.units(), options, &real, seed);
        let e = c.estimate.expect("estimated");
        let moved = (e.effect - real.aipw.effect).abs() / real.aipw.se;
        worst = worst.max(moved);
        total += moved;
        assert!(
            c.held,
            "seed {seed}: common cause moved {:?} -> {e:?}",
            real.aipw
        );
        let s = subset(data.units(), options, &real, seed);
        let e = s.estimate.expect("estimated");
        assert!(s.held, "seed {seed}: subset {e:?} outside {:?}", real.aipw);
        assert!(
            e.effect != real.aipw.effect,
            "the subset is a different data set"
        );
    }
    assert!(worst <= COMMON_CAUSE_TOLERANCE_SE, "worst move {worst} SE");
    // An independent covariate moves the estimate by about SE/√n times a product of two
    // standard normals: a few hundredths of an SE at n = 400, on average.
    let mean = total / 20.0;
    assert!(mean < 0.1, "mean move {mean} SE (worst {worst})");
}

#[test]
fn the_checks_are_deterministic_for_a_seed_and_change_with_it() {
    let options = ObservationalOptions::default();
    let data = draw(7, 300);
    let real = estimate(data.units(), options).expect("estimate");
    let a = refute(data.units(), options, &real, 11);
    let b = refute(data.units(), options, &real, 11);
    assert_eq!(a, b);
    let kinds: Vec<RefutationKind> = a.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            RefutationKind::PlaceboTreatment,
            RefutationKind::RandomCommonCause,
            RefutationKind::RandomSubset
        ]
    );
    let c = refute(data.units(), options, &real, 12);
    assert_ne!(a[0].estimate, c[0].estimate);
}

#[test]
fn a_check_the_estimator_refuses_says_why_and_does_not_hold() {
    // Three treated units fit the treated arm's outcome model on two covariates (three
    // parameters), not on three: the common-cause check's extra covariate is one too many.
    let mut data = draw(9, 60);
    for (i, t) in data.t.iter_mut().enumerate() {
        *t = i % 20 == 0;
    }
    let options = ObservationalOptions::default();
    let real = estimate(data.units(), options).unwrap_or_else(|e| panic!("{e}"));
    let checks = refute(data.units(), options, &real, 3);
    let c = &checks[1];
    assert_eq!(c.kind, RefutationKind::RandomCommonCause);
    assert!(!c.held);
    assert!(c.estimate.is_none());
    let why = c.refused.as_deref().unwrap_or_default();
    assert!(why.contains("outcome model"), "{why}");
}
