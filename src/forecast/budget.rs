//! Budget-constrained targeting: choose per user one offer (or none) so that the total
//! expected cost stays within a budget and the total predicted incremental value is as large
//! as possible — a multiple-choice knapsack.
//!
//! Two ways in, one answer:
//! - [`CostCurve`]: the solution path over all budgets. Each user's (cost, value) points are
//!   reduced to their upper convex hull from "no offer" (dominated offers dropped); each hull
//!   edge is an upgrade with an efficiency (value per unit of cost). Merging every user's
//!   upgrades by efficiency gives the LP-relaxation path: spend -> value, built in
//!   O(NK log NK). [`CostCurve::allocate`] reads it for one budget.
//! - [`solve_lagrangian`]: for a price λ ≥ 0 on cost each user picks argmax_k v_ik − λ c_ik;
//!   λ is bisected until the total cost fits, then the rest of the budget is filled as below.
//!
//! Integrality at the boundary: the upgrades are walked in efficiency order; an upgrade that
//! still fits is taken; the first one that does not fit marks its user the *boundary user*,
//! who stays at its current offer for good (its later upgrades build on the one it missed),
//! and the walk goes on, taking any other user's upgrade that still fits. The answer is
//! feasible and at most one upgrade (so at most one user's value) below the LP bound.
//!
//! The two baselines the operator knows — "the deepest offer to the top-N by uplift" and "the
//! offer to the top-N by purchase propensity" — are [`top_by_uplift`] and
//! [`top_by_propensity`], spending the same budget.

pub mod exact;
pub mod shop;

use std::cmp::Ordering;

/// Why a targeting problem was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetError {
    #[error("the targeting table needs at least one user and the \"no offer\" column (offer 0)")]
    Empty,
    #[error("the targeting table has {got} values and {got_cost} costs; {users} users x {offers} offers needs {need} of each")]
    Shape {
        users: usize,
        offers: usize,
        need: usize,
        got: usize,
        got_cost: usize,
    },
    #[error("user {user}: offer 0 is \"no offer\" and must have value 0 and cost 0 (got value {value}, cost {cost})")]
    NoOfferNotZero { user: usize, value: f64, cost: f64 },
    #[error("user {user}, offer {offer}: value and cost must be finite numbers")]
    NotFinite { user: usize, offer: usize },
    #[error("user {user}, offer {offer}: expected cost {cost} is negative; costs must be >= 0")]
    NegativeCost {
        user: usize,
        offer: usize,
        cost: f64,
    },
    #[error("the budget must be a finite number >= 0 (got {0})")]
    BadBudget(f64),
    #[error("offer {offer} does not exist (offers are 0..{offers})")]
    NoSuchOffer { offer: usize, offers: usize },
    #[error("{got} purchase propensities given for {users} users; give one per user, finite")]
    Propensity { users: usize, got: usize },
}

/// Per user i and offer k, the predicted incremental value v_ik and expected cost c_ik, both
/// row-major (`i * offers + k`). Offer 0 is "no offer" (value 0, cost 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Targeting {
    users: usize,
    offers: usize,
    value: Vec<f64>,
    cost: Vec<f64>,
}

impl Targeting {
    /// Checks the table: shape, finiteness, costs ≥ 0, offer 0 = (0, 0).
    pub fn new(
        users: usize,
        offers: usize,
        value: Vec<f64>,
        cost: Vec<f64>,
    ) -> Result<Self, BudgetError> {
        if users == 0 || offers == 0 {
            return Err(BudgetError::Empty);
        }
        let need = users.saturating_mul(offers);
        if value.len() != need || cost.len() != need {
            return Err(BudgetError::Shape {
                users,
                offers,
                need,
                got: value.len(),
                got_cost: cost.len(),
            });
        }
        for (j, (&v, &c)) in value.iter().zip(&cost).enumerate() {
            let (user, offer) = (j / offers, j % offers);
            if !v.is_finite() || !c.is_finite() {
                return Err(BudgetError::NotFinite { user, offer });
            }
            if c < 0.0 {
                return Err(BudgetError::NegativeCost {
                    user,
                    offer,
                    cost: c,
                });
            }
            if offer == 0 && (v != 0.0 || c != 0.0) {
                return Err(BudgetError::NoOfferNotZero {
                    user,
                    value: v,
                    cost: c,
                });
            }
        }
        Ok(Self {
            users,
            offers,
            value,
            cost,
        })
    }

