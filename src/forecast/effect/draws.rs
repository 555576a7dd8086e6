//! Predictive draws of a plan's outcome: each draw takes one set of model parameters from
//! their posterior, a new campaign's own deviation (τ), the support widenings, a Bayesian
//! bootstrap of the audience's composition and one traffic level, and totals what the
//! plan's users would do with and without the offer. Every band is a quantile of the draws.
//!
//! The target is the expected outcome of the users the plan reaches (their conversion
//! chances summed, not a coin flip for each): what a perfectly measured campaign would report.
//! The audience's make-up is a Bayesian bootstrap of the M sampled store units (Exp(1)
//! weights: the store's sample is one sample of the audience); the T users who will actually
//! come add their own spread, sd·√T around T times the mean, as a separate normal term. (An
//! earlier version folded both into Gamma(1/(1 + M/T)) weights and added the normal term
//! too, counting the users who come twice.)

use super::{dose, EffectError, EffectModel, OFFER_TYPES, TAU_REL_PRIOR};
use crate::bandit::sample::{gamma, standard_normal};
use crate::domain::Offer;
use crate::forecast::plan::{offer_depth, offer_type, Plan};
use crate::forecast::projection::{
    Band, CostSplit, HoldoutAdvice, PlanForecast, SegmentForecast, SupportWarning, Training,
};
use crate::model::logistic::sigmoid;
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value};

/// Spread (log scale) of the factor a borrowed effect is multiplied by when the offer type
/// never ran: ×0.25 to ×4 at 95%.
const BORROWED_SPREAD: f64 = 0.7;
/// Spread per unit of relative distance beyond the tested depths.
const EXTRAPOLATION_SPREAD: f64 = 0.5;
/// Spread of baseline and effect for users whose segment no training unit had.
const UNSEEN_SPREAD: f64 = 0.5;
/// Audience units below which the composition is called thin.
const THIN_AUDIENCE: usize = 200;
/// Segments shown: values holding at least this share of the audience, at most this many.
const SEGMENT_MIN_SHARE: f64 = 0.05;
const MAX_SEGMENTS: usize = 12;

#[derive(Debug, Clone, Copy)]
pub struct DrawOptions {
    pub draws: usize,
    pub seed: u64,
    /// Audience users scored per draw (a seeded subsample beyond it).
    pub max_sample: usize,
}

impl Default for DrawOptions {
    fn default() -> Self {
        DrawOptions {
            draws: 400,
            seed: 1,
            max_sample: 20_000,
        }
    }
}

/// One set of parameters: the posterior mean, or one draw.
struct Params {
    conv: Vec<f64>,
    basket: Vec<f64>,
    take: f64,
    /// Log-odds deviation of a new campaign's baseline.
    base_shift: f64,
    /// Multiplier of the lift (campaign spread, extrapolation, borrowing).
    lift_factor: f64,
    /// Multipliers of the odds and lift of users in unseen segments.
    unseen_base: f64,
    unseen_lift: f64,
}

/// How the plan's offer maps onto the model.
struct OfferModel {
    /// The block whose effect is used (the offer's own, or the one borrowed from).
    block: usize,
    dose: f64,
    borrowed: bool,
    extrapolation: f64,
}

