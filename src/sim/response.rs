//! How a shopper responds to an offer: funnel probabilities (click, add-to-cart, purchase),
//! basket scale, and how the order is settled (coupon redemption, discount, spend threshold).
//! `Shop::visit` samples from it and `truth::expectation` integrates it, so both use the very
//! same numbers.

use super::{Segment, Shopper};
use crate::domain::Offer;

/// Log-odds gaps that put add-to-cart above purchase and click above add-to-cart.
const CART_GAP: f64 = 1.0;
const CLICK_GAP: f64 = 0.9;
/// (weight, log-mean, log-sd) of the order-value multiplier: everyday orders, then bulk ones.
pub(super) const BASKET_MIX: [(f64, f64, f64); 2] = [(0.98, -0.125, 0.5), (0.02, 1.1, 0.5)];
/// Coupon and discount log-odds lift per ln(1 + pct / 5), for (new, returning) shoppers:
/// returning shoppers would mostly have bought anyway.
pub(super) const COUPON_LIFT: (f64, f64) = (0.32, 0.03);
pub(super) const DISCOUNT_LIFT: (f64, f64) = (0.45, 0.20);
/// Share of coupon holders who buy and actually redeem the coupon.
const COUPON_REDEMPTION: f64 = 0.65;
/// Baskets within this fraction below a spend threshold may be topped up to reach it.
pub(super) const THRESHOLD_REACH: f64 = 0.75;
pub(super) const TOP_UP_OVERSHOOT: f64 = 1.05;

/// How an order is settled under an offer, sanitised (shares in [0, 1], amounts finite and
/// non-negative; a voucher never applies to an order smaller than itself).
#[derive(Clone, Copy)]
pub(super) enum Terms {
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
pub(super) struct Response {
    pub(super) click: f64,
    pub(super) cart: f64,
    pub(super) purchase: f64,
    pub(super) scale: f64,
    pub(super) terms: Terms,
}

/// How one campaign's period differs from the shop's average: a log-odds shift of every
/// shopper's purchase chance (season, weather, what competitors do) and a relative change of
/// the offer's lift (how well this campaign's creative and timing land), lift × exp(effect).
/// The default is no difference; the forecast's coverage simulation draws one per campaign so
/// that campaigns genuinely vary, as real ones do.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Season {
    pub baseline: f64,
    pub effect: f64,
}

impl Response {
    pub(super) fn of(s: &Shopper, offer: &Offer) -> Response {
        Response::in_season(s, offer, Season::default())
    }

    pub(super) fn in_season(s: &Shopper, offer: &Offer, season: Season) -> Response {
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
        let x = s.baseline_log_odds() + season.baseline + lift * season.effect.exp();
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
pub(super) struct Basket {
    pub(super) scale: f64,
}

impl Basket {
    pub(super) fn mean(&self) -> f64 {
        let m = BASKET_MIX
            .iter()
            .map(|(w, mu, sd)| w * (mu + sd * sd / 2.0).exp());
        self.scale * m.sum::<f64>()
    }

    /// P(V < c) and E[V; V < c], from the lognormal CDF and partial expectation.
    pub(super) fn below(&self, c: f64) -> (f64, f64) {
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