    pub fn users(&self) -> usize {
        self.users
    }

    pub fn offers(&self) -> usize {
        self.offers
    }

    /// All values, row-major (`user * offers + offer`).
    pub fn values(&self) -> &[f64] {
        &self.value
    }

    /// All costs, row-major (`user * offers + offer`).
    pub fn costs(&self) -> &[f64] {
        &self.cost
    }

    pub fn value(&self, user: usize, offer: usize) -> f64 {
        self.value[user * self.offers + offer]
    }

    pub fn cost(&self, user: usize, offer: usize) -> f64 {
        self.cost[user * self.offers + offer]
    }

    /// Totals of a given choice (one offer per user); offers out of range count as none.
    pub fn totals(&self, choice: &[u32]) -> (f64, f64) {
        let (mut spend, mut value) = (0.0, 0.0);
        for (i, &k) in choice.iter().enumerate().take(self.users) {
            let k = k as usize;
            if k < self.offers {
                spend += self.cost(i, k);
                value += self.value(i, k);
            }
        }
        (spend, value)
    }
}

/// One user's chosen offers and the totals.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Per user, the chosen offer (0 = none).
    pub choice: Vec<u32>,
    pub spend: f64,
    pub value: f64,
    /// The user whose next upgrade was the first not to fit (see the module docs), if any.
    pub boundary_user: Option<usize>,
}

/// A point of the cost curve: total spend and total value after an upgrade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub spend: f64,
    pub value: f64,
}

/// One hull edge of one user: move from hull vertex `to - 1` to `to`.
#[derive(Debug, Clone, Copy)]
struct Upgrade {
    user: u32,
    to: u32,
    dc: f64,
    dv: f64,
    slope: f64,
}

/// The solution path over all budgets (see the module docs).
#[derive(Debug, Clone)]
pub struct CostCurve {
    /// Per user, its hull vertices (offer indices) are `vertex[start[i]..start[i + 1]]`;
    /// the first is always offer 0.
    vertex: Vec<u32>,
    start: Vec<usize>,
    upgrades: Vec<Upgrade>,
    points: Vec<CurvePoint>,
}

impl CostCurve {
    /// Hulls, upgrades sorted by efficiency, and the curve's points: O(NK log NK).
    pub fn build(t: &Targeting) -> Self {
        let (n, k) = (t.users, t.offers);
        let mut vertex = Vec::with_capacity(n * 2);
        let mut start = Vec::with_capacity(n + 1);
        let mut upgrades = Vec::with_capacity(n * (k - 1));
        let mut order: Vec<u32> = Vec::with_capacity(k);
        for i in 0..n {
            start.push(vertex.len());
            let first = vertex.len();
            vertex.push(0);
            order.clear();
            order.extend(1..k as u32);
            // cost ascending, value descending: of equal-cost offers the best comes first
            order.sort_unstable_by(|&a, &b| {
                let (a, b) = (a as usize, b as usize);
                t.cost(i, a)
                    .total_cmp(&t.cost(i, b))
                    .then(t.value(i, b).total_cmp(&t.value(i, a)))
            });
            for &o in &order {
                let (pc, pv) = (t.cost(i, o as usize), t.value(i, o as usize));
                let last = vertex[vertex.len() - 1] as usize;
                if pv <= t.value(i, last) {
                    continue; // costs at least as much, brings no more: dominated
                }
                while vertex.len() - first >= 2 {
                    let b = vertex[vertex.len() - 1] as usize;
                    let a = vertex[vertex.len() - 2] as usize;
                    let (ax, ay) = (t.cost(i, a), t.value(i, a));
                    let (bx, by) = (t.cost(i, b), t.value(i, b));
                    let cross = (bx - ax) * (pv - ay) - (by - ay) * (pc - ax);
                    if cross >= 0.0 {
                        vertex.pop(); // b is on or under the chord a -> p
                    } else {
                        break;
                    }
                }
                vertex.push(o);
            }
            for j in first + 1..vertex.len() {
                let (a, b) = (vertex[j - 1] as usize, vertex[j] as usize);
                let dc = t.cost(i, b) - t.cost(i, a);
                let dv = t.value(i, b) - t.value(i, a);
                let slope = if dc > 0.0 { dv / dc } else { f64::INFINITY };
                upgrades.push(Upgrade {
                    user: i as u32,
                    to: (j - first) as u32,
                    dc,
                    dv,
                    slope,
                });
            }
        }
        start.push(vertex.len());
        upgrades.sort_unstable_by(|a, b| {
            b.slope
                .total_cmp(&a.slope)
                .then(a.user.cmp(&b.user))
                .then(a.to.cmp(&b.to))
        });
        let mut points = Vec::with_capacity(upgrades.len() + 1);
        let (mut spend, mut value) = (0.0, 0.0);
        points.push(CurvePoint { spend, value });
        for u in &upgrades {
            spend += u.dc;
            value += u.dv;
            points.push(CurvePoint { spend, value });
        }
        Self {
            vertex,
            start,
            upgrades,
            points,
        }
    }

