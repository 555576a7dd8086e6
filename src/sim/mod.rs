//! Synthetic e-commerce traffic with known ground truth, for demos, tests and benchmarks.
//!
//! Owns a small generative model of shoppers (device, segment, region, RFM features, pre-period
//! spend) and of how each responds to an `Offer` along the funnel exposure -> click ->
//! add_to_cart -> purchase. Every probability and expected value also exists in closed form
//! (`expectation`, `arm_truth`), so estimators elsewhere are checked against the truth rather
//! than against each other. Pure: a seeded RNG only, no I/O, no clock.
//!
//! Purchase log-odds are linear in the features; add-to-cart and click are the purchase
//! log-odds plus fixed gaps, which nests the funnel. Order value is a lognormal mixture (2%
//! bulk orders make the heavy tail) scaled by past order value and pre-period spend, so
//! `pre_value` predicts both conversion and basket size, which is what CUPED needs.
//!
//! This file holds the shopper population and the seeded `Shop` that samples visits;
//! `response` is the offer-response model both sampling and the closed form use, so the two
//! cannot drift apart; `truth` is the closed form (`expectation`, `arm_truth`).

mod response;
mod truth;

pub use response::Season;
pub use truth::{
    arm_truth, expectation, expectation_in, shopper_from_context, true_rates, ArmTruth,
    Expectation, TrueRates,
};

use crate::domain::{Offer, StandardKind};
// A named algorithm rather than `StdRng`, whose algorithm may change between rand releases:
// a seed must replay the same traffic. It is also far cheaper in debug builds.
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use response::{Response, Terms, BASKET_MIX, THRESHOLD_REACH, TOP_UP_OVERSHOOT};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Mobile,
    Desktop,
    Tablet,
}

impl Device {
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Mobile => "mobile",
            Device::Desktop => "desktop",
            Device::Tablet => "tablet",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    New,
    Returning,
}

impl Segment {
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::New => "new",
            Segment::Returning => "returning",
        }
    }
}

/// Region, share of traffic, purchase log-odds shift.
const REGIONS: [(&str, f64, f64); 4] = [
    ("na", 0.40, 0.10),
    ("eu", 0.30, 0.0),
    ("apac", 0.20, -0.10),
    ("latam", 0.10, -0.20),
];
const RETURNING_SHARE: f64 = 0.30;
/// Purchase log-odds: intercept, then weights on the (transformed) features.
const INTERCEPT: f64 = -3.45;
const RETURNING: f64 = 0.20;
const DESKTOP: f64 = 0.25;
const MOBILE: f64 = -0.20;
const RECENCY: f64 = -0.25; // per ln(1 + days / 30); new shoppers sit at the 365-day cap
const FREQUENCY: f64 = 0.20; // per ln(1 + orders in the past year)
const PRE_VALUE: f64 = 0.85; // per ln(1 + pre_value / 25)
/// Basket scale of a shopper with no history; returning ones blend in their past order value.
const NEW_BASKET: f64 = 45.0;
const PRE_PERIOD_DAYS: f64 = 90.0;

/// One synthetic shopper: what an assignment's context carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Shopper {
    pub unit: String,
    pub device: Device,
    pub segment: Segment,
    pub region: &'static str,
    /// Days since the last order, capped at 365 (new shoppers sit at the cap).
    pub recency_days: f64,
    /// Orders in the past year.
    pub frequency: u32,
    /// Average past order value (0 for new shoppers).
    pub monetary: f64,
    /// Spend in the 90 days before the experiment (the CUPED covariate).
    pub pre_value: f64,
}

impl Shopper {
    pub fn context(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("device".into(), self.device.as_str().into());
        m.insert("segment".into(), self.segment.as_str().into());
        m.insert("region".into(), self.region.into());
        m.insert("recency_days".into(), self.recency_days.into());
        m.insert("frequency".into(), self.frequency.into());
        m.insert("monetary".into(), self.monetary.into());
        m.insert("pre_value".into(), self.pre_value.into());
        m
    }

    fn baseline_log_odds(&self) -> f64 {
        let device = match self.device {
            Device::Desktop => DESKTOP,
            Device::Mobile => MOBILE,
            Device::Tablet => 0.0,
        };
        let region = REGIONS.iter().find(|r| r.0 == self.region);
        let returning = f64::from(u8::from(self.segment == Segment::Returning)) * RETURNING;
        INTERCEPT
            + returning
            + device
            + region.map_or(0.0, |r| r.2)
            + RECENCY * (1.0 + self.recency_days.max(0.0) / 30.0).ln()
            + FREQUENCY * f64::from(self.frequency).ln_1p()
            + PRE_VALUE * (self.pre_value.max(0.0) / 25.0).ln_1p()
    }

    fn basket_scale(&self) -> f64 {
        let history = if self.monetary > 0.0 {
            0.4 * NEW_BASKET + 0.6 * self.monetary
        } else {
            NEW_BASKET
        };
        history * (1.0 + 0.4 * (self.pre_value.max(0.0) / 100.0).ln_1p())
    }
}

