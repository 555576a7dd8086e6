//! The exact optimum for small targeting tables: depth-first branch and bound over users,
//! pruned by the LP bound of the users not yet decided (the cost curve restricted to them).
//!
//! Why: on a handful of users one upgrade that just misses the budget can be a large share of
//! the optimum, and no single-pass rule recovers it every time; with few users the exact
//! answer is cheap. A node limit keeps it bounded: past it the best answer found so far (never
//! worse than the heuristic it starts from) is returned and marked as not proven.

use super::{check_budget, Allocation, BudgetError, CostCurve, Targeting};

/// Tables with at most this many users get the exact search in [`CostCurve::allocate_best`].
pub const EXACT_USERS: usize = 40;

/// Nodes the search may visit before it stops with the best answer so far.
pub const NODE_LIMIT: usize = 500_000;

/// An answer of [`solve_exact`]: the allocation and whether it is proven optimal.
#[derive(Debug, Clone, PartialEq)]
pub struct Exact {
    pub allocation: Allocation,
    /// False when the node limit stopped the search first.
    pub proven: bool,
    pub nodes: usize,
}

struct Search<'a> {
    t: &'a Targeting,
    curve: &'a CostCurve,
    /// Users in branching order (largest single value first: big decisions high in the tree).
    order: Vec<usize>,
    /// Per user, its depth in `order`.
    depth_of: Vec<usize>,
    /// Per user, its offers worth trying (positive value), most valuable first, then none.
    offers: Vec<Vec<u32>>,
    pick: Vec<u32>,
    best_choice: Vec<u32>,
    best_value: f64,
    nodes: usize,
    limit: usize,
}

impl Search<'_> {
    /// LP bound of the users at depth >= `d` with `left` to spend: their hull upgrades in
    /// efficiency order, the first that does not fit taken in part.
    fn bound(&self, d: usize, left: f64) -> f64 {
        let (mut spend, mut gain) = (0.0, 0.0);
        for u in &self.curve.upgrades {
            if self.depth_of[u.user as usize] < d {
                continue;
            }
            if spend + u.dc <= left {
                spend += u.dc;
                gain += u.dv;
            } else {
                if u.dc > 0.0 {
                    gain += u.dv * (left - spend) / u.dc;
                }
                break;
            }
        }
        gain
    }

    fn visit(&mut self, d: usize, left: f64, value: f64) {
        self.nodes += 1;
        if d == self.order.len() {
            if value > self.best_value {
                self.best_value = value;
                self.best_choice.clone_from(&self.pick);
            }
            return;
        }
        if self.nodes > self.limit {
            return;
        }
        // a relative margin so that rounding never prunes a real improvement away
        let slack = 1e-12 * (1.0 + self.best_value.abs());
        if value + self.bound(d, left) <= self.best_value + slack {
            return;
        }
        let i = self.order[d];
        for j in 0..self.offers[i].len() {
            let k = self.offers[i][j] as usize;
            let c = self.t.cost(i, k);
            if c <= left {
                self.pick[i] = k as u32;
                self.visit(d + 1, left - c, value + self.t.value(i, k));
            }
        }
        self.pick[i] = 0;
    }
}

/// The exact optimum at `budget`, starting from `start` (a feasible allocation, say the
/// heuristic's) as the answer to beat; `limit` caps the nodes visited.
pub fn solve_exact(
    curve: &CostCurve,
    t: &Targeting,
    budget: f64,
    start: &Allocation,
    limit: usize,
) -> Result<Exact, BudgetError> {
    check_budget(budget)?;
    let n = t.users();
    let best_of = |i: usize| (0..t.offers()).map(|k| t.value(i, k)).fold(0.0, f64::max);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| best_of(b).total_cmp(&best_of(a)).then(a.cmp(&b)));
    let mut depth_of = vec![0; n];
    for (d, &i) in order.iter().enumerate() {
        depth_of[i] = d;
    }
    let offers = (0..n)
        .map(|i| {
            let mut ks: Vec<u32> = (1..t.offers() as u32)
                .filter(|&k| t.value(i, k as usize) > 0.0)
                .collect();
            ks.sort_by(|&a, &b| t.value(i, b as usize).total_cmp(&t.value(i, a as usize)));
            ks.push(0);
            ks
        })
        .collect();
    let mut s = Search {
        t,
        curve,
        order,
        depth_of,
        offers,
        pick: vec![0; n],
        best_choice: start.choice.clone(),
        best_value: start.value,
        nodes: 0,
        limit,
    };
    s.visit(0, budget, 0.0);
    let proven = s.nodes <= s.limit;
    let improved = s.best_choice != start.choice;
    let (spend, value) = t.totals(&s.best_choice);
    if !improved || spend > budget {
        // nothing better than the start; or, summed in another order, the better answer's
        // spend landed an ulp over the budget (then it is not proven to be the optimum)
        return Ok(Exact {
            allocation: start.clone(),
            proven: proven && !improved,
            nodes: s.nodes,
        });
    }
    Ok(Exact {
        allocation: Allocation {
            choice: s.best_choice,
            spend,
            value,
            boundary_user: None,
        },
        proven,
        nodes: s.nodes,
    })
}