    /// The cost curve: (0, 0), then the totals after each upgrade in efficiency order. Its
    /// points are exactly what [`CostCurve::allocate`] returns at their spends.
    pub fn points(&self) -> &[CurvePoint] {
        &self.points
    }

    /// The LP-relaxation bound at `budget`: the curve interpolated (flat past its end).
    pub fn lp_bound(&self, budget: f64) -> f64 {
        let j = self.points.partition_point(|p| p.spend <= budget);
        let (Some(a), Some(b)) = (self.points.get(j.wrapping_sub(1)), self.points.get(j)) else {
            return self.points.last().map_or(0.0, |p| p.value);
        };
        let width = b.spend - a.spend;
        if width > 0.0 {
            a.value + (b.value - a.value) * (budget - a.spend) / width
        } else {
            a.value
        }
    }

    /// The integral allocation at `budget` (module docs, "Integrality at the boundary").
    pub fn allocate(&self, budget: f64) -> Result<Allocation, BudgetError> {
        check_budget(budget)?;
        let mut at = vec![0u32; self.start.len() - 1];
        Ok(self.fill(&mut at, 0.0, 0.0, budget))
    }

    /// [`CostCurve::allocate`], then repaired at the boundary and the leftover spent:
    ///
    /// 1. For each of the first [`REPAIR_USERS`] users whose upgrade did not fit (the
    ///    boundary user first) and each of its offers (on the hull or not), that user is held
    ///    at that offer and the others are filled again in efficiency order with what is left
    ///    — which undoes the least efficient upgrades of the others when the held offer costs
    ///    more. The best of these and the plain answer is kept. This is where the plain walk
    ///    loses most: one user's large upgrade that just misses the budget.
    /// 2. What is left is spent by single moves: repeatedly the one change of one user's offer
    ///    that fits and gains the most (at most `offers` moves).
    ///
    /// Never worse than `allocate`, never over budget; O(REPAIR_USERS · K · NK) after the
    /// curve, so linear in the users.
    pub fn allocate_refined(&self, t: &Targeting, budget: f64) -> Result<Allocation, BudgetError> {
        check_budget(budget)?;
        let n = self.start.len() - 1;
        let mut at = vec![0u32; n];
        let (mut best, stuck) = self.fill_tracked(&mut at, 0.0, 0.0, budget, None);
        for &held in &stuck {
            for k in 0..t.offers {
                let (c, v) = (t.cost(held, k), t.value(held, k));
                if c > budget {
                    continue;
                }
                at.iter_mut().for_each(|p| *p = 0);
                let (mut a, _) = self.fill_tracked(&mut at, c, v, budget, Some(held));
                a.choice[held] = k as u32;
                if a.value > best.value {
                    best = a;
                }
            }
        }
        let mut a = best;
        for _ in 0..t.offers {
            let left = budget - a.spend;
            let mut best: Option<(usize, usize, f64, f64)> = None;
            for (i, &now) in a.choice.iter().enumerate() {
                let (c0, v0) = (t.cost(i, now as usize), t.value(i, now as usize));
                for k in 0..t.offers {
                    let (dc, dv) = (t.cost(i, k) - c0, t.value(i, k) - v0);
                    if dc <= left && dv > best.map_or(0.0, |b| b.3) {
                        best = Some((i, k, dc, dv));
                    }
                }
            }
            let Some((i, k, dc, dv)) = best else { break };
            a.choice[i] = k as u32;
            a.spend += dc;
            a.value += dv;
        }
        Ok(a)
    }

