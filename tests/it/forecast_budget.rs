//! Budget-constrained targeting (`forecast::budget`): the exact optimum of small cases from
//! scipy.optimize.milp (fixtures/golden/budget_mckp.json, made by budget_mckp.py), properties
//! on seeded random tables, and the simulated shop against the two baselines.

use liftdeck::forecast::budget::{
    exact, shop, solve_lagrangian, top_by_propensity, top_by_uplift, BudgetError, CostCurve,
    Targeting,
};
use proptest::prelude::*;

/// value / optimum, 1 when both are 0 (a budget too small for any offer worth giving)
fn ratio_to(value: f64, optimum: f64) -> f64 {
    if optimum.abs() < 1e-12 {
        if value >= -1e-12 {
            1.0
        } else {
            0.0
        }
    } else {
        value / optimum
    }
}

fn table(users: usize, offers: usize, rows: &[(f64, f64)]) -> Targeting {
    let value = rows.iter().map(|r| r.0).collect();
    let cost = rows.iter().map(|r| r.1).collect();
    Targeting::new(users, offers, value, cost).expect("valid table")
}

#[test]
fn reaches_98_percent_of_the_exact_optimum_and_sits_within_one_user_of_the_lp_bound() {
    let text = std::fs::read_to_string("fixtures/golden/budget_mckp.json").expect("golden");
    let golden: serde_json::Value = serde_json::from_str(&text).expect("json");
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 5);
    let mut worst = f64::INFINITY;
    let mut heuristic_worst = f64::INFINITY;
    let mut plain_worst = f64::INFINITY;
    let mut below = 0;
    for case in cases {
        let users = case["users"].as_u64().expect("users") as usize;
        let offers = case["offers"].as_u64().expect("offers") as usize;
        let flat = |key: &str| -> Vec<f64> {
            case[key]
                .as_array()
                .expect("rows")
                .iter()
                .flat_map(|r| {
                    r.as_array()
                        .expect("row")
                        .iter()
                        .map(|x| x.as_f64().expect("num"))
                })
                .collect()
        };
        let t = Targeting::new(users, offers, flat("value"), flat("cost")).expect("table");
        let curve = CostCurve::build(&t);
        let most_one_user = (0..users)
            .map(|i| (0..offers).map(|k| t.value(i, k)).fold(0.0, f64::max))
            .fold(0.0, f64::max);
        for (j, b) in case["budgets"]
            .as_array()
            .expect("budgets")
            .iter()
            .enumerate()
        {
            let budget = b.as_f64().expect("budget");
            let optimum = case["optimum"][j].as_f64().expect("optimum");
            let lp = case["lp_bound"][j].as_f64().expect("lp");
            let plain = curve.allocate(budget).expect("allocate");
            let refined = curve.allocate_refined(&t, budget).expect("refined");
            assert!(refined.value >= plain.value - 1e-12);
            let (rs, rv) = t.totals(&refined.choice);
            assert!(rs <= budget + 1e-12 && (rv - refined.value).abs() < 1e-9);
            let ours = curve.allocate_best(&t, budget).expect("best");
            assert!(ours.value >= refined.value - 1e-12);
            let exact =
                exact::solve_exact(&curve, &t, budget, &plain, exact::NODE_LIMIT).expect("exact");
            assert!(exact.proven, "node limit at {users}x{offers}");
            assert!(
                (exact.allocation.value - optimum).abs() < 1e-6,
                "branch and bound {} vs milp {optimum}",
                exact.allocation.value
            );
            heuristic_worst = heuristic_worst.min(ratio_to(refined.value, optimum));
            plain_worst = plain_worst.min(ratio_to(plain.value, optimum));
            assert!(
                plain.value >= lp - most_one_user - 1e-9,
                "more than one user below the LP bound"
            );
            let (spend, value) = t.totals(&ours.choice);
            assert!(spend <= budget + 1e-12, "over budget: {spend} > {budget}");
            assert!((value - ours.value).abs() < 1e-9 && (spend - ours.spend).abs() < 1e-9);
            // our LP bound is scipy's linprog's
            assert!(
                (curve.lp_bound(budget) - lp).abs() < 1e-6,
                "lp {} vs {lp}",
                curve.lp_bound(budget)
            );
            assert!(value <= optimum + 1e-9 && optimum <= lp + 1e-9);
            let ratio = ratio_to(value, optimum);
            eprintln!("{users}x{offers} at {budget}: ratio {ratio:.4}");
            below += usize::from(ratio < 0.98);
            worst = worst.min(ratio);
            let lag = solve_lagrangian(&curve, &t, budget).expect("lagrangian");
            assert_eq!(
                lag.choice, plain.choice,
                "the Lagrangian and the path disagree"
            );
        }
    }
    eprintln!(
        "worst ratio to the exact optimum: {worst:.5} (allocate_refined alone \
         {heuristic_worst:.5}, allocate {plain_worst:.5}); {below} budgets below 98%"
    );
    // the issue: at least 98% of the exact optimum on every case
    assert_eq!(below, 0, "worst ratio {worst:.5}");
}