fn offer_model(model: &EffectModel, offer: &Offer) -> Result<OfferModel, EffectError> {
    let own = model.block(offer);
    let borrowed_from = || {
        // A percentage-off offer borrows from the other one; anything else from discounts,
        // else coupons, else whatever was run.
        let prefs: &[&str] = match offer {
            Offer::Coupon { .. } => &["discount"],
            Offer::Discount { .. } => &["coupon"],
            _ => &["discount", "coupon", "spend_threshold", "recommend"],
        };
        prefs
            .iter()
            .filter_map(|t| OFFER_TYPES.iter().position(|x| x == t))
            .find_map(|t| model.types.iter().position(|x| *x == t))
            .or((!model.types.is_empty()).then_some(0))
    };
    let (block, borrowed) = match own {
        Some(b) => (b, false),
        None => (
            borrowed_from().ok_or_else(|| {
                EffectError::NoHistory("no past campaign tested any offer".into())
            })?,
            true,
        ),
    };
    let depth = offer_depth(offer);
    let extrapolation = if borrowed {
        0.0
    } else {
        let d = &model.support[block].depths;
        match (d.first(), d.last()) {
            (Some(_), Some(&hi)) if depth > hi && hi > 0.0 => (depth - hi) / hi,
            (Some(&lo), Some(_)) if depth < lo && lo > 0.0 => (lo - depth) / lo,
            _ => 0.0,
        }
    };
    Ok(OfferModel {
        block,
        dose: dose(offer),
        borrowed,
        extrapolation,
    })
}

/// Share of buyers who redeem the plan's offer, (mean, se), and what one redemption costs as
/// (fraction of order value, fixed amount).
fn take_rate(model: &EffectModel, offer: &Offer, om: &OfferModel) -> (f64, f64) {
    let s = model
        .block(offer)
        .map(|b| &model.support[b])
        .filter(|_| !om.borrowed);
    let above = |x: f64| {
        let v = &model.order_values;
        let below = v.partition_point(|g| *g < x);
        (v.len() - below) as f64 / v.len().max(1) as f64
    };
    match offer {
        Offer::SpendThreshold { min_spend, .. } => {
            let nearest = s.and_then(|s| {
                s.thresholds
                    .iter()
                    .min_by(|a, b| (a.0 - min_spend).abs().total_cmp(&(b.0 - min_spend).abs()))
            });
            match (nearest, s.and_then(|s| s.take_rate)) {
                (Some(&(spend, r)), Some((_, se))) => {
                    let scale = above(*min_spend) / above(spend).max(1e-9);
                    ((r * scale).clamp(0.0, 1.0), se * scale)
                }
                _ => (above(*min_spend), 0.1),
            }
        }
        Offer::Recommend { .. } => (1.0, 0.0),
        // A percentage offer never run: assume every buyer takes it (the costly case).
        _ => s.and_then(|s| s.take_rate).unwrap_or((1.0, 0.0)),
    }
}

fn draw_params(
    model: &EffectModel,
    om: &OfferModel,
    take: (f64, f64),
    rng: &mut Prng,
    point: bool,
) -> Params {
    let mut z = |k: usize| -> Vec<f64> { (0..k).map(|_| standard_normal(rng)).collect() };
    if point {
        return Params {
            conv: model.conversion.mean.clone(),
            basket: model.basket.mean.clone(),
            take: take.0,
            base_shift: 0.0,
            lift_factor: 1.0,
            unseen_base: 1.0,
            unseen_lift: 1.0,
        };
    }
    let conv = model.conversion.draw(&z(model.conversion.mean.len()));
    let basket = model.basket.draw(&z(model.basket.mean.len()));
    let e = z(7);
    let pick = |q: &[f64], u: f64| -> f64 {
        if q.is_empty() {
            0.0
        } else {
            q[((u * q.len() as f64) as usize).min(q.len() - 1)]
        }
    };
    let lift_spread = pick(&model.support[om.block].spread, rng.random::<f64>());
    let base_spread = pick(&model.base_spread, rng.random::<f64>());
    let mut lift_factor = (EXTRAPOLATION_SPREAD * om.extrapolation * e[0]).exp();
    if om.borrowed {
        lift_factor *= (BORROWED_SPREAD * e[1]).exp();
    }
    // The pooled fit is itself an average over k campaigns that each sat τ away: its own
    // error carries τ²/k that the unit-level Laplace posterior does not see (units of one
    // campaign are not independent draws of the effect). A new campaign's deviation from the
    // truth of the fit therefore has variance τ²(1 + 1/k).
    let design = |k: usize| (1.0 + 1.0 / k.max(1) as f64).sqrt();
    lift_factor *= (lift_spread * design(model.support[om.block].campaigns.len()) * e[4]).exp();
    Params {
        conv,
        basket,
        take: (take.0 + take.1 * e[2]).clamp(0.0, 1.0),
        base_shift: base_spread * design(model.campaigns.len()) * e[3],
        lift_factor,
        unseen_base: (UNSEEN_SPREAD * e[5]).exp(),
        unseen_lift: (UNSEEN_SPREAD * e[6]).exp(),
    }
}

