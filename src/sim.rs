//! Synthetic e-commerce traffic with known ground truth, for demos, tests and benchmarks.
//!
//! Owns a small generative model of shoppers (device, segment, region, RFM features and
//! pre-period spend) and of how they respond to each `Offer` along the funnel exposure ->
//! click -> add_to_cart -> purchase. Every probability and expected value is also available in
//! closed form (`expectation`, `arm_truth`), so estimators elsewhere are checked against the
//! truth rather than against each other. Pure: a seeded RNG only, no I/O, no clock.
//!
//! Purchase log-odds are linear in the features; add-to-cart and click are the purchase
//! log-odds plus fixed gaps, which nests the funnel. Order value is a lognormal mixture (3%
//! bulk orders make the heavy tail) scaled by past order value and pre-period spend, so
//! `pre_value` predicts both conversion and basket size, which is what CUPED needs.

use crate::domain::{Offer, StandardKind};
use rand::rngs::Xoshiro256PlusPlus as StdRng;
use rand::{RngExt, SeedableRng};
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
const FREQUENCY: f64 = 0.20; // per ln(1 + past orders)
const PRE_VALUE: f64 = 0.85; // per ln(1 + pre_value / 25)
/// Log-odds gaps that put add-to-cart above purchase and click above add-to-cart.
const CART_GAP: f64 = 1.0;
const CLICK_GAP: f64 = 0.9;
/// Basket scale of a shopper with no history; returning ones blend in their past order value.
const NEW_BASKET: f64 = 45.0;
const PRE_PERIOD_DAYS: f64 = 90.0;
/// (weight, log-mean, log-sd) of the order-value multiplier: everyday orders and bulk ones.
const BASKET_MIX: [(f64, f64, f64); 2] = [(0.98, -0.125, 0.5), (0.02, 1.1, 0.5)];
/// Coupon and discount log-odds lift per ln(1 + pct / 5), by segment (new, returning).
const COUPON_LIFT: (f64, f64) = (0.32, 0.03);
const DISCOUNT_LIFT: (f64, f64) = (0.45, 0.20);
/// Share of coupon holders who buy and actually redeem the coupon.
const COUPON_REDEMPTION: f64 = 0.65;
/// Baskets within this fraction below a spend threshold may be topped up to reach it.
const THRESHOLD_REACH: f64 = 0.75;
const TOP_UP_OVERSHOOT: f64 = 1.05;

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
        let region = REGIONS
            .iter()
            .find(|r| r.0 == self.region)
            .map_or(0.0, |r| r.2);
        let returning = if self.segment == Segment::Returning {
            RETURNING
        } else {
            0.0
        };
        INTERCEPT
            + returning
            + device
            + region
            + RECENCY * (1.0 + self.recency_days.max(0.0) / 30.0).ln()
            + FREQUENCY * f64::from(self.frequency).ln_1p()
            + PRE_VALUE * (self.pre_value.max(0.0) / 25.0).ln_1p()
    }

    /// Median-ish order value before the mixture multiplier.
    fn basket_scale(&self) -> f64 {
        let history = if self.monetary > 0.0 {
            0.4 * NEW_BASKET + 0.6 * self.monetary
        } else {
            NEW_BASKET
        };
        history * (1.0 + 0.4 * (self.pre_value.max(0.0) / 100.0).ln_1p())
    }
}

/// One event of a visit; `delay_secs` is the time after the exposure.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    pub kind: StandardKind,
    pub value: f64,
    pub cost: f64,
    pub delay_secs: f64,
}

/// Exact expectations for one shopper under an offer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    pub click: f64,
    pub add_to_cart: f64,
    pub purchase: f64,
    /// Expected revenue after any discount, per exposed shopper.
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

/// A seeded source of shoppers and their visits. Shoppers come from their own stream, so the
/// population for a seed is the same whatever offers they are shown.
pub struct Shop {
    people: StdRng,
    outcomes: StdRng,
    issued: u64,
}

