//! The relative lift under the exact Beta-Binomial model: with independent posteriors
//! p_c ~ Beta(a_c, b_c) and p_t ~ Beta(a_t, b_t), the lift is L = p_t / p_c - 1. Everything a
//! report row shows about it comes from this one posterior:
//! - chance to beat control P(L > 0) = P(p_t > p_c) ([`super::prob_beats`]);
//! - the equal-tailed credible interval, quantiles of L from its distribution function
//!   P(L <= q) = ∫ f_c(x) F_t((1 + q) x) dx;
//! - the risk of shipping treatment, the expected relative shortfall E[max(0, -L)], as the 1-D
//!   integral ∫ f_c(x) [F_t(x) - E(p_t) F_t⁺(x) / x] dx, where t⁺ = Beta(a_t + 1, b_t)
//!   (from E[max(0, x - p_t)] = x F_t(x) - E(p_t) F_t⁺(x), since p·f_t(p) = E(p_t) f_t⁺(p)).
//!
//! Both integrals run over the control's posterior with adaptive Gauss–Kronrod panels cut at
//! the tail quantiles of the control and at those of the treatment mapped into the control's
//! coordinate, so no feature of either density falls between nodes.

use super::beta::{BetaPosterior, KRONROD_NODES, KRONROD_WEIGHTS};

/// The lift's posterior summaries for one treatment arm against control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiftPosterior {
    pub chance_to_beat_control: f64,
    pub credible_low: f64,
    pub credible_high: f64,
    /// E[max(0, -(p_t / p_c - 1))]: the relative lift expected to be lost by shipping.
    pub risk_ship_treatment: f64,
}

/// Tail levels at which the posteriors' quantiles cut the integration range.
const LEVELS: [f64; 6] = [1e-15, 1e-8, 1e-4, 0.02, 0.2, 0.5];
/// Absolute error target of each integral: far below the 4 digits any column shows (the
/// reference test holds the interval to 1e-7 relative), and where the quantile search stops.
const TOLERANCE: f64 = 1e-11;
const MAX_DEPTH: u32 = 30;

/// Quantiles of `post` at every level, lower and upper tails, in x.
fn quantile_cuts(post: &BetaPosterior) -> Vec<f64> {
    let mut cuts = Vec::with_capacity(2 * LEVELS.len());
    for q in LEVELS {
        cuts.push(post.lower_quantile(q));
        cuts.push(1.0 - post.mirrored().lower_quantile(q));
    }
    cuts
}

/// ∫ f_c(x) g(x) dx over the control's support, with extra cuts where `g` changes fastest.
fn integrate_over_control(
    control: &BetaPosterior,
    control_cuts: &[f64],
    extra_cuts: &[f64],
    g: &dyn Fn(f64) -> f64,
) -> f64 {
    let (lo, hi) = (control_cuts[0], control_cuts[1]);
    let mut cuts: Vec<f64> = control_cuts
        .iter()
        .chain(extra_cuts)
        .copied()
        .filter(|&x| x >= lo && x <= hi && x.is_finite())
        .collect();
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let f = |x: f64| control.pdf(x) * g(x);
    cuts.windows(2)
        .map(|w| adaptive(&f, w[0], w[1], TOLERANCE / cuts.len() as f64, MAX_DEPTH))
        .sum()
}

/// Gauss–Kronrod 15 on [a, b] with its embedded Gauss 7 estimate of the error; bisects until
/// the estimate is below `tol` or the depth runs out.
fn adaptive(f: &dyn Fn(f64) -> f64, a: f64, b: f64, tol: f64, depth: u32) -> f64 {
    let (kronrod, error) = kronrod15(f, a, b);
    if error <= tol || depth == 0 || b - a <= 1e-15 * b.abs() {
        return kronrod;
    }
    let mid = 0.5 * (a + b);
    adaptive(f, a, mid, 0.5 * tol, depth - 1) + adaptive(f, mid, b, 0.5 * tol, depth - 1)
}

fn kronrod15(f: &dyn Fn(f64) -> f64, a: f64, b: f64) -> (f64, f64) {
    // The Gauss 7 weights for the odd-indexed Kronrod nodes (edge inwards), the centre last.
    const GAUSS: [f64; 4] = [
        0.129_484_966_168_869_7,
        0.279_705_391_489_276_7,
        0.381_830_050_505_118_9,
        0.417_959_183_673_469_4,
    ];
    let (centre, half) = (0.5 * (a + b), 0.5 * (b - a));
    let (mut k, mut g) = (0.0, 0.0);
    for (i, (&node, &w)) in KRONROD_NODES.iter().zip(&KRONROD_WEIGHTS).enumerate() {
        let value = if node == 0.0 {
            f(centre)
        } else {
            f(centre - half * node) + f(centre + half * node)
        };
        k += w * value;
        if i % 2 == 1 {
            g += GAUSS[i / 2] * value;
        }
    }
    (half * k, half * (k - g).abs())
}

/// P(p_t / p_c - 1 <= q).
fn lift_cdf(
    treatment: &BetaPosterior,
    control: &BetaPosterior,
    control_cuts: &[f64],
    treatment_cuts: &[f64],
    q: f64,
) -> f64 {
    let scale = 1.0 + q;
    if scale <= 0.0 {
        return 0.0;
    }
    let mapped: Vec<f64> = treatment_cuts.iter().map(|t| t / scale).collect();
    let g = |x: f64| treatment.cdf(scale * x);
    integrate_over_control(control, control_cuts, &mapped, &g).clamp(0.0, 1.0)
}

