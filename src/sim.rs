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

use crate::domain::{Offer, StandardKind};
// A named algorithm rather than `StdRng`, whose algorithm may change between rand releases:
// a seed must replay the same traffic. It is also far cheaper in debug builds.
use rand::rngs::Xoshiro256PlusPlus as Prng;
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
const FREQUENCY: f64 = 0.20; // per ln(1 + orders in the past year)
const PRE_VALUE: f64 = 0.85; // per ln(1 + pre_value / 25)
/// Log-odds gaps that put add-to-cart above purchase and click above add-to-cart.
const CART_GAP: f64 = 1.0;
const CLICK_GAP: f64 = 0.9;
/// Basket scale of a shopper with no history; returning ones blend in their past order value.
const NEW_BASKET: f64 = 45.0;
const PRE_PERIOD_DAYS: f64 = 90.0;
/// (weight, log-mean, log-sd) of the order-value multiplier: everyday orders, then bulk ones.
const BASKET_MIX: [(f64, f64, f64); 2] = [(0.98, -0.125, 0.5), (0.02, 1.1, 0.5)];
/// Coupon and discount log-odds lift per ln(1 + pct / 5), for (new, returning) shoppers:
/// returning shoppers would mostly have bought anyway.
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
        let r = Response::of(shopper, offer);
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

/// How an order is settled under an offer, sanitised (shares in [0, 1], amounts finite and
/// non-negative; a voucher never applies to an order smaller than itself).
#[derive(Clone, Copy)]
enum Terms {
    Plain,
    /// `off` of the order, taken by a share `taken` of buyers (coupon redemption, discount).
    Share {
        off: f64,
        taken: f64,
    },
    /// `off` from orders of at least `spend`; baskets just below top up with chance `top_up`.
    Threshold {
        spend: f64,
        off: f64,
        top_up: f64,
    },
}

/// Funnel probabilities, basket scale and settlement of one shopper under one offer.
struct Response {
    click: f64,
    cart: f64,
    purchase: f64,
    scale: f64,
    terms: Terms,
}

impl Response {
    fn of(s: &Shopper, offer: &Offer) -> Response {
        let (new, returning) = match *offer {
            Offer::Coupon { .. } => COUPON_LIFT,
            _ => DISCOUNT_LIFT,
        };
        let per_pct = if s.segment == Segment::New {
            new
        } else {
            returning
        };
        // Diminishing returns: the tenth percent off moves buyers less than the first.
        let pct_curve = |pct: f64| per_pct * (pct_of(pct) * 20.0).ln_1p();
        let share = |pct, taken| Terms::Share {
            off: pct_of(pct),
            taken,
        };
        let (lift, cart_boost, click_boost, basket, terms) = match *offer {
            Offer::None => (0.0, 0.0, 0.0, 1.0, Terms::Plain),
            Offer::Coupon { pct } => (pct_curve(pct), 0.0, 0.0, 1.0, share(pct, COUPON_REDEMPTION)),
            Offer::Discount { pct } => (pct_curve(pct), 0.0, 0.0, 1.0, share(pct, 1.0)),
            Offer::SpendThreshold {
                min_spend,
                amount_off,
            } => {
                let off = non_negative(amount_off);
                let spend = non_negative(min_spend).max(off);
                // spend >= off; the max turns 0/0 (no threshold, nothing off) into 0.
                let generosity = (off / spend.max(f64::MIN_POSITIVE)).min(0.5);
                let top_up = 0.3 + generosity;
                let terms = Terms::Threshold { spend, off, top_up };
                (0.6 * generosity, 0.0, 0.0, 1.0, terms)
            }
            Offer::Recommend { items } => {
                let g = 1.0 - (-f64::from(items) / 4.0).exp();
                (0.0, 0.25 * g, 0.45 * g, 1.0 + 0.05 * g, Terms::Plain)
            }
        };
        let x = s.baseline_log_odds() + lift;
        Response {
            purchase: logistic(x),
            cart: logistic(x + CART_GAP + cart_boost),
            click: logistic(x + CART_GAP + cart_boost + CLICK_GAP + click_boost),
            scale: s.basket_scale() * basket,
            terms,
        }
    }
}

/// Order value distribution of one shopper: `scale` times the `BASKET_MIX` multiplier.
struct Basket {
    scale: f64,
}

impl Basket {
    fn mean(&self) -> f64 {
        let m = BASKET_MIX
            .iter()
            .map(|(w, mu, sd)| w * (mu + sd * sd / 2.0).exp());
        self.scale * m.sum::<f64>()
    }

    /// P(V < c) and E[V; V < c], from the lognormal CDF and partial expectation.
    fn below(&self, c: f64) -> (f64, f64) {
        if c <= 0.0 || self.scale <= 0.0 {
            return (0.0, 0.0);
        }
        let z = (c / self.scale).ln();
        BASKET_MIX.iter().fold((0.0, 0.0), |(p, m), (w, mu, sd)| {
            let full = self.scale * (mu + sd * sd / 2.0).exp();
            let m_below = full * normal_cdf((z - mu - sd * sd) / sd);
            (p + w * normal_cdf((z - mu) / sd), m + w * m_below)
        })
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

/// Box-Muller; the second variate is dropped to keep the stream simple.
fn normal(rng: &mut Prng) -> f64 {
    let r = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
    r * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

fn exponential(rng: &mut Prng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

#[cfg(test)]
mod tests {
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
}
