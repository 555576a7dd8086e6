//! A seeded simulated shop for checking targeting: users whose response to a discount depends
//! on their features, so that the deepest offer is not the best for everyone and the users
//! most likely to buy are not the ones a discount moves.
//!
//! Per user: loyalty x1 and price sensitivity x2 (uniform on [-1, 1]), a basket value, a
//! margin. Without an offer the user buys with p0 = logistic(-1 + 1.8 x1). Offer k gives a
//! discount d_k and lifts the purchase probability by
//! `reach * (1 - exp(-d_k / knee))`, where `reach` grows with x2 and shrinks with loyalty
//! ("sure things" barely move) and `knee` sets how early the response saturates. The
//! incremental value is expected profit with the offer minus without; the expected cost is
//! the discount paid, `p_k * basket * d_k` (the sure things are paid too).

use super::{BudgetError, Targeting};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};

/// The discounts of the simulated offers after "no offer": 5%, 10%, 20%.
pub const DISCOUNTS: [f64; 3] = [0.05, 0.10, 0.20];

/// A simulated shop: the targeting table and each user's purchase propensity p0.
#[derive(Debug, Clone)]
pub struct Shop {
    pub targeting: Targeting,
    pub propensity: Vec<f64>,
}

/// `users` users from `seed`, offers `0` (none) and [`DISCOUNTS`].
pub fn simulate(users: usize, seed: u64) -> Result<Shop, BudgetError> {
    simulate_discounts(users, &DISCOUNTS, seed)
}

/// [`simulate`] with other discounts after "no offer" (the benchmark's `--offers`).
pub fn simulate_discounts(users: usize, discounts: &[f64], seed: u64) -> Result<Shop, BudgetError> {
    let mut rng = Prng::seed_from_u64(seed);
    let k = discounts.len() + 1;
    let mut value = Vec::with_capacity(users * k);
    let mut cost = Vec::with_capacity(users * k);
    let mut propensity = Vec::with_capacity(users);
    for _ in 0..users {
        let x1 = 2.0 * rng.random::<f64>() - 1.0;
        let x2 = 2.0 * rng.random::<f64>() - 1.0;
        let basket = 30.0 + 120.0 * rng.random::<f64>();
        let margin = 0.30 + 0.15 * rng.random::<f64>();
        let p0 = 1.0 / (1.0 + (1.0 - 1.8 * x1).exp());
        let reach = (0.25 * (1.0 + x2) * (1.0 - 0.7 * p0)).max(0.0);
        let knee = 0.03 + 0.12 * rng.random::<f64>();
        value.push(0.0);
        cost.push(0.0);
        for &d in discounts {
            let p = (p0 + reach * (1.0 - (-d / knee).exp())).min(0.99);
            value.push(p * basket * (margin - d) - p0 * basket * margin);
            cost.push(p * basket * d);
        }
        propensity.push(p0);
    }
    Ok(Shop {
        targeting: Targeting::new(users, k, value, cost)?,
        propensity,
    })
}
