//! What past randomised campaigns say about how shoppers respond to an offer, as a model a
//! plan can be scored with, and how sure we are of it.
//!
//! - Conversion: one logistic regression over every training unit,
//!   logit P(buy) = b + α_c + β·φ(x) + Σ_t 1[type = t]·dose·(a_t + γ_t·φ(x)),
//!   φ the context features (`encode`), `dose` the offer's depth on a diminishing-returns scale
//!   (ln(1 + pct/5) for percentages, ln(1 + items) for recommendations). One model for all
//!   depths of a type is what lets a 15% plan learn from the 10% and 20% campaigns; the
//!   interactions γ_t let the effect differ by segment. α_c is campaign c's own baseline
//!   (effect-coded, Σ α_c = 0, so b is the average campaign's): the offers' effects are read
//!   only from contrasts within a campaign, whose arms shared its season.
//! - Parameter uncertainty: the Laplace approximation, θ ~ N(θ̂, (n·H)⁻¹), H the Hessian of
//!   the fitted objective.
//! - Campaign-to-campaign variation: each training campaign's control and its arms of a type
//!   (pooled: they share its season) get a one-step score estimate of how far their log-odds
//!   sat from the fit (the control's from the average campaign's baseline, the arms' from
//!   their own campaign's, relative to the lift they were expected to have). A new
//!   campaign's baseline shift and lift multiplier exp(N(0, τ²)) are drawn with τ sampled from
//!   its posterior (`spread_posterior`, half-normal priors `TAU_PRIOR`, `TAU_REL_PRIOR`);
//!   DerSimonian–Laird gives the point shown. Below `MIN_CAMPAIGNS_FOR_TAU` campaigns of a
//!   type the spread rests mostly on the prior, and the forecast says so.
//! - Order value: least squares of ln(gross order value) on φ(x) and the offer type over the
//!   converting units, back-transformed with Duan's smearing factor.
//! - Offer cost: coupons and discounts cost `take rate · pct · order value`, the take rate
//!   (share of buyers who redeem) measured per type; a spend threshold costs `amount_off`
//!   on the share of orders reaching it, measured at the tested thresholds and moved to the
//!   plan's threshold by the share of orders above each; recommendations cost nothing unless
//!   the plan names a cost per redemption.
//!
//! Pure: plain structs in, plain structs out; the predictive draws live in `draws`.

mod draws;
pub mod encode;

pub use draws::{forecast, score_users, DrawOptions, UserScores};

use crate::domain::Offer;
use crate::forecast::plan::{offer_depth, offer_type};
use crate::linalg::cholesky_solve;
use crate::model::logistic::{fit_newton, hessian_at, Rows};
use encode::Encoder;
use serde_json::{Map, Value};

/// Campaigns (with a control and an arm of the offer type) needed before the
/// campaign-to-campaign spread is estimated rather than assumed.
pub const MIN_CAMPAIGNS_FOR_TAU: usize = 3;
/// Prior scale (half-normal) of how far a new campaign's baseline sits from past ones, on the
/// log-odds: about ±15% in odds.
pub const TAU_PRIOR: f64 = 0.15;
/// Prior scale of how far a new campaign's lift sits from the model's, relative: about ±30%.
pub const TAU_REL_PRIOR: f64 = 0.3;
/// Quantiles kept of a spread's posterior.
const SPREAD_QUANTILES: usize = 64;
/// Training units a forecast needs at the least, and converting units in it.
pub const MIN_UNITS: usize = 200;
pub const MIN_CONVERSIONS: usize = 20;
/// L2 penalty of the conversion model on the mean loss: enough to keep rare indicators and
/// their interactions finite, far below what would bias a well-supported coefficient.
const L2: f64 = 1e-4;

/// The offer types a forecast knows, in a fixed order.
pub const OFFER_TYPES: [&str; 4] = ["coupon", "discount", "spend_threshold", "recommend"];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EffectError {
    #[error("no usable history: {0}")]
    NoHistory(String),
    #[error("the conversion model did not converge on the training history ({0})")]
    NoFit(String),
}

/// One unit of a past randomised campaign: where it was, what it was shown, what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryUnit {
    /// Index into `History::campaigns`.
    pub campaign: usize,
    pub context: Map<String, Value>,
    /// The arm's offer; `Offer::None` is control.
    pub offer: Offer,
    pub converted: bool,
    /// Revenue after the offer's discount, and the offer's cost (as events record them).
    pub revenue: f64,
    pub cost: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub campaigns: Vec<String>,
    pub units: Vec<HistoryUnit>,
}

