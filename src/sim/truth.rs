//! Ground truth in closed form: exact expectations for one shopper under an offer, and their
//! population averages per arm, so estimators are checked against the truth rather than
//! against each other.

use super::response::{Basket, Response, Season, Terms, THRESHOLD_REACH, TOP_UP_OVERSHOOT};
use super::{Device, Segment, Shop, Shopper, REGIONS};
use crate::domain::Offer;
use serde_json::{Map, Value};

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
    expectation_in(shopper, offer, Season::default())
}

/// `expectation` during a campaign whose period differs by `season`.
pub fn expectation_in(shopper: &Shopper, offer: &Offer, season: Season) -> Expectation {
    let r = Response::in_season(shopper, offer, season);
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

/// The true funnel probabilities of one assignment, for checking a trained model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrueRates {
    pub purchase: f64,
    pub click: f64,
}

/// The shopper a stored assignment context describes (`Shopper::context`'s fields), `None`
/// when it is not a simulated shopper's: a field missing or of the wrong kind, a device,
/// segment or region the shop does not have. The unit name is not in the context; it is
/// left empty, as no probability depends on it.
pub fn shopper_from_context(context: &Map<String, Value>) -> Option<Shopper> {
    let text = |k: &str| context.get(k).and_then(Value::as_str);
    let number = |k: &str| {
        context
            .get(k)
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite())
    };
    let device = match text("device")? {
        "mobile" => Device::Mobile,
        "desktop" => Device::Desktop,
        "tablet" => Device::Tablet,
        _ => return None,
    };
    let segment = match text("segment")? {
        "new" => Segment::New,
        "returning" => Segment::Returning,
        _ => return None,
    };
    let region = text("region")?;
    let region = REGIONS.iter().find(|r| r.0 == region)?.0;
    let frequency = context.get("frequency").and_then(Value::as_u64)?;
    Some(Shopper {
        unit: String::new(),
        device,
        segment,
        region,
        recency_days: number("recency_days")?,
        frequency: u32::try_from(frequency).ok()?,
        monetary: number("monetary")?,
        pre_value: number("pre_value")?,
    })
}

/// The true purchase and click probability of the shopper a stored context describes under
/// `offer`; `None` when the context is not a simulated shopper's.
pub fn true_rates(context: &Map<String, Value>, offer: &Offer) -> Option<TrueRates> {
    let r = Response::of(&shopper_from_context(context)?, offer);
    Some(TrueRates {
        purchase: r.purchase,
        click: r.click,
    })
}