/// Per user: chance to buy without and with the offer, order value without and with, and
/// the offer's cost per buyer.
#[derive(Debug, Clone, Copy, Default)]
struct UserOutcome {
    p0: f64,
    p1: f64,
    g0: f64,
    g1: f64,
    c1: f64,
}

struct Scorer<'a> {
    model: &'a EffectModel,
    offer: &'a Offer,
    om: OfferModel,
    cost_per_redemption: Option<f64>,
}

impl Scorer<'_> {
    fn user(&mut self, p: &Params, phi: &[f64], unseen: bool) -> UserOutcome {
        let m = self.model;
        let d = phi.len();
        let bias = p.conv[p.conv.len() - 1];
        let base: f64 = bias + phi.iter().zip(&p.conv).map(|(x, w)| x * w).sum::<f64>();
        let at = d + self.om.block * (1 + d);
        let coef = &p.conv[at..at + 1 + d];
        let mut lift =
            self.om.dose * (coef[0] + phi.iter().zip(&coef[1..]).map(|(x, w)| x * w).sum::<f64>());
        lift *= p.lift_factor;
        let mut eta0 = base + p.base_shift;
        if unseen {
            eta0 += p.unseen_base.ln();
            lift *= p.unseen_lift;
        }
        let g0 = (p.basket[0]
            + phi
                .iter()
                .zip(&p.basket[1..])
                .map(|(x, w)| x * w)
                .sum::<f64>())
        .exp()
            * m.smearing;
        let shift = if self.om.borrowed {
            0.0
        } else {
            p.basket[1 + d + self.om.block]
        };
        let g1 = g0 * shift.exp();
        let c1 = match (self.cost_per_redemption, self.offer) {
            (Some(c), _) => p.take * c,
            (None, Offer::Coupon { pct } | Offer::Discount { pct }) => p.take * pct / 100.0 * g1,
            (None, Offer::SpendThreshold { amount_off, .. }) => p.take * amount_off,
            (None, _) => 0.0,
        };
        UserOutcome {
            p0: sigmoid(eta0),
            p1: sigmoid(eta0 + lift),
            g0,
            g1,
            c1,
        }
    }
}

/// Per user and offer: uplift in conversion chance, expected offer cost and expected
/// incremental profit, at the posterior mean (row-major `user * offers + offer`).
#[derive(Debug, Clone, PartialEq)]
pub struct UserScores {
    pub users: usize,
    pub offers: usize,
    pub uplift: Vec<f64>,
    pub cost: Vec<f64>,
    pub profit: Vec<f64>,
    /// Conversion chance without any offer (the propensity baseline's ranking).
    pub baseline: Vec<f64>,
}