/// One event of a visit; `delay_secs` is the time since the exposure.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    pub kind: StandardKind,
    /// Order revenue after any discount (purchases only).
    pub value: f64,
    /// What the offer cost the shop on this event (purchases only).
    pub cost: f64,
    pub delay_secs: f64,
}

/// A seeded source of shoppers and their visits. Shoppers come from their own stream, so the
/// population for a seed is the same whatever offers they are shown.
pub struct Shop {
    people: Prng,
    outcomes: Prng,
    issued: u64,
}

impl Shop {
    pub fn new(seed: u64) -> Shop {
        Shop {
            people: Prng::seed_from_u64(seed),
            outcomes: Prng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15),
            issued: 0,
        }
    }

    pub fn next_shopper(&mut self) -> Shopper {
        self.issued += 1;
        let rng = &mut self.people;
        let device = match rng.random::<f64>() {
            d if d < 0.55 => Device::Mobile,
            d if d < 0.90 => Device::Desktop,
            _ => Device::Tablet,
        };
        let mut r: f64 = rng.random();
        let region = REGIONS.iter().find(|x| {
            r -= x.1;
            r < 0.0
        });
        let mut s = Shopper {
            unit: format!("u-{}", self.issued),
            device,
            segment: Segment::New,
            region: region.map_or(REGIONS[0].0, |x| x.0),
            recency_days: 365.0,
            frequency: 0,
            monetary: 0.0,
            pre_value: 0.0,
        };
        if rng.random::<f64>() < RETURNING_SHARE {
            // Frequent buyers bought more recently; pre-period spend exists only for those whose
            // last order falls inside the pre-period. Floors of exponentials are geometric.
            s.segment = Segment::Returning;
            s.frequency = 1 + exponential(rng, 3.0) as u32;
            let freq = f64::from(s.frequency);
            s.recency_days = (1.0 + exponential(rng, 240.0 / (1.0 + freq)))
                .min(365.0)
                .round();
            s.monetary = cents(55.0 * (0.45 * normal(rng)).exp());
            if s.recency_days <= PRE_PERIOD_DAYS {
                let orders = 1.0 + (exponential(rng, 0.5 + 0.3 * freq) as u32).min(50) as f64;
                s.pre_value = cents(orders * s.monetary * (0.3 * normal(rng)).exp());
            }
        }
        s
    }

    /// One visit: exposure, then maybe click, add-to-cart and purchase, drawn with exactly the
    /// probabilities of `expectation`. Delays grow along the funnel.
    pub fn visit(&mut self, shopper: &Shopper, offer: &Offer) -> Vec<SimEvent> {
        self.visit_in(shopper, offer, Season::default())
    }

    /// A visit during a campaign whose period differs from the average by `season`.
    pub fn visit_in(&mut self, shopper: &Shopper, offer: &Offer, season: Season) -> Vec<SimEvent> {
        let r = Response::in_season(shopper, offer, season);
        let rng = &mut self.outcomes;
        let event = |kind, delay_secs| SimEvent {
            kind,
            value: 0.0,
            cost: 0.0,
            delay_secs,
        };
        let mut events = vec![event(StandardKind::Exposure, 0.0)];
        let mut at = 0.0;
        let steps = [
            (StandardKind::Click, r.click, 2.0, 25.0),
            (StandardKind::AddToCart, r.cart / r.click, 5.0, 60.0),
            (StandardKind::Purchase, r.purchase / r.cart, 30.0, 240.0),
        ];
        for (kind, p, min_gap, mean_gap) in steps {
            if rng.random::<f64>() >= p {
                return events;
            }
            at += min_gap + exponential(rng, mean_gap);
            events.push(event(kind, at));
        }
        let bulk = rng.random::<f64>() >= BASKET_MIX[0].0;
        let (_, mu, sigma) = BASKET_MIX[usize::from(bulk)];
        let order = cents(r.scale * (mu + sigma * normal(rng)).exp());
        let (value, cost) = match r.terms {
            Terms::Share { off, taken } if rng.random::<f64>() < taken => {
                let c = cents(order * off);
                (order - c, c)
            }
            Terms::Threshold { spend, off, top_up } => {
                if order >= spend {
                    (order - off, off)
                } else if order >= THRESHOLD_REACH * spend && rng.random::<f64>() < top_up {
                    (cents(TOP_UP_OVERSHOOT * spend) - off, off)
                } else {
                    (order, 0.0)
                }
            }
            _ => (order, 0.0),
        };
        if let Some(purchase) = events.last_mut() {
            purchase.value = value;
            purchase.cost = cost;
        }
        events
    }
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Box-Muller; the second variate is dropped to keep the stream simple.
fn normal(rng: &mut Prng) -> f64 {
    let r = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
    r * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

fn exponential(rng: &mut Prng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

#[cfg(test)]
mod coefficient_tests;
#[cfg(test)]
mod tests;
