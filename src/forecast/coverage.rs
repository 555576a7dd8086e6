//! The forecast's proof by simulation: train on earlier campaigns run in the simulated shop,
//! forecast plans that have not run, then run each plan on new shoppers and compare with the
//! truth the simulator knows in closed form (`sim::expectation`). Over many seeded plans the
//! truth should fall inside the 80% interval about 80% of the time and inside the 95% one
//! about 95%. A fast version runs as a test; the long one is `liftdeck bench forecast`.
//! Pure: seeded, no I/O.

use super::effect::{self, DrawOptions, EffectError, History, HistoryUnit};
use super::plan::{Audience, Condition, Plan, Traffic};
use super::projection::{PlanForecast, Training};
use crate::domain::{Offer, StandardKind};
use crate::sim::{expectation_in, Season, Shop, Shopper};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};

#[derive(Debug, Clone, Copy)]
pub struct CoverageConfig {
    /// Independent training histories, each with its own plans.
    pub trainings: usize,
    pub plans_per_training: usize,
    /// Past campaigns per history, each a control and two offers.
    pub campaigns: usize,
    pub units_per_arm: usize,
    pub draws: usize,
    /// Audience units scored per draw.
    pub max_sample: usize,
    /// How much campaigns differ (`sim::Season` drawn per campaign, past and planned): SD of
    /// the baseline log-odds shift and of the log of the lift's multiplier.
    pub season_sd: (f64, f64),
    pub seed: u64,
}

impl CoverageConfig {
    /// The size the test suite runs (200 plans).
    pub fn fast() -> Self {
        CoverageConfig {
            trainings: 40,
            plans_per_training: 5,
            campaigns: 4,
            units_per_arm: 500,
            draws: 120,
            max_sample: 800,
            season_sd: (0.1, 0.25),
            seed: 1,
        }
    }
}

/// One plan's forecast against its truth.
#[derive(Debug, Clone)]
pub struct PlanCheck {
    pub plan: Plan,
    pub truth_incremental: f64,
    pub truth_profit: f64,
    pub forecast: PlanForecast,
}