#[test]
fn dominated_offers_are_never_chosen_and_a_shallow_offer_can_win() {
    // user 0: offer 2 costs more than offer 1 and brings less; user 1: offer 1 lies under the
    // chord from none to offer 2, so it is off the hull
    let t = table(
        2,
        3,
        &[
            (0.0, 0.0),
            (5.0, 1.0),
            (4.0, 2.0),
            (0.0, 0.0),
            (1.0, 1.0),
            (4.0, 2.0),
        ],
    );
    let curve = CostCurve::build(&t);
    assert_eq!(curve.points().len(), 3);
    let all = curve.allocate(10.0).expect("allocate");
    assert_eq!(all.choice, vec![1, 2]);
    assert_eq!((all.spend, all.value), (3.0, 9.0));
    let tight = curve.allocate(1.5).expect("allocate");
    assert_eq!(tight.choice, vec![1, 0]);
    assert_eq!(tight.boundary_user, Some(1));
}

#[test]
fn bad_tables_and_budgets_are_refused_with_reasons() {
    let err = Targeting::new(1, 2, vec![1.0, 2.0], vec![0.0, 1.0]).expect_err("offer 0");
    assert!(matches!(err, BudgetError::NoOfferNotZero { user: 0, .. }));
    let err = Targeting::new(1, 2, vec![0.0, 2.0], vec![0.0, -1.0]).expect_err("negative");
    assert!(err.to_string().contains("must be >= 0"));
    assert!(matches!(
        Targeting::new(2, 2, vec![0.0; 3], vec![0.0; 4]),
        Err(BudgetError::Shape { .. })
    ));
    let t = table(1, 2, &[(0.0, 0.0), (1.0, 1.0)]);
    let curve = CostCurve::build(&t);
    assert!(matches!(
        curve.allocate(-1.0),
        Err(BudgetError::BadBudget(_))
    ));
    assert!(matches!(
        curve.allocate(f64::NAN),
        Err(BudgetError::BadBudget(_))
    ));
    assert!(matches!(
        top_by_uplift(&t, 2, 1.0),
        Err(BudgetError::NoSuchOffer { .. })
    ));
    assert!(matches!(
        top_by_propensity(&t, &[], 1, 1.0),
        Err(BudgetError::Propensity { .. })
    ));
}

fn arb_table() -> impl Strategy<Value = Targeting> {
    arb_table_of(1..12)
}

fn arb_table_of(users: std::ops::Range<usize>) -> impl Strategy<Value = Targeting> {
    (users, 1usize..5).prop_flat_map(|(n, k)| {
        proptest::collection::vec((-2.0f64..6.0, 0.0f64..4.0), n * k).prop_map(move |cells| {
            let mut value = Vec::with_capacity(n * k);
            let mut cost = Vec::with_capacity(n * k);
            for (j, (v, c)) in cells.into_iter().enumerate() {
                let none = j % k == 0;
                // some zero-cost offers and exact ties, the awkward cases
                let c = if c < 0.3 {
                    0.0
                } else {
                    (c * 4.0).round() / 4.0
                };
                value.push(if none { 0.0 } else { v });
                cost.push(if none { 0.0 } else { c });
            }
            Targeting::new(n, k, value, cost).expect("valid")
        })
    })
}