/// Scores every user under every offer at the posterior mean, or under one posterior draw
/// (`draw = Some(seed)`), for budget allocation and its intervals.
pub fn score_users(
    model: &EffectModel,
    offers: &[Offer],
    margin: f64,
    cost_per_redemption: Option<f64>,
    contexts: &[Map<String, Value>],
    draw: Option<u64>,
) -> Result<UserScores, EffectError> {
    let mut phi = Vec::new();
    let phis: Vec<(Vec<f64>, bool)> = contexts
        .iter()
        .map(|c| {
            model.encoder.encode(c, &mut phi);
            (phi.clone(), !model.encoder.unseen(c).is_empty())
        })
        .collect();
    let mut out = UserScores {
        users: contexts.len(),
        offers: offers.len(),
        uplift: vec![0.0; contexts.len() * offers.len()],
        cost: vec![0.0; contexts.len() * offers.len()],
        profit: vec![0.0; contexts.len() * offers.len()],
        baseline: vec![0.0; contexts.len()],
    };
    for (k, offer) in offers.iter().enumerate() {
        if *offer == Offer::None {
            continue;
        }
        let om = offer_model(model, offer)?;
        let take = take_rate(model, offer, &om);
        let mut rng = Prng::seed_from_u64(draw.unwrap_or(0) ^ (k as u64).wrapping_mul(0x9E37));
        let params = draw_params(model, &om, take, &mut rng, draw.is_none());
        let mut s = Scorer {
            model,
            offer,
            om,
            cost_per_redemption,
        };
        for (i, (phi, unseen)) in phis.iter().enumerate() {
            let u = s.user(&params, phi, *unseen);
            let j = i * offers.len() + k;
            out.uplift[j] = u.p1 - u.p0;
            out.cost[j] = u.p1 * u.c1;
            out.profit[j] = margin * (u.p1 * u.g1 - u.p0 * u.g0) - u.p1 * u.c1;
            out.baseline[i] = u.p0;
        }
    }
    Ok(out)
}

/// Everything a draw sums over the weighted audience sample.
#[derive(Default, Clone, Copy)]
struct Sums {
    w: f64,
    p0: f64,
    p1: f64,
    p0g0: f64,
    p1g1: f64,
    p1c1: f64,
    p0c1: f64,
    /// Σ w·u and Σ w·u² of the per-user uplift, for the realised users' spread.
    u2: f64,
}

impl Sums {
    fn add(&mut self, w: f64, u: &UserOutcome) {
        self.w += w;
        self.p0 += w * u.p0;
        self.p1 += w * u.p1;
        self.p0g0 += w * u.p0 * u.g0;
        self.p1g1 += w * u.p1 * u.g1;
        self.p1c1 += w * u.p1 * u.c1;
        self.p0c1 += w * u.p0 * u.c1;
        self.u2 += w * (u.p1 - u.p0).powi(2);
    }
}

/// One draw's totals for `t` offered users.
struct Totals {
    without: f64,
    with: f64,
    incremental: f64,
    revenue: f64,
    cost: f64,
    profit: f64,
    subsidy: f64,
    cost_on_incremental: f64,
    margin_on_incremental: f64,
}

fn totals(s: &Sums, t: f64, margin: f64, noise: f64) -> Totals {
    let m = |x: f64| x / s.w.max(1e-300);
    let (p0, p1) = (m(s.p0), m(s.p1));
    let u = p1 - p0;
    let sd_u = (m(s.u2) - u * u).max(0.0).sqrt();
    // The realised users are a sample of the audience: their summed uplift varies by
    // sd·√t around t times the mean.
    let incremental = t * u + noise * sd_u * t.sqrt();
    let scale = if u.abs() > 0.0 {
        incremental / (t * u)
    } else {
        1.0
    };
    let cost = t * m(s.p1c1);
    let subsidy = t * m(s.p0c1);
    let margin_on_incremental = margin * t * (m(s.p1g1) - m(s.p0g0)) * scale;
    Totals {
        without: t * p0,
        with: t * p0 + incremental,
        incremental,
        revenue: (t * (m(s.p1g1) - m(s.p0g0)) * scale) - cost,
        cost,
        profit: margin_on_incremental - cost,
        subsidy,
        cost_on_incremental: cost - subsidy,
        margin_on_incremental,
    }
}

/// The audience sample: features, whether any of its segments is unseen, segment slots.
struct Sample {
    phi: Vec<Vec<f64>>,
    unseen: Vec<bool>,
    segments: Vec<Vec<usize>>,
    /// (field, value) per segment slot.
    slots: Vec<(String, String)>,
}

