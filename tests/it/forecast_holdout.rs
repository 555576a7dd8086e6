//! Holdout sizing (`forecast::holdout`): power, holdout needed, total for a share and
//! assurance against scipy/statsmodels (`fixtures/golden/holdout.json`), the warnings, and a
//! seeded simulation of experiments at the computed size.

use liftdeck::forecast::holdout::{
    assurance, control_needed, max_power, power_arcsine, power_wald, review, total_needed,
    HoldoutError, HoldoutPlan, HoldoutWarning,
};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = format!(
        "{}/fixtures/golden/holdout.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    doc["cases"].as_array().cloned().expect("cases")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn plan_of(c: &Value) -> HoldoutPlan {
    HoldoutPlan {
        treated_rate: f(&c["treated_rate"]),
        lift: f(&c["lift"]),
        lift_sd: f(&c["lift_sd"]),
        alpha: f(&c["alpha"]),
        power: f(&c["power"]),
    }
}

fn near(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(1e-3)
}

#[test]
fn power_holdout_and_assurance_match_scipy_and_statsmodels() {
    let all = cases();
    assert!(all.len() >= 6);
    for c in &all {
        let plan = plan_of(c);
        let (nt, nc) = (f(&c["n_t"]), f(&c["n_c"]));
        let pc = plan.treated_rate - plan.lift;
        let p = power_wald(plan.treated_rate, pc, nt, nc, plan.alpha);
        assert!(near(p, f(&c["power_wald"]), 1e-9), "{c}: power {p}");
        let arc = power_arcsine(plan.treated_rate, pc, nt, nc, plan.alpha);
        assert!(
            near(arc, f(&c["power_arcsine_statsmodels"]), 1e-9),
            "{c}: arcsine {arc}"
        );
        let cap = max_power(&plan, nt).expect("max power");
        assert!(near(cap, f(&c["max_power"]), 1e-9), "{c}: cap {cap}");
        match (control_needed(&plan, nt), c["control_needed"].as_f64()) {
            (Ok(n), Some(want)) => assert_eq!(n, want, "{c}"),
            (Err(HoldoutError::Unreachable { max_power, .. }), None) => {
                assert!(near(max_power, cap, 1e-12))
            }
            (got, want) => panic!("{c}: got {got:?}, want {want:?}"),
        }
        let share = f(&c["holdout_share"]);
        let (total, held) = total_needed(&plan, share).expect("total");
        assert_eq!(total, f(&c["total_needed"]), "{c}");
        assert_eq!(held, (share * total).ceil());
        let a = assurance(&plan, nt, nc).expect("assurance");
        assert!(near(a, f(&c["assurance"]), 1e-8), "{c}: assurance {a}");
    }
}

fn plan() -> HoldoutPlan {
    HoldoutPlan {
        treated_rate: 0.12,
        lift: 0.03,
        lift_sd: 0.01,
        alpha: 0.05,
        power: 0.8,
    }
}

#[test]
fn the_warnings_name_a_hopeless_treated_arm_and_a_small_holdout() {
    let tiny = HoldoutPlan {
        treated_rate: 0.05,
        lift: 0.01,
        lift_sd: 0.005,
        ..plan()
    };
    let r = review(&tiny, 200.0, 10_000.0).expect("review");
    assert_eq!(r.control_needed, None);
    assert!(matches!(r.warnings[0], HoldoutWarning::Unreachable { .. }));
    assert!(r.warnings[0].to_string().contains("too few treated units"));
    let err = control_needed(&tiny, 200.0).expect_err("unreachable");
    assert!(
        err.to_string().contains("even an unlimited holdout"),
        "{err}"
    );

    let small = review(&plan(), 3000.0, 150.0).expect("review");
    assert!(small.assurance < 0.5);
    assert_eq!(
        small.warnings,
        vec![HoldoutWarning::LowAssurance {
            assurance: small.assurance
        }]
    );
    assert!(small.warnings[0].to_string().contains("too small to tell"));
    let ample = review(&plan(), 3000.0, 3000.0).expect("review");
    assert!(ample.warnings.is_empty() && ample.assurance > 0.5);
    // Uncertainty about the lift pulls the assurance below the point power.
    assert!(ample.assurance < ample.power_at_point);
}

#[test]
fn bad_plans_are_refused_with_the_reason() {
    let bad = |p: HoldoutPlan| control_needed(&p, 1000.0).expect_err("refused");
    assert!(matches!(
        bad(HoldoutPlan {
            treated_rate: 1.2,
            ..plan()
        }),
        HoldoutError::TreatedRate(_)
    ));
    assert!(matches!(
        bad(HoldoutPlan {
            lift: 0.5,
            ..plan()
        }),
        HoldoutError::ControlRate(_)
    ));
    assert_eq!(
        bad(HoldoutPlan {
            lift: 0.0,
            ..plan()
        }),
        HoldoutError::NoLift
    );
    assert!(matches!(
        bad(HoldoutPlan {
            power: 1.0,
            ..plan()
        }),
        HoldoutError::Levels { .. }
    ));
    assert!(matches!(
        bad(HoldoutPlan {
            lift_sd: f64::NAN,
            ..plan()
        }),
        HoldoutError::Spread(_)
    ));
    assert!(matches!(
        total_needed(&plan(), 0.0),
        Err(HoldoutError::Share(_))
    ));
    assert!(matches!(
        assurance(&plan(), 0.0, 10.0),
        Err(HoldoutError::Units { .. })
    ));
}

fn conversions(rng: &mut Prng, n: u64, p: f64) -> f64 {
    (0..n).filter(|_| rng.random::<f64>() < p).count() as f64
}

#[test]
fn experiments_at_the_computed_holdout_reach_the_planned_power() {
    let p = plan();
    let n_t = 3000.0;
    let n_c = control_needed(&p, n_t).expect("holdout");
    let (pt, pc) = (p.treated_rate, p.treated_rate - p.lift);
    let mut rng = Prng::seed_from_u64(8);
    let runs = 2000;
    let mut significant = 0;
    for _ in 0..runs {
        let yt = conversions(&mut rng, n_t as u64, pt) / n_t;
        let yc = conversions(&mut rng, n_c as u64, pc) / n_c;
        let se = (yt * (1.0 - yt) / n_t + yc * (1.0 - yc) / n_c).sqrt();
        if se > 0.0 && ((yt - yc) / se).abs() > 1.959_963_984_540_054 {
            significant += 1;
        }
    }
    let empirical = significant as f64 / runs as f64;
    assert!(
        (empirical - 0.8).abs() <= 0.03,
        "power {empirical} at n_c {n_c}"
    );
}