/// The dose of an offer: its depth on a diminishing-returns scale.
pub fn dose(offer: &Offer) -> f64 {
    match offer {
        Offer::None => 0.0,
        Offer::Recommend { items } => f64::from(*items).ln_1p(),
        o => (offer_depth(o).max(0.0) / 5.0).ln_1p(),
    }
}

pub(crate) fn type_index(offer: &Offer) -> Option<usize> {
    let t = offer_type(offer);
    OFFER_TYPES.iter().position(|x| *x == t)
}

/// A multivariate normal N(mean, P⁻¹) given the Cholesky factor L of its precision P = L·Lᵀ:
/// mean + L⁻ᵀ·z has covariance (L·Lᵀ)⁻¹.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    pub mean: Vec<f64>,
    /// Lower-triangular factor of the precision, row-major k×k (upper part unused).
    factor: Vec<f64>,
}

impl Gaussian {
    /// From a mean and a precision matrix; `None` when the precision is not positive definite.
    pub fn from_precision(mean: Vec<f64>, mut precision: Vec<f64>) -> Option<Gaussian> {
        let k = mean.len();
        cholesky_solve(&mut precision, &vec![0.0; k], k)?;
        Some(Gaussian {
            mean,
            factor: precision,
        })
    }

    /// mean + L⁻ᵀ·z for standard normal `z` (same length as the mean).
    pub fn draw(&self, z: &[f64]) -> Vec<f64> {
        let k = self.mean.len();
        let mut v = z.to_vec();
        for i in (0..k).rev() {
            for m in i + 1..k {
                v[i] -= self.factor[m * k + i] * v[m];
            }
            v[i] /= self.factor[i * k + i];
        }
        v.iter().zip(&self.mean).map(|(d, m)| m + d).collect()
    }

    /// Standard deviation of one coordinate (solves for the column of the inverse).
    pub fn sd(&self, j: usize) -> f64 {
        let k = self.mean.len();
        // Var_j = ||L⁻¹ e_j||².
        let mut y = vec![0.0; k];
        for i in 0..k {
            let mut s = if i == j { 1.0 } else { 0.0 };
            for (m, ym) in y.iter().enumerate().take(i) {
                s -= self.factor[i * k + m] * ym;
            }
            y[i] = s / self.factor[i * k + i];
        }
        y.iter().map(|v| v * v).sum::<f64>().sqrt()
    }
}

/// What history showed for one offer type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TypeSupport {
    /// Distinct depths tested, sorted.
    pub depths: Vec<f64>,
    /// Campaigns that tested it (indices into History::campaigns).
    pub campaigns: Vec<usize>,
    pub treated_units: usize,
    /// Campaign-to-campaign spread of the effect, relative (a new campaign's lift is the
    /// model's times exp(N(0, τ²))): the DerSimonian–Laird estimate, `None` below
    /// `MIN_CAMPAIGNS_FOR_TAU` campaigns.
    pub tau: Option<f64>,
    /// Equal-probability quantiles of τ's posterior (half-normal prior `TAU_REL_PRIOR`),
    /// which the draws sample so that an uncertain spread widens the interval.
    pub spread: Vec<f64>,
    /// Share of buyers who redeemed, mean and standard error (coupons and discounts: of the
    /// percentage; spend thresholds: of buyers), `None` when no buyer saw the offer.
    pub take_rate: Option<(f64, f64)>,
    /// Spend thresholds tested: (min_spend, share of buyers who redeemed).
    pub thresholds: Vec<(f64, f64)>,
}

/// The fitted response model.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectModel {
    pub encoder: Encoder,
    /// Offer types with a column block, indices into OFFER_TYPES, in column order.
    pub types: Vec<usize>,
    /// Conversion coefficients (β, then per type a_t, γ_t; then the intercept) and their
    /// Laplace posterior.
    pub conversion: Gaussian,
    /// ln(order value) coefficients (intercept, β, one shift per modelled type) and posterior.
    pub basket: Gaussian,
    pub smearing: f64,
    /// Campaign-to-campaign spread of control log-odds, and the number of campaigns behind it.
    pub tau_base: Option<f64>,
    /// Quantiles of the baseline spread's posterior (half-normal prior `TAU_PRIOR`).
    pub base_spread: Vec<f64>,
    pub support: Vec<TypeSupport>,
    /// Gross order values of all converting training units, sorted (for threshold reach).
    pub order_values: Vec<f64>,
    pub units: usize,
    pub campaigns: Vec<String>,
}