/// The q with P(L <= q) = level, searched in u = ln(1 + q) (where the lift's distribution is
/// close to symmetric) by bracketing and the Illinois variant of false position.
fn lift_quantile(
    treatment: &BetaPosterior,
    control: &BetaPosterior,
    cuts: (&[f64], &[f64]),
    level: f64,
) -> Option<f64> {
    let gap = |u: f64| lift_cdf(treatment, control, cuts.0, cuts.1, u.exp_m1()) - level;
    // Start from the normal approximation of ln p_t - ln p_c.
    let log_var = |p: &BetaPosterior| {
        let (a, b) = (p.alpha(), p.beta());
        b / (a * (a + b + 1.0))
    };
    let centre = (treatment.mean() / control.mean()).ln();
    let sd = (log_var(treatment) + log_var(control)).sqrt();
    if !(centre.is_finite() && sd.is_finite() && sd > 0.0) {
        return None;
    }
    let (mut lo, mut hi) = (centre - 4.0 * sd, centre + 4.0 * sd);
    let (mut f_lo, mut f_hi) = (gap(lo), gap(hi));
    let mut step = 4.0 * sd;
    for _ in 0..60 {
        if f_lo <= 0.0 {
            break;
        }
        step *= 2.0;
        lo -= step;
        f_lo = gap(lo);
    }
    step = 4.0 * sd;
    for _ in 0..60 {
        if f_hi >= 0.0 {
            break;
        }
        step *= 2.0;
        hi += step;
        f_hi = gap(hi);
    }
    if !(f_lo <= 0.0 && f_hi >= 0.0 && lo.is_finite() && hi.is_finite()) {
        return None;
    }
    let mut side = 0;
    for _ in 0..200 {
        let u = if f_hi == f_lo {
            0.5 * (lo + hi)
        } else {
            (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        };
        let f = gap(u);
        if f.abs() <= TOLERANCE || hi - lo <= 1e-10 * (1.0 + u.abs()) {
            return Some(u.exp_m1());
        }
        if f < 0.0 {
            lo = u;
            f_lo = f;
            if side == -1 {
                f_hi *= 0.5;
            }
            side = -1;
        } else {
            hi = u;
            f_hi = f;
            if side == 1 {
                f_lo *= 0.5;
            }
            side = 1;
        }
    }
    Some((0.5 * (lo + hi)).exp_m1())
}

/// Expected relative shortfall of shipping treatment, E[max(0, 1 - p_t / p_c)].
fn risk_ship_treatment(
    treatment: &BetaPosterior,
    control: &BetaPosterior,
    cuts: (&[f64], &[f64]),
) -> Option<f64> {
    let shifted = BetaPosterior::new(treatment.alpha() + 1.0, treatment.beta())?;
    let mean_t = treatment.mean();
    let g = |x: f64| (treatment.cdf(x) - mean_t * shifted.cdf(x) / x).max(0.0);
    let extra: Vec<f64> = cuts
        .1
        .iter()
        .chain(&quantile_cuts(&shifted))
        .copied()
        .collect();
    Some(integrate_over_control(control, cuts.0, &extra, &g).max(0.0))
}

/// The lift posterior of `treatment` against `control` at credible level 1 - `alpha`. `None`
/// for an alpha outside (0, 1) or when a quantile cannot be bracketed.
pub fn beta_lift(
    treatment: &BetaPosterior,
    control: &BetaPosterior,
    alpha: f64,
) -> Option<LiftPosterior> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    // The control's outermost quantiles first: `integrate_over_control` reads them as the
    // range.
    let control_cuts = quantile_cuts(control);
    let treatment_cuts = quantile_cuts(treatment);
    let cuts = (control_cuts.as_slice(), treatment_cuts.as_slice());
    Some(LiftPosterior {
        chance_to_beat_control: super::prob_beats(treatment, control),
        credible_low: lift_quantile(treatment, control, cuts, alpha / 2.0)?,
        credible_high: lift_quantile(treatment, control, cuts, 1.0 - alpha / 2.0)?,
        risk_ship_treatment: risk_ship_treatment(treatment, control, cuts)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(n: u64, x: u64) -> BetaPosterior {
        BetaPosterior::from_counts(n, x, super::super::BetaPrior::default()).expect("valid")
    }

    #[test]
    fn the_interval_brackets_the_chance_to_beat_consistently() {
        // P(L <= 0) = 1 - P(beat): the interval excludes 0 from below exactly when P(beat) is
        // above 1 - alpha/2.
        for (c, t) in [
            (post(1000, 100), post(1000, 128)),
            (post(20000, 2000), post(20000, 2080)),
            (post(200, 0), post(200, 3)),
            (post(50, 3), post(40, 1)),
        ] {
            let cuts = (quantile_cuts(&c), quantile_cuts(&t));
            let at_zero = lift_cdf(&t, &c, &cuts.0, &cuts.1, 0.0);
            let beat = super::super::prob_beats(&t, &c);
            assert!((at_zero + beat - 1.0).abs() < 1e-9, "{at_zero} + {beat}");
            let l = beta_lift(&t, &c, 0.05).expect("defined");
            assert!(l.credible_low < l.credible_high);
            assert_eq!(l.credible_low > 0.0, beat > 0.975, "{l:?}");
            assert!(l.risk_ship_treatment >= 0.0 && l.risk_ship_treatment <= 1.0);
        }
    }

    #[test]
    fn identical_arms_are_symmetric_in_log_ratio() {
        let a = post(5000, 500);
        let l = beta_lift(&a, &a, 0.1).expect("defined");
        assert!((l.chance_to_beat_control - 0.5).abs() < 1e-9);
        // ln(1 + L) is symmetric for identical posteriors: (1+low)(1+high) = 1.
        assert!(((1.0 + l.credible_low) * (1.0 + l.credible_high) - 1.0).abs() < 1e-8);
    }
}
