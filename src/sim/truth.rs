//! Ground truth in closed form: exact expectations for one shopper under an offer, and their
//! population averages per arm, so estimators are checked against the truth rather than
//! against each other.

use super::response::{Basket, Response, Terms, THRESHOLD_REACH, TOP_UP_OVERSHOOT};
use super::{Shop, Shopper};
use crate::domain::Offer;

/// Exact expectations for one shopper under an offer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    pub click: f64,
    pub add_to_cart: f64,
    pub purchase: f64,
    /// Expected revenue after discounts, per exposed shopper.
    pub revenue: f64,
    /// Expected cost of the offer to the shop, per exposed shopper.
    pub cost: f64,
}

/// Population averages of `expectation` for one arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmTruth {
    pub conversion_rate: f64,
    pub click_rate: f64,
    pub revenue_per_unit: f64,
    pub cost_per_unit: f64,
}

/// Exact expectations for one shopper under an offer (no randomness).
pub fn expectation(shopper: &Shopper, offer: &Offer) -> Expectation {
    let r = Response::of(shopper, offer);
    let b = Basket { scale: r.scale };
    let (revenue, cost) = match r.terms {
        Terms::Plain => (b.mean(), 0.0),
        Terms::Share { off, taken } => (b.mean() * (1.0 - taken * off), b.mean() * taken * off),
        Terms::Threshold { spend, off, top_up } => {
            let (p_reach, m_reach) = b.below(THRESHOLD_REACH * spend);
            let (p_spend, m_spend) = b.below(spend);
            let topped = top_up * (p_spend - p_reach);
            let revenue = m_reach
                + (1.0 - top_up) * (m_spend - m_reach)
                + topped * (TOP_UP_OVERSHOOT * spend - off)
                + (b.mean() - m_spend)
                - off * (1.0 - p_spend);
            (revenue, off * (1.0 - p_spend + topped))
        }
    };
    Expectation {
        click: r.click,
        add_to_cart: r.cart,
        purchase: r.purchase,
        revenue: r.purchase * revenue,
        cost: r.purchase * cost,
    }
}

/// Ground truth per arm: population averages of `expectation` over the first `n` shoppers of
/// `Shop::new(seed)` (the same shoppers a simulation with that seed sees).
pub fn arm_truth(seed: u64, offers: &[Offer], n: usize) -> Vec<ArmTruth> {
    let mut shop = Shop::new(seed);
    let mut sums = vec![[0.0; 4]; offers.len()];
    for _ in 0..n {
        let s = shop.next_shopper();
        for (offer, acc) in offers.iter().zip(sums.iter_mut()) {
            let e = expectation(&s, offer);
            for (a, x) in acc.iter_mut().zip([e.purchase, e.click, e.revenue, e.cost]) {
                *a += x;
            }
        }
    }
    let n = n.max(1) as f64;
    let truth = |a: [f64; 4]| ArmTruth {
        conversion_rate: a[0] / n,
        click_rate: a[1] / n,
        revenue_per_unit: a[2] / n,
        cost_per_unit: a[3] / n,
    };
    sums.into_iter().map(truth).collect()
}