    /// The answer to use: [`CostCurve::allocate_refined`], and for tables of at most
    /// [`exact::EXACT_USERS`] users the exact optimum by branch and bound from it
    /// ([`exact::solve_exact`], stopped at [`exact::NODE_LIMIT`] nodes with the best so far).
    pub fn allocate_best(&self, t: &Targeting, budget: f64) -> Result<Allocation, BudgetError> {
        let refined = self.allocate_refined(t, budget)?;
        if t.users > exact::EXACT_USERS {
            return Ok(refined);
        }
        Ok(exact::solve_exact(self, t, budget, &refined, exact::NODE_LIMIT)?.allocation)
    }

    fn offer_at(&self, user: usize, pos: u32) -> u32 {
        self.vertex[self.start[user] + pos as usize]
    }

    /// Walks the upgrades in order from the hull positions `at` (which spend `spent` and
    /// bring `gained`). Totals are summed in the curve's order, so at a curve point's spend
    /// `allocate` gives that point back exactly.
    fn fill(&self, at: &mut [u32], spent: f64, gained: f64, budget: f64) -> Allocation {
        self.fill_tracked(at, spent, gained, budget, None).0
    }

    /// [`CostCurve::fill`], leaving user `held` out of the walk (its offer is the caller's),
    /// and also naming the first [`REPAIR_USERS`] users that got stuck, in walk order.
    fn fill_tracked(
        &self,
        at: &mut [u32],
        mut spent: f64,
        mut gained: f64,
        budget: f64,
        held: Option<usize>,
    ) -> (Allocation, Vec<usize>) {
        const STUCK: u32 = 1 << 31;
        let mut stuck = Vec::new();
        if let Some(h) = held {
            at[h] = STUCK;
        }
        for u in &self.upgrades {
            let i = u.user as usize;
            if at[i] & STUCK != 0 || at[i] + 1 != u.to {
                continue; // already past this upgrade, or stuck at the boundary
            }
            if spent + u.dc <= budget {
                spent += u.dc;
                gained += u.dv;
                at[i] = u.to;
            } else {
                if stuck.len() < REPAIR_USERS {
                    stuck.push(i);
                }
                at[i] |= STUCK; // its later upgrades build on this one: it stays put
            }
        }
        let choice = at
            .iter()
            .enumerate()
            .map(|(i, &p)| self.offer_at(i, p & !STUCK))
            .collect();
        let boundary_user = stuck.first().copied();
        (
            Allocation {
                choice,
                spend: spent,
                value: gained,
                boundary_user,
            },
            stuck,
        )
    }
}

/// How many of the users stuck at the boundary [`CostCurve::allocate_refined`] tries to
/// repair: the gap to the optimum sits with the first few large upgrades that just miss.
pub const REPAIR_USERS: usize = 4;

fn check_budget(budget: f64) -> Result<(), BudgetError> {
    if budget.is_finite() && budget >= 0.0 {
        Ok(())
    } else {
        Err(BudgetError::BadBudget(budget))
    }
}