/// Bumped when the model's form changes, so a frozen forecast says which forecaster made it.
pub const FORECASTER_VERSION: u32 = 2;

impl EffectModel {
    /// One line naming the forecaster and the fitted model, frozen with a forecast.
    pub fn describe(&self) -> String {
        let types: Vec<&str> = self.types.iter().map(|t| OFFER_TYPES[*t]).collect();
        let spread = |t: Option<f64>| t.map_or("assumed".to_string(), |v| format!("{v:.3}"));
        let taus: Vec<String> = self
            .types
            .iter()
            .zip(&self.support)
            .map(|(t, s)| format!("{} {}", OFFER_TYPES[*t], spread(s.tau)))
            .collect();
        format!(
            "liftdeck effect model v{FORECASTER_VERSION}: logistic dose-response, {} coefficients \
             on {} features, offer types {}; Laplace posterior; campaign spread baseline {}, {}",
            self.conversion.mean.len(),
            self.encoder.len(),
            types.join(", "),
            spread(self.tau_base),
            taus.join(", ")
        )
    }

    pub fn phi_len(&self) -> usize {
        self.encoder.len()
    }

    /// Block index of an offer's type, if modelled.
    pub fn block(&self, offer: &Offer) -> Option<usize> {
        let t = type_index(offer)?;
        self.types.iter().position(|x| *x == t)
    }
}

fn conversion_width(d_phi: usize, types: usize) -> usize {
    d_phi + types * (1 + d_phi)
}

/// Writes the conversion row for features `phi` under an offer in `block` with `dose`.
pub(crate) fn conversion_row(
    phi: &[f64],
    types: usize,
    block: Option<usize>,
    dose: f64,
    out: &mut Vec<f64>,
) {
    let d = phi.len();
    out.clear();
    out.extend_from_slice(phi);
    out.resize(conversion_width(d, types), 0.0);
    if let Some(b) = block {
        let at = d + b * (1 + d);
        out[at] = dose;
        for (j, x) in phi.iter().enumerate() {
            out[at + 1 + j] = dose * x;
        }
    }
}

/// Columns of the campaign effects: one per past campaign but the last, effect-coded.
fn campaign_columns(campaigns: usize) -> usize {
    campaigns.saturating_sub(1)
}

/// Appends campaign `c`'s effect coding (of `k`): 1 in its own column, −1 in all of them for
/// the last campaign, 0 elsewhere. Each campaign gets its own baseline so that the offers'
/// effects are read only from contrasts within a campaign (its arms shared its season); a
/// pooled intercept would also compare one campaign's treated units with another's controls,
/// and a campaign that ran in a good week would pass its season off as lift. Effect coding
/// keeps the model's intercept the average campaign's baseline, which is what a forecast of a
/// campaign in an unknown season starts from; the scorer leaves these columns out (zero).
fn push_campaign_effect(c: usize, k: usize, out: &mut Vec<f64>) {
    let cols = campaign_columns(k);
    let at = out.len();
    out.resize(at + cols, 0.0);
    if c + 1 == k {
        out[at..].iter_mut().for_each(|v| *v = -1.0);
    } else if c < cols {
        out[at + c] = 1.0;
    }
}

fn gross(u: &HistoryUnit) -> f64 {
    u.revenue + u.cost
}

