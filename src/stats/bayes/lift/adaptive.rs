//! The lift's integrals by adaptive Gauss–Kronrod quadrature over the control's posterior,
//! cut at the tail quantiles of both posteriors, with the incomplete beta at every node: any
//! shapes, used where the fixed rules ([`super::fixed`]) do not apply (rates near 1, shapes
//! below 0.5) and as their reference in the tests.

use super::log_density_slope;
use crate::stats::bayes::beta::{BetaPosterior, KRONROD_NODES, KRONROD_WEIGHTS};

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
    tolerance: f64,
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
        .map(|w| adaptive(&f, w[0], w[1], tolerance / cuts.len() as f64, MAX_DEPTH))
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

/// The adaptive rules' tail cuts of both posteriors, computed once per row.
pub(super) struct AdaptiveRules<'a> {
    treatment: &'a BetaPosterior,
    control: &'a BetaPosterior,
    control_cuts: Vec<f64>,
    treatment_cuts: Vec<f64>,
    /// sd of ln(1 + L), the scale of the derivatives' tolerances.
    sd: f64,
}

impl<'a> AdaptiveRules<'a> {
    /// `sd`: of ln(1 + L). `None` for shapes the tail quantiles cannot place.
    pub(super) fn new(
        treatment: &'a BetaPosterior,
        control: &'a BetaPosterior,
        sd: f64,
    ) -> Option<AdaptiveRules<'a>> {
        // The control's outermost quantiles first: `integrate_over_control` reads them as the
        // range.
        let rules = AdaptiveRules {
            treatment,
            control,
            control_cuts: quantile_cuts(control),
            treatment_cuts: quantile_cuts(treatment),
            sd,
        };
        let cuts = rules.control_cuts.iter().chain(&rules.treatment_cuts);
        cuts.clone().all(|x| x.is_finite()).then_some(rules)
    }

    /// P(ln(1 + L) <= u) with its first two derivatives in u. The derivatives only steer the
    /// root search, so they are integrated to a looser tolerance, relative to their scale (the
    /// density peaks near 0.4 / sd).
    pub(super) fn cdf_density(&self, u: f64) -> [f64; 3] {
        let s = u.exp();
        let (t, c) = (self.treatment, self.control);
        let mapped: Vec<f64> = self.treatment_cuts.iter().map(|y| y / s).collect();
        let cdf = |x: f64| t.cdf(s * x);
        let density = |x: f64| t.pdf(s * x) * s * x;
        let slope = |x: f64| {
            let y = s * x;
            t.pdf(y) * y * log_density_slope(t, y)
        };
        let over_control = |g: &dyn Fn(f64) -> f64, tolerance: f64| {
            integrate_over_control(c, &self.control_cuts, &mapped, g, tolerance)
        };
        [
            over_control(&cdf, TOLERANCE).clamp(0.0, 1.0),
            over_control(&density, 1e-9 / self.sd).max(0.0),
            over_control(&slope, 1e-7 / (self.sd * self.sd)),
        ]
    }

    /// Expected relative shortfall of shipping treatment, E[max(0, 1 - p_t / p_c)].
    pub(super) fn risk_ship_treatment(&self) -> Option<f64> {
        let (treatment, control) = (self.treatment, self.control);
        let shifted = BetaPosterior::new(treatment.alpha() + 1.0, treatment.beta())?;
        let mean_t = treatment.mean();
        let g = |x: f64| (treatment.cdf(x) - mean_t * shifted.cdf(x) / x).max(0.0);
        let extra: Vec<f64> = self
            .treatment_cuts
            .iter()
            .chain(&quantile_cuts(&shifted))
            .copied()
            .collect();
        Some(integrate_over_control(control, &self.control_cuts, &extra, &g, TOLERANCE).max(0.0))
    }
}