/// The Lagrangian way in: bisect the price λ on cost until every user's argmax_k
/// v_ik − λ c_ik fits in `budget`, then fill what is left along the efficiency order. Gives
/// the same allocation as `curve.allocate(budget)`.
pub fn solve_lagrangian(
    curve: &CostCurve,
    t: &Targeting,
    budget: f64,
) -> Result<Allocation, BudgetError> {
    check_budget(budget)?;
    let n = t.users;
    let mut at = vec![0u32; n];
    // each user's hull position at price λ and the total it spends; no allocation per step
    let spend_at = |lambda: f64, at: &mut [u32]| -> f64 {
        let mut total = 0.0;
        for (i, pos) in at.iter_mut().enumerate() {
            let hull = &curve.vertex[curve.start[i]..curve.start[i + 1]];
            let (mut best, mut best_score, mut best_cost) = (0u32, 0.0, 0.0);
            for (j, &o) in hull.iter().enumerate().skip(1) {
                let (c, v) = (t.cost(i, o as usize), t.value(i, o as usize));
                // strictly better only: at a tie the cheaper vertex stays, as on the path
                if v - lambda * c > best_score {
                    (best, best_score, best_cost) = (j as u32, v - lambda * c, c);
                }
            }
            *pos = best;
            total += best_cost;
        }
        total
    };
    let top = curve
        .upgrades
        .iter()
        .map(|u| u.slope)
        .find(|s| s.is_finite())
        .unwrap_or(0.0);
    let (mut lo, mut hi) = (0.0_f64, top.max(0.0) * 2.0 + 1.0);
    if spend_at(0.0, &mut at) > budget {
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if spend_at(mid, &mut at) <= budget {
                hi = mid;
            } else {
                lo = mid;
            }
            if hi - lo <= 1e-15 * hi {
                break;
            }
        }
        spend_at(hi, &mut at);
    }
    let (spent, gained) = at.iter().enumerate().fold((0.0, 0.0), |(s, v), (i, &p)| {
        let o = curve.offer_at(i, p) as usize;
        (s + t.cost(i, o), v + t.value(i, o))
    });
    Ok(curve.fill(&mut at, spent, gained, budget))
}

/// Baseline: give `offer` (say the deepest) to users ranked by its uplift v_i,offer, best
/// first, only those with positive uplift, down the ranking while the budget lasts (a user
/// whose offer no longer fits is skipped).
pub fn top_by_uplift(t: &Targeting, offer: usize, budget: f64) -> Result<Allocation, BudgetError> {
    check_offer(t, offer)?;
    let mut rank: Vec<usize> = (0..t.users).filter(|&i| t.value(i, offer) > 0.0).collect();
    rank.sort_by(|&a, &b| desc(t.value(a, offer), t.value(b, offer)).then(a.cmp(&b)));
    give_down(t, &rank, offer, budget)
}

/// Baseline: give `offer` to users ranked by purchase propensity, highest first, while the
/// budget lasts (a user whose offer no longer fits is skipped).
pub fn top_by_propensity(
    t: &Targeting,
    propensity: &[f64],
    offer: usize,
    budget: f64,
) -> Result<Allocation, BudgetError> {
    check_offer(t, offer)?;
    if propensity.len() != t.users || propensity.iter().any(|p| !p.is_finite()) {
        return Err(BudgetError::Propensity {
            users: t.users,
            got: propensity.len(),
        });
    }
    let mut rank: Vec<usize> = (0..t.users).collect();
    rank.sort_by(|&a, &b| desc(propensity[a], propensity[b]).then(a.cmp(&b)));
    give_down(t, &rank, offer, budget)
}

fn desc(a: f64, b: f64) -> Ordering {
    b.total_cmp(&a)
}

fn check_offer(t: &Targeting, offer: usize) -> Result<(), BudgetError> {
    if offer < t.offers {
        Ok(())
    } else {
        Err(BudgetError::NoSuchOffer {
            offer,
            offers: t.offers,
        })
    }
}

fn give_down(
    t: &Targeting,
    rank: &[usize],
    offer: usize,
    budget: f64,
) -> Result<Allocation, BudgetError> {
    check_budget(budget)?;
    let mut choice = vec![0u32; t.users];
    let (mut spend, mut value) = (0.0, 0.0);
    for &i in rank {
        let c = t.cost(i, offer);
        if spend + c <= budget {
            spend += c;
            value += t.value(i, offer);
            choice[i] = offer as u32;
        }
    }
    Ok(Allocation {
        choice,
        spend,
        value,
        boundary_user: None,
    })
}
