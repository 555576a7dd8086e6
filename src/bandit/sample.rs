//! Seeded draws from the posteriors, for what must be random: the simulated environments, the
//! Monte Carlo check of top-two Thompson, and the naive baseline the exact weights are measured
//! against (P(best) from 10,000 posterior draws per update, as GrowthBook computes it). The
//! policies themselves never draw. The generator is the caller's (`rand`, seeded).

use super::{posterior, ArmStats};
use crate::domain::RewardKind;
use rand::{Rng, RngExt};

/// A standard normal draw (Box–Muller; one of the pair is used, which keeps the generator's
/// state the only state).
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u = 1.0 - rng.random::<f64>(); // (0, 1]
    let v = rng.random::<f64>();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A Gamma(shape, 1) draw by Marsaglia and Tsang's squeeze (2000); below shape 1 by the
/// boost Gamma(a) = Gamma(a + 1)·U^(1/a).
pub fn gamma<R: Rng + ?Sized>(rng: &mut R, shape: f64) -> f64 {
    if !(shape > 0.0 && shape.is_finite()) {
        return f64::NAN;
    }
    if shape < 1.0 {
        let u = 1.0 - rng.random::<f64>();
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = standard_normal(rng);
        let v = 1.0 + c * z;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = 1.0 - rng.random::<f64>();
        let z2 = z * z;
        if u < 1.0 - 0.0331 * z2 * z2 || u.ln() < 0.5 * z2 + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
}

/// A Beta(a, b) draw as X / (X + Y) of two Gamma draws.
pub fn beta<R: Rng + ?Sized>(rng: &mut R, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    x / (x + y)
}

/// One draw of every arm's mean from its posterior (the model of `posterior`), into `out`;
/// `false` if the posterior is undefined.
pub fn draw_means<R: Rng + ?Sized>(
    rng: &mut R,
    reward: RewardKind,
    arms: &[ArmStats],
    out: &mut Vec<f64>,
) -> bool {
    out.clear();
    if reward.is_binary() {
        for a in arms {
            match posterior::beta(a) {
                Some(p) => out.push(beta(rng, p.alpha(), p.beta())),
                None => return false,
            }
        }
        true
    } else {
        match posterior::gaussian(arms) {
            Some(normals) => {
                out.extend(normals.iter().map(|&(m, sd)| m + sd * standard_normal(rng)));
                true
            }
            None => false,
        }
    }
}

/// The naive baseline: P(best) as the share of `draws` joint posterior draws in which each arm
/// had the highest mean. Its error on a weight w is about sqrt(w(1 - w)/draws): 10% relative at
/// w = 1% with 10,000 draws. `None` if the posterior is undefined or `draws` is 0.
pub fn monte_carlo_p_best<R: Rng + ?Sized>(
    rng: &mut R,
    reward: RewardKind,
    arms: &[ArmStats],
    draws: usize,
) -> Option<Vec<f64>> {
    if draws == 0 || arms.is_empty() {
        return None;
    }
    let mut wins = vec![0u64; arms.len()];
    let mut means = Vec::with_capacity(arms.len());
    for _ in 0..draws {
        if !draw_means(rng, reward, arms, &mut means) {
            return None;
        }
        let best = means
            .iter()
            .enumerate()
            .fold(0, |b, (i, &m)| if m > means[b] { i } else { b });
        wins[best] += 1;
    }
    Some(wins.iter().map(|&w| w as f64 / draws as f64).collect())
}