fn sample(model: &EffectModel, audience: &[Map<String, Value>], opts: &DrawOptions) -> Sample {
    let idx: Vec<usize> = if audience.len() <= opts.max_sample {
        (0..audience.len()).collect()
    } else {
        // Every k-th after a seeded offset: a fixed, spread-out subsample.
        let step = audience.len() as f64 / opts.max_sample as f64;
        let off = (opts.seed % 1000) as f64 / 1000.0 * step;
        (0..opts.max_sample)
            .map(|j| ((off + j as f64 * step) as usize).min(audience.len() - 1))
            .collect()
    };
    let fields: Vec<String> = model.encoder.text_fields().map(str::to_string).collect();
    let mut counts: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for &i in &idx {
        for f in &fields {
            if let Some(v) = audience[i].get(f).and_then(super::encode::text_of) {
                *counts.entry((f.clone(), v)).or_default() += 1;
            }
        }
    }
    let n = idx.len().max(1) as f64;
    let mut slots: Vec<((String, String), usize)> = counts
        .into_iter()
        .filter(|(_, c)| *c as f64 / n >= SEGMENT_MIN_SHARE && (*c as f64) < n)
        .collect();
    slots.sort_by(|a, b| a.0 .0.cmp(&b.0 .0).then(b.1.cmp(&a.1)));
    slots.truncate(MAX_SEGMENTS);
    let slots: Vec<(String, String)> = slots.into_iter().map(|(k, _)| k).collect();
    let mut phi = Vec::new();
    let mut s = Sample {
        phi: Vec::with_capacity(idx.len()),
        unseen: Vec::with_capacity(idx.len()),
        segments: Vec::with_capacity(idx.len()),
        slots,
    };
    for &i in &idx {
        let c = &audience[i];
        model.encoder.encode(c, &mut phi);
        s.phi.push(phi.clone());
        s.unseen.push(!model.encoder.unseen(c).is_empty());
        s.segments.push(
            s.slots
                .iter()
                .enumerate()
                .filter(|(_, (f, v))| {
                    c.get(f).and_then(super::encode::text_of).as_deref() == Some(v)
                })
                .map(|(j, _)| j)
                .collect(),
        );
    }
    s
}

fn support_warnings(
    model: &EffectModel,
    offer: &Offer,
    om: &OfferModel,
    audience: &[Map<String, Value>],
) -> Vec<SupportWarning> {
    let mut w = Vec::new();
    let t = offer_type(offer);
    if om.borrowed {
        let from = OFFER_TYPES[model.types[om.block]];
        w.push(SupportWarning::OfferTypeNeverRun {
            offer_type: t.into(),
            borrowed_from: from.into(),
            message: format!(
                "no past randomised campaign ran a {t} offer: its effect is borrowed from {from} \
                 offers at the same depth and its interval widened (x0.25 to x4 at 95%)"
            ),
        });
    } else {
        let s = &model.support[om.block];
        if om.extrapolation > 0.0 {
            let (lo, hi) = (s.depths[0], s.depths[s.depths.len() - 1]);
            w.push(SupportWarning::DepthOutsideTested {
                depth: offer_depth(offer),
                tested_min: lo,
                tested_max: hi,
                message: format!(
                    "depth {} is outside the tested {lo}..{hi} of {t} offers: the effect is \
                     extrapolated and its interval widened",
                    offer_depth(offer)
                ),
            });
        }
        let arms = s.campaigns.len();
        if s.tau.is_none() {
            w.push(SupportWarning::FewCampaigns {
                campaigns: arms,
                message: format!(
                    "only {arms} past campaign(s) tested {t} offers: how much a new campaign's \
                     effect differs from theirs rests mostly on the prior (about ±{:.0}%), \
                     not on measurement",
                    100.0 * TAU_REL_PRIOR
                ),
            });
        }
    }
    let mut unseen: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for c in audience {
        for (f, v) in model.encoder.unseen(c) {
            *unseen.entry((f.to_string(), v)).or_default() += 1;
        }
    }
    for ((field, value), n) in unseen {
        w.push(SupportWarning::SegmentUnseen {
            message: format!(
                "{n} audience users have {field}={value}, which no past campaign had units in: \
                 their baseline and effect are guessed from the rest and widened"
            ),
            field,
            value,
        });
    }
    if audience.len() < THIN_AUDIENCE {
        w.push(SupportWarning::ThinAudience {
            units: audience.len(),
            message: format!(
                "only {} units in the store match the audience: its make-up is uncertain and \
                 the interval carries that",
                audience.len()
            ),
        });
    }
    w
}