/// Fits the response model to the history.
pub fn fit(history: &History) -> Result<EffectModel, EffectError> {
    let units = &history.units;
    if units.len() < MIN_UNITS {
        return Err(EffectError::NoHistory(format!(
            "{} units in past randomised campaigns; a forecast needs at least {MIN_UNITS}",
            units.len()
        )));
    }
    let buyers = units.iter().filter(|u| u.converted).count();
    if buyers < MIN_CONVERSIONS {
        return Err(EffectError::NoHistory(format!(
            "{buyers} converting units in past randomised campaigns; a forecast needs at least \
             {MIN_CONVERSIONS}"
        )));
    }
    if !units.iter().any(|u| u.offer == Offer::None) {
        return Err(EffectError::NoHistory(
            "no past campaign had a control arm (an arm with no offer) to measure against".into(),
        ));
    }
    let mut types: Vec<usize> = units.iter().filter_map(|u| type_index(&u.offer)).collect();
    types.sort_unstable();
    types.dedup();
    if types.is_empty() {
        return Err(EffectError::NoHistory(
            "no past randomised campaign had an arm with an offer".into(),
        ));
    }
    let encoder = Encoder::learn(units.iter().map(|u| &u.context));
    let d_phi = encoder.len();
    let nt = types.len();
    let block = |o: &Offer| type_index(o).and_then(|t| types.iter().position(|x| *x == t));

    let k = history.campaigns.len();
    let width = conversion_width(d_phi, nt);
    let mut phi = Vec::with_capacity(d_phi);
    let mut row = Vec::new();
    let mut x = Rows::new(width + campaign_columns(k));
    let mut y = Vec::with_capacity(units.len());
    let mut phis = Rows::new(d_phi);
    for u in units {
        encoder.encode(&u.context, &mut phi);
        phis.push(&phi);
        conversion_row(&phi, nt, block(&u.offer), dose(&u.offer), &mut row);
        push_campaign_effect(u.campaign, k, &mut row);
        x.push(&row);
        y.push(f64::from(u8::from(u.converted)));
    }
    let model = fit_newton(&x, &y, L2, 100)
        .ok_or_else(|| EffectError::NoFit("Newton's method did not settle".into()))?;
    let n = units.len() as f64;
    let mut precision = hessian_at(&model, &x, &y, L2);
    precision.iter_mut().for_each(|h| *h *= n);
    let mut mean = model.weights.clone();
    mean.push(model.bias);
    let conversion = Gaussian::from_precision(mean, precision)
        .ok_or_else(|| EffectError::NoFit("the model's Hessian is singular".into()))?;

    // Scores: how far each campaign's control and each treated arm sat from the fit. `control`
    // is read against the campaign's own fitted baseline (for the lift's deviation, a
    // within-campaign contrast); `season` against the average campaign's (the baseline's
    // campaign-to-campaign spread).
    let mut control = vec![(0.0, 0.0); k]; // (observed - expected, Σ p(1-p))
    let mut season = vec![(0.0, 0.0); k];
    // (block, observed − expected, Σ p(1−p), Σ p(1−p)·lift): the lift is the unit's fitted
    // log-odds effect of its offer, so a campaign's deviation can be read relative to it.
    let mut arms: std::collections::BTreeMap<(usize, String), (usize, f64, f64, f64)> =
        Default::default();
    for (i, u) in units.iter().enumerate() {
        let z = model.bias
            + model
                .weights
                .iter()
                .zip(x.row(i))
                .map(|(w, v)| w * v)
                .sum::<f64>();
        let p = crate::model::logistic::sigmoid(z);
        let (r, v) = (y[i] - p, p * (1.0 - p));
        match block(&u.offer) {
            None if u.campaign < k => {
                control[u.campaign].0 += r;
                control[u.campaign].1 += v;
                let own: f64 = model.weights[width..]
                    .iter()
                    .zip(&x.row(i)[width..])
                    .map(|(w, v)| w * v)
                    .sum();
                let p_avg = crate::model::logistic::sigmoid(z - own);
                season[u.campaign].0 += y[i] - p_avg;
                season[u.campaign].1 += p_avg * (1.0 - p_avg);
            }
            Some(b) => {
                let key = (
                    u.campaign,
                    serde_json::to_string(&u.offer).unwrap_or_default(),
                );
                let at = d_phi + b * (1 + d_phi);
                let lift: f64 = model.weights[at..at + 1 + d_phi]
                    .iter()
                    .zip(&x.row(i)[at..at + 1 + d_phi])
                    .map(|(w, v)| w * v)
                    .sum();
                let e = arms.entry(key).or_insert((b, 0.0, 0.0, 0.0));
                e.1 += r;
                e.2 += v;
                e.3 += v * lift;
            }
            None => {}
        }
    }
    let base: Vec<(f64, f64)> = season
        .iter()
        .filter(|c| c.1 > 0.0)
        .map(|c| (c.0 / c.1, 1.0 / c.1))
        .collect();
    let tau_base = (base.len() >= MIN_CAMPAIGNS_FOR_TAU).then(|| dersimonian_laird(&base));
    let base_spread = spread_posterior(&base, TAU_PRIOR);
    let base_of = |c: usize| {
        control
            .get(c)
            .filter(|c| c.1 > 0.0)
            .map(|c| (c.0 / c.1, 1.0 / c.1))
    };

    let mut support = vec![TypeSupport::default(); nt];
    for u in units {
        if let Some(b) = block(&u.offer) {
            let s = &mut support[b];
            s.treated_units += 1;
            s.depths.push(offer_depth(&u.offer));
            s.campaigns.push(u.campaign);
        }
    }
    for s in &mut support {
        s.depths.sort_by(f64::total_cmp);
        s.depths.dedup();
        s.campaigns.sort_unstable();
        s.campaigns.dedup();
    }
    for (b, s) in support.iter_mut().enumerate() {
        // Arms of one campaign share its season, so their residuals are pooled per campaign
        // (observed − expected and Σ p(1−p) summed over its arms of this type) and the
        // spread is estimated across campaigns.
        let mut per_campaign: std::collections::BTreeMap<usize, (f64, f64, f64)> =
            Default::default();
        for ((c, _), v) in arms.iter().filter(|(_, v)| v.0 == b) {
            let e = per_campaign.entry(*c).or_default();
            e.0 += v.1;
            e.1 += v.2;
            e.2 += v.3;
        }
        // A campaign's log-odds deviation relative to the lift it was expected to have: a
        // creative that lands better moves a big effect more than a small one.
        let deviations: Vec<(f64, f64)> = per_campaign
            .iter()
            .filter(|(_, v)| v.1 > 0.0 && (v.2 / v.1).abs() > 1e-3)
            .filter_map(|(c, v)| {
                let (d0, v0) = base_of(*c)?;
                let lift = v.2 / v.1;
                Some(((v.0 / v.1 - d0) / lift, (1.0 / v.1 + v0) / (lift * lift)))
            })
            .collect();
        s.tau = (deviations.len() >= MIN_CAMPAIGNS_FOR_TAU).then(|| dersimonian_laird(&deviations));
        s.spread = spread_posterior(&deviations, TAU_REL_PRIOR);
    }

    // Take rates and thresholds.
    for (b, s) in support.iter_mut().enumerate() {
        let mut ratios = Vec::new();
        let mut thresholds: std::collections::BTreeMap<u64, (f64, usize, usize)> =
            Default::default();
        for u in units
            .iter()
            .filter(|u| u.converted && block(&u.offer) == Some(b))
        {
            match u.offer {
                Offer::Coupon { pct } | Offer::Discount { pct } if pct > 0.0 && gross(u) > 0.0 => {
                    ratios.push((u.cost / (pct / 100.0 * gross(u))).clamp(0.0, 1.0));
                }
                Offer::SpendThreshold { min_spend, .. } => {
                    let e = thresholds
                        .entry(min_spend.to_bits())
                        .or_insert((min_spend, 0, 0));
                    e.1 += 1;
                    e.2 += usize::from(u.cost > 0.0);
                    ratios.push(f64::from(u8::from(u.cost > 0.0)));
                }
                _ => {}
            }
        }
        if !ratios.is_empty() {
            let m = ratios.len() as f64;
            let mean = ratios.iter().sum::<f64>() / m;
            let var = ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (m - 1.0).max(1.0);
            s.take_rate = Some((mean, (var / m).sqrt()));
        }
        s.thresholds = thresholds
            .values()
            .map(|(spend, n, r)| (*spend, *r as f64 / *n as f64))
            .collect();
    }

    // Order value.
    let mut bx = Rows::new(d_phi + nt);
    let mut by = Vec::new();
    let mut order_values = Vec::new();
    let mut brow = Vec::new();
    for (i, u) in units.iter().enumerate() {
        let g = gross(u);
        if !(u.converted && g > 0.0 && g.is_finite()) {
            continue;
        }
        order_values.push(g);
        brow.clear();
        brow.extend_from_slice(phis.row(i));
        brow.extend((0..nt).map(|b| f64::from(u8::from(block(&u.offer) == Some(b)))));
        bx.push(&brow);
        by.push(g.ln());
    }
    order_values.sort_by(f64::total_cmp);
    let basket_fit = least_squares(&bx, &by)
        .ok_or_else(|| EffectError::NoFit("the order-value regression is singular".into()))?;
    Ok(EffectModel {
        encoder,
        types,
        conversion,
        basket: basket_fit.0,
        smearing: basket_fit.1,
        tau_base,
        base_spread,
        support,
        order_values,
        units: units.len(),
        campaigns: history.campaigns.clone(),
    })
}

