//! The shop's known coefficients recovered: shoppers with randomised offers, a plain
//! (unpenalised) Newton logistic fit on the shop's own log-odds design, each estimate within
//! 4 standard errors of the constant it estimates; and `true_rates` read back from a stored
//! context is the shop's own probability.

use super::response::{COUPON_LIFT, DISCOUNT_LIFT};
use super::*;
use crate::model::logistic::{fit_newton, Rows};

const PCTS: [f64; 4] = [5.0, 10.0, 20.0, 30.0];

/// The shop's log-odds design of one shopper under one offer (the intercept is the fit's
/// bias: eu, tablet, a new shopper, no offer).
fn design(s: &Shopper, offer: &Offer) -> Vec<f64> {
    let ind = |b: bool| f64::from(u8::from(b));
    let new = s.segment == Segment::New;
    let (coupon, discount) = match *offer {
        Offer::Coupon { pct } => ((pct / 5.0).ln_1p(), 0.0),
        Offer::Discount { pct } => (0.0, (pct / 5.0).ln_1p()),
        _ => (0.0, 0.0),
    };
    vec![
        ind(!new),
        ind(s.device == Device::Desktop),
        ind(s.device == Device::Mobile),
        ind(s.region == "na"),
        ind(s.region == "apac"),
        ind(s.region == "latam"),
        (1.0 + s.recency_days / 30.0).ln(),
        f64::from(s.frequency).ln_1p(),
        (s.pre_value / 25.0).ln_1p(),
        ind(new) * coupon,
        ind(!new) * coupon,
        ind(new) * discount,
        ind(!new) * discount,
    ]
}

/// The constants of `design`'s columns, then the intercept's.
fn known() -> Vec<f64> {
    let shift = |name: &str| REGIONS.iter().find(|r| r.0 == name).map_or(0.0, |r| r.2);
    let eu = shift("eu");
    vec![
        RETURNING,
        DESKTOP,
        MOBILE,
        shift("na") - eu,
        shift("apac") - eu,
        shift("latam") - eu,
        RECENCY,
        FREQUENCY,
        PRE_VALUE,
        COUPON_LIFT.0,
        COUPON_LIFT.1,
        DISCOUNT_LIFT.0,
        DISCOUNT_LIFT.1,
        INTERCEPT + eu,
    ]
}

/// Diagonal of the inverse of a symmetric positive-definite k x k matrix (Gauss-Jordan).
fn inverse_diagonal(mut a: Vec<f64>, k: usize) -> Vec<f64> {
    let mut inv: Vec<f64> = (0..k * k)
        .map(|i| f64::from(u8::from(i / k == i % k)))
        .collect();
    for c in 0..k {
        let pivot = a[c * k + c];
        assert!(pivot > 0.0, "information matrix is singular");
        for j in 0..k {
            a[c * k + j] /= pivot;
            inv[c * k + j] /= pivot;
        }
        for r in (0..k).filter(|&r| r != c) {
            let f = a[r * k + c];
            for j in 0..k {
                a[r * k + j] -= f * a[c * k + j];
                inv[r * k + j] -= f * inv[c * k + j];
            }
        }
    }
    (0..k).map(|i| inv[i * k + i]).collect()
}

#[test]
fn newton_on_the_shops_design_recovers_its_constants() {
    let mut shop = Shop::new(2026);
    let mut offers = Prng::seed_from_u64(7);
    let n = 40_000;
    let d = design(&shop.next_shopper(), &Offer::None).len();
    let (mut x, mut y) = (Rows::new(d), Vec::with_capacity(n));
    for _ in 0..n {
        let s = shop.next_shopper();
        let pct = PCTS[offers.random_range(0..PCTS.len())];
        let offer = match offers.random_range(0..3) {
            0 => Offer::None,
            1 => Offer::Coupon { pct },
            _ => Offer::Discount { pct },
        };
        let bought = shop
            .visit(&s, &offer)
            .iter()
            .any(|e| e.kind == StandardKind::Purchase);
        x.push(&design(&s, &offer));
        y.push(f64::from(u8::from(bought)));
    }
    let fit = fit_newton(&x, &y, 0.0, 100).expect("Newton converges");
    let mut estimate = fit.weights.clone();
    estimate.push(fit.bias);
    // Standard errors from the inverse Fisher information Σ p(1-p) x̃x̃ᵀ at the estimate.
    let k = d + 1;
    let mut info = vec![0.0; k * k];
    for i in 0..n {
        let mut row = x.row(i).to_vec();
        row.push(1.0);
        let p = fit.predict(x.row(i));
        for a in 0..k {
            for b in 0..k {
                info[a * k + b] += p * (1.0 - p) * row[a] * row[b];
            }
        }
    }
    let se: Vec<f64> = inverse_diagonal(info, k)
        .into_iter()
        .map(f64::sqrt)
        .collect();
    for (j, ((est, truth), se)) in estimate.iter().zip(known()).zip(&se).enumerate() {
        assert!(
            (est - truth).abs() <= 4.0 * se,
            "coefficient {j}: estimate {est:.4}, known {truth:.4}, se {se:.4}"
        );
        // Sized so the check means something: no standard error is wide enough to pass
        // anything.
        assert!(*se < 0.25, "coefficient {j}: se {se:.4}");
    }
}

#[test]
fn true_rates_of_a_stored_context_are_the_shops_own() {
    let mut shop = Shop::new(5);
    for _ in 0..300 {
        let s = shop.next_shopper();
        // Round-tripped through JSON text, as the store keeps it.
        let stored: serde_json::Map<String, Value> =
            serde_json::from_str(&Value::Object(s.context()).to_string()).expect("json");
        for offer in [
            Offer::None,
            Offer::Coupon { pct: 10.0 },
            Offer::Recommend { items: 4 },
        ] {
            let e = expectation(&s, &offer);
            let r = true_rates(&stored, &offer).expect("a shopper");
            assert_eq!((r.purchase, r.click), (e.purchase, e.click));
        }
    }
    let mut other = Shop::new(5).next_shopper().context();
    other.remove("pre_value");
    assert!(true_rates(&other, &Offer::None).is_none());
}