impl PlanCheck {
    pub fn inside(&self) -> [bool; 4] {
        let c = &self.forecast.incremental_conversions;
        let p = &self.forecast.incremental_profit;
        [
            c.contains_80(self.truth_incremental),
            c.contains_95(self.truth_incremental),
            p.contains_80(self.truth_profit),
            p.contains_95(self.truth_profit),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct CoverageResult {
    pub checks: Vec<PlanCheck>,
}

impl CoverageResult {
    /// Shares inside: incremental conversions 80%, 95%; incremental profit 80%, 95%.
    pub fn shares(&self) -> [f64; 4] {
        let n = self.checks.len().max(1) as f64;
        let mut hits = [0usize; 4];
        for c in &self.checks {
            for (h, inside) in hits.iter_mut().zip(c.inside()) {
                *h += usize::from(inside);
            }
        }
        hits.map(|h| h as f64 / n)
    }
}

const DEPTHS: [f64; 6] = [5.0, 10.0, 15.0, 20.0, 25.0, 30.0];

fn random_offer(rng: &mut Prng) -> Offer {
    let pct = DEPTHS[rng.random_range(0..DEPTHS.len())];
    if rng.random::<f64>() < 0.5 {
        Offer::Coupon { pct }
    } else {
        Offer::Discount { pct }
    }
}

fn season(rng: &mut Prng, sd: (f64, f64)) -> Season {
    let normal = |rng: &mut Prng| crate::bandit::sample::standard_normal(rng);
    Season {
        baseline: sd.0 * normal(rng),
        effect: sd.1 * normal(rng),
    }
}

/// One unit's outcome in the simulated shop.
fn unit(
    shop: &mut Shop,
    s: &Shopper,
    offer: &Offer,
    campaign: usize,
    season: Season,
) -> HistoryUnit {
    let events = shop.visit_in(s, offer, season);
    let purchase = events.iter().find(|e| e.kind == StandardKind::Purchase);
    HistoryUnit {
        campaign,
        context: s.context(),
        offer: offer.clone(),
        converted: purchase.is_some(),
        revenue: purchase.map_or(0.0, |e| e.value),
        cost: purchase.map_or(0.0, |e| e.cost),
    }
}

/// A history of `campaigns` past A/B tests, each a control and two random offers, all in the
/// shop's average season.
pub fn simulated_history(seed: u64, campaigns: usize, units_per_arm: usize) -> History {
    seasonal_history(seed, campaigns, units_per_arm, (0.0, 0.0))
}

/// `simulated_history` with each campaign in its own season (`season_sd` as in the config).
pub fn seasonal_history(
    seed: u64,
    campaigns: usize,
    units_per_arm: usize,
    season_sd: (f64, f64),
) -> History {
    let mut rng = Prng::seed_from_u64(seed);
    let mut h = History::default();
    for c in 0..campaigns {
        let mut shop = Shop::new(seed.wrapping_mul(1000).wrapping_add(c as u64));
        let arms = [Offer::None, random_offer(&mut rng), random_offer(&mut rng)];
        let mood = season(&mut rng, season_sd);
        h.campaigns.push(format!("past-{c}"));
        for _ in 0..units_per_arm * arms.len() {
            let s = shop.next_shopper();
            let arm = &arms[rng.random_range(0..arms.len())];
            h.units.push(unit(&mut shop, &s, arm, c, mood));
        }
    }
    h
}

fn audience(rng: &mut Prng) -> Audience {
    let mut a = Audience::default();
    let pick = rng.random_range(0..5);
    let cond = |f: &str, v: &str| (f.to_string(), Condition::Is(v.to_string()));
    let (f, c) = match pick {
        0 => return a,
        1 => cond("segment", "new"),
        2 => cond("segment", "returning"),
        3 => cond("device", "mobile"),
        _ => cond("region", "eu"),
    };
    a.0.insert(f, c);
    a
}

/// A plan within what the history tested: an offer type it ran, at a depth between the
/// shallowest and deepest tested.
fn plan_for(model: &effect::EffectModel, rng: &mut Prng, i: usize) -> Option<Plan> {
    let b = rng.random_range(0..model.types.len());
    let d = &model.support[b].depths;
    let (lo, hi) = (*d.first()?, *d.last()?);
    let pct = (lo + (hi - lo) * rng.random::<f64>()).round();
    let offer = match effect::OFFER_TYPES[model.types[b]] {
        "coupon" => Offer::Coupon { pct },
        _ => Offer::Discount { pct },
    };
    let users = [2_000.0, 5_000.0, 20_000.0][rng.random_range(0..3)];
    let traffic = Traffic {
        audience_size: Some(users),
        daily_users: None,
        days: None,
        cv: Some(0.0),
    };
    Some(Plan {
        audience: audience(rng),
        margin: 0.5,
        ..Plan::with_defaults(&format!("plan-{i}"), offer, traffic)
    })
}

/// The plan's truth: its offered users drawn fresh from the shop in a season of its own,
/// their expected incremental conversions and incremental profit summed in closed form.
pub fn truth(plan: &Plan, seed: u64, season_sd: (f64, f64)) -> (f64, f64) {
    let mut shop = Shop::new(seed);
    let mood = season(&mut Prng::seed_from_u64(seed ^ 0x5EA5_0115), season_sd);
    let offered = (plan.traffic.expected_users() * (1.0 - plan.holdout)).round() as usize;
    let (mut inc, mut profit, mut n) = (0.0, 0.0, 0);
    while n < offered {
        let s = shop.next_shopper();
        if !plan.audience.matches(&s.context()) {
            continue;
        }
        n += 1;
        let (with, without) = (
            expectation_in(&s, &plan.offer, mood),
            expectation_in(&s, &Offer::None, mood),
        );
        inc += with.purchase - without.purchase;
        let gross = |e: &crate::sim::Expectation| e.revenue + e.cost;
        profit += plan.margin * (gross(&with) - gross(&without)) - with.cost;
    }
    (inc, profit)
}

/// Runs the whole check.
pub fn run(cfg: &CoverageConfig) -> Result<CoverageResult, EffectError> {
    let mut checks = Vec::new();
    for t in 0..cfg.trainings {
        let seed = cfg.seed.wrapping_mul(7919).wrapping_add(t as u64);
        let history = seasonal_history(seed, cfg.campaigns, cfg.units_per_arm, cfg.season_sd);
        let model = effect::fit(&history)?;
        let mut rng = Prng::seed_from_u64(seed ^ 0xA5A5);
        for i in 0..cfg.plans_per_training {
            let Some(plan) = plan_for(&model, &mut rng, i) else {
                continue;
            };
            let contexts: Vec<_> = history
                .units
                .iter()
                .map(|u| &u.context)
                .filter(|c| plan.audience.matches(c))
                .cloned()
                .collect();
            let opts = DrawOptions {
                draws: cfg.draws,
                seed: seed.wrapping_add(i as u64),
                max_sample: cfg.max_sample,
            };
            let forecast = effect::forecast(&model, &plan, &contexts, Training::default(), &opts)?;
            let (truth_incremental, truth_profit) = truth(
                &plan,
                seed.wrapping_mul(31).wrapping_add(1_000_003 + i as u64),
                cfg.season_sd,
            );
            checks.push(PlanCheck {
                plan,
                truth_incremental,
                truth_profit,
                forecast,
            });
        }
    }
    Ok(CoverageResult { checks })
}