impl Shop {
    pub fn new(seed: u64) -> Shop {
        Shop {
            people: StdRng::seed_from_u64(seed),
            outcomes: StdRng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15),
            issued: 0,
        }
    }

    pub fn next_shopper(&mut self) -> Shopper {
        self.issued += 1;
        let rng = &mut self.people;
        let d: f64 = rng.random();
        let device = if d < 0.55 {
            Device::Mobile
        } else if d < 0.90 {
            Device::Desktop
        } else {
            Device::Tablet
        };
        let mut r: f64 = rng.random();
        let mut region = REGIONS[REGIONS.len() - 1].0;
        for (name, share, _) in REGIONS {
            if r < share {
                region = name;
                break;
            }
            r -= share;
        }
        let (segment, recency_days, frequency, monetary, pre_value) =
            if rng.random::<f64>() < RETURNING_SHARE {
                // Frequent buyers bought more recently; pre-period spend exists only for those
                // whose last order falls inside the pre-period.
                let frequency = 1 + geometric(rng, 2.5);
                let mean_gap = 240.0 / (1.0 + f64::from(frequency));
                let recency = (1.0 + exponential(rng, mean_gap)).min(365.0);
                let monetary = cents(55.0 * (0.45 * normal(rng)).exp());
                let pre = if recency <= PRE_PERIOD_DAYS {
                    let orders = 1 + poisson(rng, 0.3 * f64::from(frequency));
                    cents(f64::from(orders) * monetary * (0.3 * normal(rng)).exp())
                } else {
                    0.0
                };
                (
                    Segment::Returning,
                    recency.round(),
                    frequency,
                    monetary,
                    pre,
                )
            } else {
                (Segment::New, 365.0, 0, 0.0, 0.0)
            };
        Shopper {
            unit: format!("u-{}", self.issued),
            device,
            segment,
            region,
            recency_days,
            frequency,
            monetary,
            pre_value,
        }
    }

    /// One visit: exposure, then maybe click, add-to-cart and purchase, drawn with exactly the
    /// probabilities of `expectation`.
    pub fn visit(&mut self, shopper: &Shopper, offer: &Offer) -> Vec<SimEvent> {
        let f = Funnel::of(shopper, offer);
        let rng = &mut self.outcomes;
        let mut events = vec![event(StandardKind::Exposure, 0.0, 0.0, 0.0)];
        let mut at = 0.0;
        let steps = [
            (StandardKind::Click, f.click, 2.0, 25.0),
            (StandardKind::AddToCart, f.cart / f.click, 5.0, 60.0),
            (StandardKind::Purchase, f.purchase / f.cart, 30.0, 240.0),
        ];
        for (kind, p, min_gap, mean_gap) in steps {
            if rng.random::<f64>() >= p {
                return events;
            }
            at += min_gap + exponential(rng, mean_gap);
            events.push(event(kind, 0.0, 0.0, at));
        }
        let bulk = rng.random::<f64>() >= BASKET_MIX[0].0;
        let (_, mu, sigma) = BASKET_MIX[usize::from(bulk)];
        let order = cents(f.scale * (mu + sigma * normal(rng)).exp());
        let (value, cost) = match *offer {
            Offer::Coupon { pct } if rng.random::<f64>() < COUPON_REDEMPTION => {
                let c = cents(order * pct_of(pct));
                (order - c, c)
            }
            Offer::Discount { pct } => {
                let c = cents(order * pct_of(pct));
                (order - c, c)
            }
            Offer::SpendThreshold {
                min_spend,
                amount_off,
            } => {
                let t = Threshold::new(min_spend, amount_off);
                if order >= t.spend {
                    (order - t.off, t.off)
                } else if order >= THRESHOLD_REACH * t.spend && rng.random::<f64>() < t.top_up {
                    (cents(TOP_UP_OVERSHOOT * t.spend) - t.off, t.off)
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

/// Exact expectations for one shopper under an offer (no randomness).
pub fn expectation(shopper: &Shopper, offer: &Offer) -> Expectation {
    let f = Funnel::of(shopper, offer);
    let b = Basket { scale: f.scale };
    let (revenue, cost) = match *offer {
        Offer::Coupon { pct } => {
            let c = COUPON_REDEMPTION * pct_of(pct) * b.mean();
            (b.mean() - c, c)
        }
        Offer::Discount { pct } => {
            let c = pct_of(pct) * b.mean();
            (b.mean() - c, c)
        }
        Offer::SpendThreshold {
            min_spend,
            amount_off,
        } => {
            let t = Threshold::new(min_spend, amount_off);
            let (p_reach, m_reach) = b.below(THRESHOLD_REACH * t.spend);
            let (p_t, m_t) = b.below(t.spend);
            let (band_p, band_m) = (p_t - p_reach, m_t - m_reach);
            let (above_p, above_m) = (1.0 - p_t, b.mean() - m_t);
            let topped = t.top_up * band_p;
            let revenue = m_reach
                + (1.0 - t.top_up) * band_m
                + topped * (TOP_UP_OVERSHOOT * t.spend - t.off)
                + above_m
                - t.off * above_p;
            (revenue, t.off * (above_p + topped))
        }
        Offer::None | Offer::Recommend { .. } => (b.mean(), 0.0),
    };
    Expectation {
        click: f.click,
        add_to_cart: f.cart,
        purchase: f.purchase,
        revenue: f.purchase * revenue,
        cost: f.purchase * cost,
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
    sums.into_iter()
        .map(|a| ArmTruth {
            conversion_rate: a[0] / n,
            click_rate: a[1] / n,
            revenue_per_unit: a[2] / n,
            cost_per_unit: a[3] / n,
        })
        .collect()
}

/// Funnel probabilities and basket scale of one shopper under one offer.
struct Funnel {
    click: f64,
    cart: f64,
    purchase: f64,
    scale: f64,
}

impl Funnel {
    fn of(s: &Shopper, offer: &Offer) -> Funnel {
        let new = s.segment == Segment::New;
        let by_segment = |(n, r): (f64, f64)| if new { n } else { r };
        // Diminishing returns: the tenth percent off moves buyers less than the first.
        let pct_curve = |pct: f64| (pct_of(pct) * 20.0).ln_1p();
        let (lift, cart_boost, click_boost, basket) = match *offer {
            Offer::None => (0.0, 0.0, 0.0, 1.0),
            Offer::Coupon { pct } => (by_segment(COUPON_LIFT) * pct_curve(pct), 0.0, 0.0, 1.0),
            Offer::Discount { pct } => (by_segment(DISCOUNT_LIFT) * pct_curve(pct), 0.0, 0.0, 1.0),
            Offer::SpendThreshold {
                min_spend,
                amount_off,
            } => {
                let t = Threshold::new(min_spend, amount_off);
                (0.6 * t.generosity(), 0.0, 0.0, 1.0)
            }
            Offer::Recommend { items } => {
                let g = 1.0 - (-f64::from(items) / 4.0).exp();
                (0.0, 0.25 * g, 0.45 * g, 1.0 + 0.05 * g)
            }
        };
        let x = s.baseline_log_odds() + lift;
        Funnel {
            purchase: logistic(x),
            cart: logistic(x + CART_GAP + cart_boost),
            click: logistic(x + CART_GAP + cart_boost + CLICK_GAP + click_boost),
            scale: s.basket_scale() * basket,
        }
    }
}

/// A spend-threshold offer, sanitised: a voucher never applies to an order smaller than itself.
struct Threshold {
    spend: f64,
    off: f64,
    /// Chance that a shopper just below the threshold adds items to reach it.
    top_up: f64,
}

impl Threshold {
    fn new(min_spend: f64, amount_off: f64) -> Threshold {
        let off = non_negative(amount_off);
        let spend = non_negative(min_spend).max(off);
        let mut t = Threshold {
            spend,
            off,
            top_up: 0.0,
        };
        t.top_up = 0.3 + t.generosity();
        t
    }

    fn generosity(&self) -> f64 {
        if self.spend > 0.0 {
            (self.off / self.spend).min(0.5)
        } else {
            0.0
        }
    }
}

/// Order value distribution of one shopper: `scale` times the `BASKET_MIX` multiplier.
struct Basket {
    scale: f64,
}

impl Basket {
    fn mean(&self) -> f64 {
        BASKET_MIX
            .iter()
            .map(|(w, mu, sigma)| w * self.scale * (mu + sigma * sigma / 2.0).exp())
            .sum()
    }

    /// P(V < c) and E[V; V < c].
    fn below(&self, c: f64) -> (f64, f64) {
        if c <= 0.0 || self.scale <= 0.0 {
            return (0.0, 0.0);
        }
        let z = (c / self.scale).ln();
        BASKET_MIX
            .iter()
            .fold((0.0, 0.0), |(p, m), (w, mu, sigma)| {
                let full = self.scale * (mu + sigma * sigma / 2.0).exp();
                (
                    p + w * normal_cdf((z - mu) / sigma),
                    m + w * full * normal_cdf((z - mu - sigma * sigma) / sigma),
                )
            })
    }
}

fn event(kind: StandardKind, value: f64, cost: f64, delay_secs: f64) -> SimEvent {
    SimEvent {
        kind,
        value,
        cost,
        delay_secs,
    }
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn normal_cdf(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-x / std::f64::consts::SQRT_2)
}

fn non_negative(x: f64) -> f64 {
    if x.is_finite() {
        x.max(0.0)
    } else {
        0.0
    }
}

/// A percentage as a fraction in [0, 1].
fn pct_of(pct: f64) -> f64 {
    non_negative(pct).min(100.0) / 100.0
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Uniform in (0, 1], safe for `ln`.
fn open_unit(rng: &mut StdRng) -> f64 {
    1.0 - rng.random::<f64>()
}

/// Box-Muller; the second variate is dropped to keep the stream simple.
fn normal(rng: &mut StdRng) -> f64 {
    let r = (-2.0 * open_unit(rng).ln()).sqrt();
    r * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * open_unit(rng).ln()
}

/// Failures before the first success, with the given mean.
fn geometric(rng: &mut StdRng, mean: f64) -> u32 {
    let q = mean / (1.0 + mean);
    (open_unit(rng).ln() / q.ln()).floor().min(1000.0) as u32
}

/// Knuth's method; fine for the small rates used here.
fn poisson(rng: &mut StdRng, rate: f64) -> u32 {
    let limit = (-rate).exp();
    let mut k = 0;
    let mut prod = rng.random::<f64>();
    while prod > limit && k < 1000 {
        k += 1;
        prod *= rng.random::<f64>();
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-unit purchase indicator, revenue, cost and pre_value from simulated visits.
    fn simulate(seed: u64, offer: &Offer, n: usize) -> Vec<(f64, f64, f64, f64)> {
        let mut shop = Shop::new(seed);
        (0..n)
            .map(|_| {
                let s = shop.next_shopper();
                let ev = shop.visit(&s, offer);
                let bought = ev.iter().any(|e| e.kind == StandardKind::Purchase);
                let revenue = ev.iter().map(|e| e.value).sum();
                let cost = ev.iter().map(|e| e.cost).sum();
                (f64::from(u8::from(bought)), revenue, cost, s.pre_value)
            })
            .collect()
    }

    fn mean_se(xs: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = xs.collect();
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, (var / n).sqrt())
    }

    fn corr(xs: &[f64], ys: &[f64]) -> f64 {
        let n = xs.len() as f64;
        let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
        let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
        cov / (vx * vy).sqrt()
    }

    #[test]
    fn same_seed_same_traffic_and_population_ignores_offers() {
        let run = |seed, offer: &Offer| {
            let mut shop = Shop::new(seed);
            (0..2_000)
                .map(|_| {
                    let s = shop.next_shopper();
                    let ev = shop.visit(&s, offer);
                    (s, ev)
                })
                .collect::<Vec<_>>()
        };
        let coupon = Offer::Coupon { pct: 10.0 };
        let a = run(11, &coupon);
        assert_eq!(a, run(11, &coupon));
        assert_ne!(a, run(12, &coupon));
        assert_eq!(a[0].0.unit, "u-1");
        assert_eq!(a[1999].0.unit, "u-2000");
        let b = run(11, &Offer::Discount { pct: 20.0 });
        assert!(a.iter().zip(&b).all(|(x, y)| x.0 == y.0));
    }

    #[test]
    fn visits_converge_to_truth() {
        let cases = [
            (Offer::None, 200_000),
            (Offer::Coupon { pct: 10.0 }, 200_000),
            (Offer::Discount { pct: 15.0 }, 60_000),
            (
                Offer::SpendThreshold {
                    min_spend: 60.0,
                    amount_off: 10.0,
                },
                60_000,
            ),
            (Offer::Recommend { items: 4 }, 60_000),
        ];
        for (offer, n) in cases {
            let truth = arm_truth(5, std::slice::from_ref(&offer), n)[0];
            let rows = simulate(5, &offer, n);
            let checks = [
                (
                    "conversion",
                    mean_se(rows.iter().map(|r| r.0)),
                    truth.conversion_rate,
                ),
                (
                    "revenue",
                    mean_se(rows.iter().map(|r| r.1)),
                    truth.revenue_per_unit,
                ),
                (
                    "cost",
                    mean_se(rows.iter().map(|r| r.2)),
                    truth.cost_per_unit,
                ),
            ];
            for (what, (m, se), want) in checks {
                assert!(
                    (m - want).abs() <= 4.0 * se + 1e-9,
                    "{offer:?} {what}: simulated {m} (se {se}) vs truth {want}"
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
    fn no_offer_costs_nothing() {
        for offer in [Offer::None, Offer::Recommend { items: 6 }] {
            assert!(simulate(9, &offer, 30_000).iter().all(|r| r.2 == 0.0));
            assert_eq!(arm_truth(9, &[offer], 5_000)[0].cost_per_unit, 0.0);
        }
    }

    #[test]
    fn pre_value_predicts_revenue() {
        let rows = simulate(21, &Offer::None, 200_000);
        let pre: Vec<f64> = rows.iter().map(|r| r.3).collect();
        let revenue: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let r = corr(&pre, &revenue);
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
            Offer::SpendThreshold {
                min_spend: 0.0,
                amount_off: 0.0,
            },
            Offer::SpendThreshold {
                min_spend: 5.0,
                amount_off: 20.0,
            },
            Offer::SpendThreshold {
                min_spend: f64::INFINITY,
                amount_off: -3.0,
            },
            Offer::Recommend { items: 0 },
            Offer::Recommend { items: u32::MAX },
        ];
        let mut shop = Shop::new(1);
        for _ in 0..3_000 {
            let s = shop.next_shopper();
            assert!(s.context().values().all(|v| !v.is_null()));
            assert_eq!(s.context().len(), 7);
            for offer in &offers {
                let e = expectation(&s, offer);
                let all = [e.click, e.add_to_cart, e.purchase, e.revenue, e.cost];
                assert!(all.iter().all(|x| x.is_finite() && *x >= 0.0), "{e:?}");
                assert!(e.purchase <= e.add_to_cart && e.add_to_cart <= e.click && e.click <= 1.0);
                let ev = shop.visit(&s, offer);
                assert_eq!(ev[0].kind, StandardKind::Exposure);
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
}
#[cfg(test)]
mod speed {
    use super::*;
    #[test]
    fn speed_probe() {
        let t = std::time::Instant::now();
        let mut r = StdRng::seed_from_u64(1);
        let mut acc = 0.0;
        for _ in 0..1_000_000 { acc += r.random::<f64>(); }
        eprintln!("1M random f64: {:?} {acc}", t.elapsed());
        let t = std::time::Instant::now();
        for _ in 0..1_000_000 { acc += normal(&mut r); }
        eprintln!("1M normal: {:?} {acc}", t.elapsed());
        let mut shop = Shop::new(1);
        let t = std::time::Instant::now();
        let v: Vec<Shopper> = (0..200_000).map(|_| shop.next_shopper()).collect();
        eprintln!("200k shoppers: {:?}", t.elapsed());
        let t = std::time::Instant::now();
        for s in &v { acc += expectation(s, &Offer::None).revenue; }
        eprintln!("200k expectation: {:?}", t.elapsed());
        let t = std::time::Instant::now();
        for s in &v { acc += shop.visit(s, &Offer::None).len() as f64; }
        eprintln!("200k visits: {:?} {acc}", t.elapsed());
    }
}