/// The plan's forecast from the model, the audience's contexts (units in the store that match
/// the plan's audience) and a partly filled `Training` (the caller's campaigns, window, hash).
pub fn forecast(
    model: &EffectModel,
    plan: &Plan,
    audience: &[Map<String, Value>],
    mut training: Training,
    opts: &DrawOptions,
) -> Result<PlanForecast, EffectError> {
    if audience.is_empty() {
        return Err(EffectError::NoHistory(format!(
            "no unit in the store matches the audience ({}): nothing says who these users are",
            plan.audience.describe()
        )));
    }
    let offer = &plan.offer;
    let om = offer_model(model, offer)?;
    let take = take_rate(model, offer, &om);
    let warnings = support_warnings(model, offer, &om, audience);
    let smp = sample(model, audience, opts);
    let m = smp.phi.len() as f64;
    let reach_mean = plan.traffic.expected_users();
    let cv = plan.traffic.cv();
    let treated_share = 1.0 - plan.holdout;
    let mut rng = Prng::seed_from_u64(opts.seed);
    let mut scorer = Scorer {
        model,
        offer,
        om: offer_model(model, offer)?,
        cost_per_redemption: plan.cost_per_redemption,
    };
    let nseg = smp.slots.len();
    let draws = opts.draws.max(20);
    let mut cols: Vec<Vec<f64>> = (0..12).map(|_| Vec::with_capacity(draws)).collect();
    let mut seg_inc: Vec<Vec<f64>> = (0..nseg).map(|_| Vec::with_capacity(draws)).collect();
    let mut seg_profit: Vec<Vec<f64>> = (0..nseg).map(|_| Vec::with_capacity(draws)).collect();
    let mut lifts = Vec::with_capacity(draws);
    let mut rates = (0.0, 0.0);
    for _ in 0..draws {
        let p = draw_params(model, &om, take, &mut rng, false);
        let reach = if cv > 0.0 {
            reach_mean * (cv * standard_normal(&mut rng) - cv * cv / 2.0).exp()
        } else {
            reach_mean
        };
        let t = reach * treated_share;
        // Exp(1) = Gamma(1): the plain Bayesian bootstrap.
        let shape = 1.0;
        let mut all = Sums::default();
        let mut segs = vec![Sums::default(); nseg];
        for (i, phi) in smp.phi.iter().enumerate() {
            let w = gamma(&mut rng, shape);
            let u = scorer.user(&p, phi, smp.unseen[i]);
            all.add(w, &u);
            for &j in &smp.segments[i] {
                segs[j].add(w, &u);
            }
        }
        let noise = standard_normal(&mut rng);
        let tot = totals(&all, t, plan.margin, noise);
        for (c, v) in cols.iter_mut().zip([
            reach,
            tot.without,
            tot.with,
            tot.incremental,
            tot.revenue,
            tot.cost,
            tot.profit,
            if tot.cost > 0.0 {
                tot.profit / tot.cost
            } else {
                f64::NAN
            },
            tot.subsidy,
            tot.cost_on_incremental,
            tot.margin_on_incremental,
            0.0,
        ]) {
            c.push(v);
        }
        for (j, s) in segs.iter().enumerate() {
            let share = s.w / all.w.max(1e-300);
            let st = totals(s, t * share, plan.margin, 0.0);
            seg_inc[j].push(st.incremental);
            seg_profit[j].push(st.profit);
        }
        let (p0, p1) = (all.p0 / all.w, all.p1 / all.w);
        lifts.push(p1 - p0);
        rates.0 += p0 / draws as f64;
        rates.1 += p1 / draws as f64;
    }
    let inc_draws = cols[3].clone();
    let band = |v: &mut Vec<f64>| {
        Band::of_draws(v).ok_or_else(|| EffectError::NoFit("a forecast draw was not finite".into()))
    };
    let roi = if cols[7].iter().all(|r| r.is_finite()) {
        Band::of_draws(&mut cols[7])
    } else {
        None
    };
    let mut segments = Vec::with_capacity(nseg);
    for (j, (field, value)) in smp.slots.iter().enumerate() {
        let share = smp.segments.iter().filter(|s| s.contains(&j)).count() as f64 / m;
        segments.push(SegmentForecast {
            field: field.clone(),
            value: value.clone(),
            share,
            incremental_conversions: band(&mut seg_inc[j])?,
            incremental_profit: band(&mut seg_profit[j])?,
        });
    }
    let holdout = holdout_advice(plan, rates, &lifts, reach_mean);
    training.draws = draws;
    training.model = model.describe();
    training.audience_units = audience.len() as u64;
    if let Some(b) = model.block(offer) {
        let s = &model.support[b];
        training.tested_depths = s.depths.clone();
        training.campaigns_with_offer_type = s
            .campaigns
            .iter()
            .filter_map(|c| model.campaigns.get(*c).cloned())
            .collect();
    }
    training.units = model.units as u64;
    if training.campaigns.is_empty() {
        training.campaigns = model.campaigns.clone();
    }
    Ok(PlanForecast {
        plan: plan.name.clone(),
        offer: offer.clone(),
        offer_type: offer_type(offer).into(),
        audience: plan.audience.describe(),
        reach: band(&mut cols[0])?,
        conversions_without: band(&mut cols[1])?,
        conversions_with: band(&mut cols[2])?,
        incremental_conversions: band(&mut cols[3])?,
        incremental_revenue: band(&mut cols[4])?,
        cost: band(&mut cols[5])?,
        incremental_profit: band(&mut cols[6])?,
        roi,
        split: CostSplit {
            subsidy: band(&mut cols[8])?,
            cost_on_incremental: band(&mut cols[9])?,
            margin_on_incremental: band(&mut cols[10])?,
        },
        segments,
        warnings,
        recalibration: None,
        holdout,
        ledger: None,
        training,
        incremental_conversion_draws: inc_draws,
    })
}

