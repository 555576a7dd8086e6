//! Properties of the simulator: determinism per seed, samples converging to the closed-form
//! truth, and the effects the demo and CUPED rely on.

use super::*;

/// Per unit: purchased (0/1), revenue, cost, pre_value.
fn simulate(seed: u64, offer: &Offer, n: usize) -> Vec<[f64; 4]> {
    let mut shop = Shop::new(seed);
    let mut unit = |_| {
        let s = shop.next_shopper();
        let ev = shop.visit(&s, offer);
        let bought = ev.iter().any(|e| e.kind == StandardKind::Purchase);
        let revenue = ev.iter().map(|e| e.value).sum();
        let cost = ev.iter().map(|e| e.cost).sum();
        [f64::from(u8::from(bought)), revenue, cost, s.pre_value]
    };
    (0..n).map(&mut unit).collect()
}

fn column(rows: &[[f64; 4]], j: usize) -> Vec<f64> {
    rows.iter().map(|r| r[j]).collect()
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

fn threshold(min_spend: f64, amount_off: f64) -> Offer {
    Offer::SpendThreshold {
        min_spend,
        amount_off,
    }
}

#[test]
fn same_seed_same_traffic_and_population_ignores_offers() {
    let run = |seed, offer: &Offer| {
        let mut shop = Shop::new(seed);
        let mut unit = |_| {
            let s = shop.next_shopper();
            let ev = shop.visit(&s, offer);
            (s, ev)
        };
        (0..2_000).map(&mut unit).collect::<Vec<_>>()
    };
    let coupon = Offer::Coupon { pct: 10.0 };
    let a = run(11, &coupon);
    assert_eq!(a, run(11, &coupon));
    assert_ne!(a, run(12, &coupon));
    assert_eq!(
        (a[0].0.unit.as_str(), a[1999].0.unit.as_str()),
        ("u-1", "u-2000")
    );
    let b = run(11, &Offer::Discount { pct: 20.0 });
    assert!(a.iter().zip(&b).all(|(x, y)| x.0 == y.0));
}

#[test]
fn visits_converge_to_truth_and_no_offer_costs_nothing() {
    // Arms sharing `n` share one truth pass: `arm_truth` and `simulate` see the same shoppers.
    let groups = [
        (vec![Offer::None, Offer::Coupon { pct: 10.0 }], 200_000),
        (
            vec![
                Offer::Discount { pct: 15.0 },
                threshold(60.0, 10.0),
                Offer::Recommend { items: 4 },
            ],
            30_000,
        ),
    ];
    let cases = groups.iter().flat_map(|(offers, n)| {
        let truths = arm_truth(5, offers, *n);
        offers.iter().zip(truths).map(move |(o, t)| (o, t, *n))
    });
    for (offer, truth, n) in cases {
        let rows = simulate(5, offer, n);
        if matches!(offer, Offer::None | Offer::Recommend { .. }) {
            assert!(rows.iter().all(|r| r[2] == 0.0) && truth.cost_per_unit == 0.0);
        }
        let want = [
            truth.conversion_rate,
            truth.revenue_per_unit,
            truth.cost_per_unit,
        ];
        for (j, want) in want.into_iter().enumerate() {
            let (m, var) = mean_var(&column(&rows, j));
            let se = (var / n as f64).sqrt();
            assert!(
                (m - want).abs() <= 4.0 * se + 1e-9,
                "{offer:?} column {j}: simulated {m} (se {se}) vs truth {want}"
            );
        }
    }
}

#[test]
fn coupon_lifts_conversion_more_for_new_shoppers() {
    let mut shop = Shop::new(3);
    let (mut lift, mut count) = ([0.0; 2], [0.0; 2]);
    for _ in 0..50_000 {
        let s = shop.next_shopper();
        let base = expectation(&s, &Offer::None).purchase;
        let with = expectation(&s, &Offer::Coupon { pct: 10.0 }).purchase;
        let k = usize::from(s.segment == Segment::Returning);
        lift[k] += with - base;
        count[k] += 1.0;
    }
    let (new, returning) = (lift[0] / count[0], lift[1] / count[1]);
    assert!(returning > 0.0, "returning uplift {returning}");
    assert!(new > 1.5 * returning, "new {new} vs returning {returning}");
    let t = arm_truth(3, &[Offer::None, Offer::Coupon { pct: 10.0 }], 50_000);
    assert!(t[1].conversion_rate > t[0].conversion_rate);
}

#[test]
fn pre_value_predicts_revenue() {
    let rows = simulate(21, &Offer::None, 200_000);
    let (pre, revenue) = (column(&rows, 3), column(&rows, 1));
    let ((mx, vx), (my, vy)) = (mean_var(&pre), mean_var(&revenue));
    let cov = pre.iter().zip(&revenue).map(|(x, y)| (x - mx) * (y - my));
    let r = cov.sum::<f64>() / (pre.len() as f64 - 1.0) / (vx * vy).sqrt();
    assert!(r > 0.3, "corr(pre_value, revenue) = {r}");
}

#[test]
fn everything_finite_funnel_nested_events_ordered() {
    let offers = [
        Offer::None,
        Offer::Coupon { pct: 0.0 },
        Offer::Coupon { pct: 150.0 },
        Offer::Discount { pct: 100.0 },
        Offer::Discount { pct: f64::NAN },
        threshold(0.0, 0.0),
        threshold(5.0, 20.0),
        threshold(f64::INFINITY, -3.0),
        Offer::Recommend { items: 0 },
        Offer::Recommend { items: u32::MAX },
    ];
    let mut shop = Shop::new(1);
    for _ in 0..3_000 {
        let s = shop.next_shopper();
        assert_eq!(s.context().len(), 7);
        assert!(s.context().values().all(|v| !v.is_null()));
        for offer in &offers {
            let e = expectation(&s, offer);
            let all = [e.click, e.add_to_cart, e.purchase, e.revenue, e.cost];
            assert!(all.iter().all(|x| x.is_finite() && *x >= 0.0), "{e:?}");
            assert!(e.purchase <= e.add_to_cart && e.add_to_cart <= e.click && e.click <= 1.0);
            let ev = shop.visit(&s, offer);
            assert!(ev.windows(2).all(|w| w[0].delay_secs < w[1].delay_secs));
            for (got, want) in ev.iter().zip(StandardKind::ALL) {
                assert_eq!(got.kind, want);
                assert!(got.value.is_finite() && got.value >= 0.0);
                assert!(got.cost.is_finite() && got.cost >= 0.0);
            }
        }
    }
    let t = arm_truth(1, &offers, 100);
    assert!(t
        .iter()
        .all(|a| a.revenue_per_unit.is_finite() && a.click_rate > 0.0));
    assert!(arm_truth(1, &offers, 0)
        .iter()
        .all(|a| a.conversion_rate == 0.0));
}