proptest! {
    #[test]
    fn never_over_budget_monotone_and_the_curve_is_what_allocate_returns(
        t in arb_table(),
        budgets in proptest::collection::vec(0.0f64..30.0, 1..8),
    ) {
        let curve = CostCurve::build(&t);
        let mut budgets = budgets;
        budgets.sort_by(f64::total_cmp);
        let mut last = 0.0;
        for &b in &budgets {
            let a = curve.allocate(b).expect("allocate");
            let (spend, value) = t.totals(&a.choice);
            prop_assert!(spend <= b + 1e-9);
            prop_assert!((value - a.value).abs() < 1e-9);
            prop_assert!(a.value >= last - 1e-9, "value fell from {} to {} at {}", last, a.value, b);
            prop_assert!(a.value <= curve.lp_bound(b) + 1e-9);
            last = a.value;
            let lag = solve_lagrangian(&curve, &t, b).expect("lagrangian");
            prop_assert!((lag.value - a.value).abs() < 1e-9);
        }
        // at a spend shared by several points (free upgrades) allocate gives the last
        for w in curve.points().windows(2).filter(|w| w[1].spend > w[0].spend) {
            let p = &w[0];
            let a = curve.allocate(p.spend).expect("allocate");
            prop_assert!((a.spend - p.spend).abs() <= 1e-12 * (1.0 + p.spend));
            prop_assert!((a.value - p.value).abs() <= 1e-12 * (1.0 + p.value));
        }
        // the curve is concave: efficiencies never rise
        for w in curve.points().windows(3) {
            let (d1c, d1v) = (w[1].spend - w[0].spend, w[1].value - w[0].value);
            let (d2c, d2v) = (w[2].spend - w[1].spend, w[2].value - w[1].value);
            prop_assert!(d2v * d1c <= d1v * d2c + 1e-9);
        }
    }
}

fn brute_force(t: &Targeting, budget: f64) -> f64 {
    let (n, k) = (t.users(), t.offers());
    let mut pick = vec![0u32; n];
    let mut best = 0.0_f64;
    loop {
        let (spend, value) = t.totals(&pick);
        if spend <= budget {
            best = best.max(value);
        }
        let mut i = 0;
        while i < n && pick[i] as usize + 1 == k {
            pick[i] = 0;
            i += 1;
        }
        if i == n {
            return best;
        }
        pick[i] += 1;
    }
}

proptest! {
    #[test]
    fn allocate_best_is_the_brute_force_optimum_on_small_tables(
        t in arb_table_of(1..7),
        budget in 0.0f64..20.0,
    ) {
        let curve = CostCurve::build(&t);
        let best = curve.allocate_best(&t, budget).expect("best");
        let (spend, value) = t.totals(&best.choice);
        prop_assert!(spend <= budget);
        prop_assert!((value - best.value).abs() < 1e-9);
        let refined = curve.allocate_refined(&t, budget).expect("refined");
        prop_assert!(refined.value <= best.value + 1e-12);
        prop_assert!((best.value - brute_force(&t, budget)).abs() < 1e-9);
    }
}

#[test]
fn beats_both_baselines_on_a_simulated_shop_with_heterogeneous_effects() {
    let shop = shop::simulate(4000, 7).expect("shop");
    let t = &shop.targeting;
    let deepest = t.offers() - 1;
    // the deepest offer is not everyone's best: many users prefer a shallower one or none
    let shallower = (0..t.users())
        .filter(|&i| (1..deepest).any(|k| t.value(i, k) > t.value(i, deepest)))
        .count();
    assert!(
        shallower > t.users() / 5,
        "only {shallower} users prefer a shallower offer"
    );
    let curve = CostCurve::build(t);
    let full: f64 = curve.points().last().map_or(0.0, |p| p.spend);
    for frac in [0.05, 0.15, 0.3, 0.6] {
        let budget = frac * full;
        let ours = curve.allocate(budget).expect("ours");
        let uplift = top_by_uplift(t, deepest, budget).expect("uplift");
        let propensity = top_by_propensity(t, &shop.propensity, deepest, budget).expect("prop");
        for base in [&uplift, &propensity] {
            assert!(base.spend <= budget);
            assert!(
                ours.value > base.value,
                "at {budget:.0}: ours {} vs baseline {}",
                ours.value,
                base.value
            );
        }
        eprintln!(
            "budget {budget:.0}: ours {:.0}, top-N by uplift {:.0}, top-N by propensity {:.0}",
            ours.value, uplift.value, propensity.value
        );
    }
}

#[test]
fn the_benchmarks_table_lagrangian_fits_and_the_path_is_never_below_it() {
    // `liftdeck bench budget` times this beside numpy; it must fit the budget and the path
    // (which spends the rest) must reach at least its objective
    let shop = shop::simulate_discounts(3000, &[0.05, 0.1, 0.2, 0.3], 3).expect("shop");
    let t = &shop.targeting;
    let curve = CostCurve::build(t);
    let full = curve.points().last().map_or(0.0, |p| p.spend);
    for share in [0.1, 0.3, 0.7] {
        let budget = share * full;
        let (lambda, spend, value) = liftdeck::app::bench::lagrangian_table(t, budget, 50);
        assert!(lambda > 0.0 && spend <= budget);
        let ours = curve.allocate(budget).expect("allocate");
        assert!(ours.value >= value - 1e-9, "{} < {value}", ours.value);
        assert!(ours.value <= curve.lp_bound(budget) + 1e-9);
    }
}