/// The posterior of a between-campaign SD τ given (deviation, variance) pairs, each
/// deviation ~ N(0, variance + τ²), under a half-normal prior of scale `prior`, on a grid; as
/// `SPREAD_QUANTILES` equal-probability quantiles. Plugging in a point estimate of τ from a
/// handful of campaigns under-covers (it is often 0 by chance); sampling its posterior does not.
pub fn spread_posterior(studies: &[(f64, f64)], prior: f64) -> Vec<f64> {
    const GRID: usize = 400;
    let top = studies
        .iter()
        .map(|(d, _)| 2.0 * d.abs())
        .fold(6.0 * prior, f64::max)
        .min(50.0 * prior.max(1e-6));
    let taus: Vec<f64> = (0..GRID)
        .map(|i| top * (i as f64 + 0.5) / GRID as f64)
        .collect();
    let logp: Vec<f64> = taus
        .iter()
        .map(|t| {
            let prior_term = -0.5 * (t / prior).powi(2);
            prior_term
                + studies
                    .iter()
                    .filter(|(d, v)| d.is_finite() && v.is_finite())
                    .map(|(d, v)| {
                        let s2 = v + t * t;
                        -0.5 * (s2.ln() + d * d / s2)
                    })
                    .sum::<f64>()
        })
        .collect();
    let max = logp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logp.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut out = Vec::with_capacity(SPREAD_QUANTILES);
    let (mut acc, mut i) = (0.0, 0);
    for q in 0..SPREAD_QUANTILES {
        let target = (q as f64 + 0.5) / SPREAD_QUANTILES as f64 * total;
        while i + 1 < GRID && acc + w[i] < target {
            acc += w[i];
            i += 1;
        }
        out.push(taus[i]);
    }
    out
}

