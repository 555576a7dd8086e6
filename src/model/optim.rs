//! The optimiser arithmetic the learners share (logistic, MLP, the pipeline's sparse and dense
//! learners, FTRL's shuffled epochs): one seeded shuffle and one Adam step, so every learner
//! uses the same constants and the same order of floating-point operations (results stay bit
//! for bit what they were when each learner had its own copy).

use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::RngExt;

/// Adam's moment decay rates and denominator guard (Kingma and Ba's defaults).
pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

/// Fisher–Yates with the seeded generator: the same draws in the same order for a seed.
pub fn shuffle(order: &mut [usize], rng: &mut Prng) {
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
}

/// Adam's bias corrections (1 - β1^t, 1 - β2^t) after step `t` (from 1).
pub fn bias_corrections(t: i32) -> (f64, f64) {
    (1.0 - f64::powi(BETA1, t), 1.0 - f64::powi(BETA2, t))
}

/// One Adam step of one coordinate with gradient `g`: updates its moments and returns the
/// amount to subtract from the parameter.
#[inline]
pub fn adam_step(g: f64, m: &mut f64, v: &mut f64, rate: f64, (c1, c2): (f64, f64)) -> f64 {
    *m = BETA1 * *m + (1.0 - BETA1) * g;
    *v = BETA2 * *v + (1.0 - BETA2) * g * g;
    rate * (*m / c1) / ((*v / c2).sqrt() + EPS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_first_adam_step_moves_by_the_rate_in_the_gradients_direction() {
        let (mut m, mut v) = (0.0, 0.0);
        let step = adam_step(-4.0, &mut m, &mut v, 0.1, bias_corrections(1));
        // m̂ = g, v̂ = g², so the step is rate·g/(|g| + eps).
        assert!((step + 0.1 * 4.0 / (4.0 + EPS)).abs() < 1e-15);
    }

    #[test]
    fn shuffle_is_a_permutation_fixed_by_the_seed() {
        let mut a: Vec<usize> = (0..50).collect();
        let mut b = a.clone();
        shuffle(&mut a, &mut Prng::seed_from_u64(4));
        shuffle(&mut b, &mut Prng::seed_from_u64(4));
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(a, sorted);
    }
}