/// Power and assurance of the plan's holdout from the forecast's rates and lift spread, and
/// the smallest holdout share that reaches the plan's power at the point lift.
fn holdout_advice(
    plan: &Plan,
    rates: (f64, f64),
    lifts: &[f64],
    reach: f64,
) -> Option<HoldoutAdvice> {
    use crate::forecast::holdout::{power_wald, review, HoldoutPlan};
    let (p0, p1) = rates;
    let n = lifts.len() as f64;
    let mean = lifts.iter().sum::<f64>() / n;
    let sd = (lifts.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let hp = HoldoutPlan {
        treated_rate: p1,
        lift: p1 - p0,
        lift_sd: sd,
        alpha: plan.alpha,
        power: plan.power,
    };
    let h = plan.holdout;
    let r = review(&hp, reach * (1.0 - h), reach * h).ok()?;
    let power_at = |h: f64| power_wald(p1, p0, reach * (1.0 - h), reach * h, plan.alpha);
    let needed = (power_at(0.5) >= plan.power).then(|| {
        let (mut lo, mut hi) = (1e-4, 0.5);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if power_at(mid) >= plan.power {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    });
    Some(HoldoutAdvice {
        holdout: h,
        power: r.power_at_point,
        assurance: r.assurance,
        holdout_needed: needed,
        warnings: r.warnings.iter().map(ToString::to_string).collect(),
    })
}