/// DerSimonian–Laird between-study SD from (estimate, variance) pairs.
pub fn dersimonian_laird(studies: &[(f64, f64)]) -> f64 {
    let w: Vec<f64> = studies.iter().map(|(_, v)| 1.0 / v.max(1e-12)).collect();
    let sw: f64 = w.iter().sum();
    let sw2: f64 = w.iter().map(|x| x * x).sum();
    let mean = studies.iter().zip(&w).map(|((e, _), w)| w * e).sum::<f64>() / sw;
    let q: f64 = studies
        .iter()
        .zip(&w)
        .map(|((e, _), w)| w * (e - mean).powi(2))
        .sum();
    let df = studies.len() as f64 - 1.0;
    let denom = sw - sw2 / sw;
    if denom <= 0.0 {
        return 0.0;
    }
    ((q - df) / denom).max(0.0).sqrt()
}

/// Ordinary least squares with an intercept (first coefficient): the coefficients' Gaussian
/// posterior (precision XᵀX/σ²) and Duan's smearing factor mean(exp(residual)).
fn least_squares(x: &Rows, y: &[f64]) -> Option<(Gaussian, f64)> {
    let (n, d) = (x.len(), x.d);
    let k = d + 1;
    if n <= k {
        return None;
    }
    let mut a = vec![0.0; k * k];
    let mut b = vec![0.0; k];
    for (i, yi) in y.iter().enumerate() {
        let row = x.row(i);
        let xt = |j: usize| if j == 0 { 1.0 } else { row[j - 1] };
        for r in 0..k {
            b[r] += xt(r) * yi;
            for c in 0..=r {
                a[r * k + c] += xt(r) * xt(c);
            }
        }
    }
    for r in 0..k {
        for c in 0..r {
            a[c * k + r] = a[r * k + c];
        }
        // A whisper of ridge keeps an all-zero indicator column solvable.
        a[r * k + r] += 1e-9 * n as f64;
    }
    let coef = crate::linalg::solve(a.clone(), b, k)?;
    let resid: Vec<f64> = (0..n)
        .map(|i| {
            let row = x.row(i);
            y[i] - coef[0] - row.iter().zip(&coef[1..]).map(|(v, c)| v * c).sum::<f64>()
        })
        .collect();
    let sigma2 = resid.iter().map(|r| r * r).sum::<f64>() / (n - k) as f64;
    let smearing = resid.iter().map(|r| r.exp()).sum::<f64>() / n as f64;
    a.iter_mut().for_each(|v| *v /= sigma2.max(1e-12));
    Some((Gaussian::from_precision(coef, a)?, smearing))
}

#[cfg(test)]
mod tests;
