//! The relative lift under the exact Beta-Binomial model: with independent posteriors
//! p_c ~ Beta(a_c, b_c) and p_t ~ Beta(a_t, b_t), the lift is L = p_t / p_c - 1. Everything a
//! report row shows about it comes from this one posterior:
//! - chance to beat control P(L > 0) = P(p_t > p_c);
//! - the equal-tailed credible interval, quantiles of L from its distribution function
//!   P(L <= q) = ∫ f_c(x) F_t((1 + q) x) dx, solved by Newton's method in u = ln(1 + q) with
//!   the lift's density ∫ f_c(x) f_t(e^u x) e^u x dx (densities only), from the normal
//!   approximation of ln p_t - ln p_c;
//! - the risk of shipping treatment, the expected relative shortfall E[max(0, -L)], as the 1-D
//!   integral ∫ f_c(x) [F_t(x) - E[p_t; p_t <= x] / x] dx.
//!
//! Two ways to the same integrals. Large counts (every shape in [30, 1e9], the report's usual
//! case) take fixed rules ([`FixedRules`]): the densities are sampled once per row, and each
//! evaluation of the distribution function is a sum over ~100 Gauss–Legendre nodes of Chebyshev
//! series, with no incomplete beta. Small counts take adaptive Gauss–Kronrod panels cut at the
//! tail quantiles of both posteriors, with the incomplete beta at every node.

use super::beta::{
    BetaPosterior, BANDED_MAX_SHAPE, BANDED_MIN_SHAPE, KRONROD_NODES, KRONROD_WEIGHTS,
};
use statrs::distribution::{ContinuousCDF, Normal};

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
struct AdaptiveRules<'a> {
    treatment: &'a BetaPosterior,
    control: &'a BetaPosterior,
    control_cuts: Vec<f64>,
    treatment_cuts: Vec<f64>,
    /// sd of ln(1 + L), the scale of the derivatives' tolerances.
    sd: f64,
}

impl AdaptiveRules<'_> {
    /// P(ln(1 + L) <= u) with its first two derivatives in u. The derivatives only steer the
    /// root search, so they are integrated to a looser tolerance, relative to their scale (the
    /// density peaks near 0.4 / sd).
    fn cdf_density(&self, u: f64) -> [f64; 3] {
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
}

/// d/dv [y f(y)] / f(y) at y = e^v for `post`'s density f: a - (b - 1) y / (1 - y). Gives the
/// second derivative of the lift's distribution function from densities alone.
fn log_density_slope(post: &BetaPosterior, y: f64) -> f64 {
    post.alpha() - (post.beta() - 1.0) * y / (1.0 - y)
}

/// Halley steps shorter than this many sd of ln(1 + L) end the search (the error left is of
/// the order of the step cubed, ~1e-15 sd), Newton or bisection steps shorter than its square.
/// The reference test holds the interval to 1e-7 relative.
const STEP_TOLERANCE: f64 = 1e-5;

/// The u with P(ln(1 + L) <= u) = `level`, by Halley's method on `h` (distribution function
/// and its first two derivatives) from the Cornish–Fisher start, kept inside the bracket its
/// own evaluations establish: Newton when Halley's correction is large, bisection when a step
/// leaves the bracket, doubling strides outwards while one side is still open. `None` if it
/// does not converge.
fn solve_quantile(h: &dyn Fn(f64) -> [f64; 3], level: f64, log_ratio: &LogRatio) -> Option<f64> {
    let sd = log_ratio.sd();
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    let (mut u, mut stride) = (log_ratio.quantile_start(level), sd);
    for _ in 0..200 {
        let [cdf, density, slope] = h(u);
        let gap = cdf - level;
        if gap == 0.0 {
            return Some(u);
        }
        if gap < 0.0 {
            lo = u;
        } else {
            hi = u;
        }
        let newton = -gap / density;
        let correction = gap * slope / (2.0 * density * density);
        let (step, tolerance) = if correction.abs() < 0.5 {
            (newton / (1.0 - correction), STEP_TOLERANCE)
        } else {
            (newton, STEP_TOLERANCE * STEP_TOLERANCE)
        };
        let next = u + step;
        u = if density > 0.0 && next > lo && next < hi {
            if step.abs() <= tolerance * sd {
                return Some(next);
            }
            next
        } else if lo.is_finite() && hi.is_finite() {
            if hi - lo <= STEP_TOLERANCE * STEP_TOLERANCE * sd {
                return Some(0.5 * (lo + hi));
            }
            0.5 * (lo + hi)
        } else {
            stride *= 2.0;
            if gap < 0.0 {
                u + stride
            } else {
                u - stride
            }
        };
        if !u.is_finite() {
            return None;
        }
    }
    None
}

/// The first four cumulants of ln p_t - ln p_c: those of ln p for p ~ Beta(a, b) are
/// ψ⁽ⁿ⁻¹⁾(a) - ψ⁽ⁿ⁻¹⁾(a + b), with signs alternating for the control's.
struct LogRatio {
    cumulants: [f64; 4],
}

impl LogRatio {
    fn new(treatment: &BetaPosterior, control: &BetaPosterior) -> Option<LogRatio> {
        let of = |p: &BetaPosterior| {
            let (pa, ps) = (polygammas(p.alpha()), polygammas(p.alpha() + p.beta()));
            [0, 1, 2, 3].map(|n| pa[n] - ps[n])
        };
        let (t, c) = (of(treatment), of(control));
        let cumulants = [t[0] - c[0], t[1] + c[1], t[2] - c[2], t[3] + c[3]];
        (cumulants.iter().all(|k| k.is_finite()) && cumulants[1] > 0.0)
            .then_some(LogRatio { cumulants })
    }

    fn sd(&self) -> f64 {
        self.cumulants[1].sqrt()
    }

    /// The Cornish–Fisher expansion of the quantile at `level` to the fourth cumulant.
    fn quantile_start(&self, level: f64) -> f64 {
        let [mean, var, k3, k4] = self.cumulants;
        let z = Normal::standard().inverse_cdf(level);
        let (skew, kurt) = (k3 / var.powf(1.5), k4 / (var * var));
        let w = z + (z * z - 1.0) * skew / 6.0 + (z.powi(3) - 3.0 * z) * kurt / 24.0
            - (2.0 * z.powi(3) - 5.0 * z) * skew * skew / 36.0;
        mean + self.sd() * w
    }
}

/// ψ(x) and its first three derivatives for x > 0: the asymptotic series at x + k >= 10 after
/// k steps of the recurrence ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x + 1) - (-1)ⁿ n! / xⁿ⁺¹; ~1e-15 relative, far more
/// than a starting point needs.
fn polygammas(x: f64) -> [f64; 4] {
    let mut out = [0.0; 4];
    let mut x = x;
    while x < 10.0 {
        let r = 1.0 / x;
        out[0] -= r;
        out[1] += r * r;
        out[2] -= 2.0 * r * r * r;
        out[3] += 6.0 * r * r * r * r;
        x += 1.0;
    }
    let r = 1.0 / x;
    let r2 = r * r;
    let series = |c: [f64; 4]| c.iter().rev().fold(0.0, |acc, c| acc * r2 + c);
    out[0] += x.ln() - 0.5 * r - r2 * series([1.0 / 12.0, -1.0 / 120.0, 1.0 / 252.0, -1.0 / 240.0]);
    out[1] += r + 0.5 * r2 + r * r2 * series([1.0 / 6.0, -1.0 / 30.0, 1.0 / 42.0, -1.0 / 30.0]);
    out[2] -= r2 + r * r2 + r2 * r2 * series([0.5, -1.0 / 6.0, 1.0 / 6.0, -3.0 / 10.0]);
    out[3] += 2.0 * r * r2 + 3.0 * r2 * r2 + r * r2 * r2 * series([2.0, -1.0, 4.0 / 3.0, -3.0]);
    out
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
    Some(integrate_over_control(control, cuts.0, &extra, &g, TOLERANCE).max(0.0))
}

/// Chebyshev points per panel of the interpolated arm, minus one: its distribution function is
/// a degree-17 series on each panel (the antiderivative of the density's degree-16 interpolant).
const CHEB_N: usize = 16;
/// Gauss–Legendre points per panel of the integrated arm.
const GAUSS_N: usize = 10;
/// Panel width in standard deviations of the arm the panels are cut for.
const GAUSS_PANEL_SDS: f64 = 2.0;
const CHEB_PANEL_SDS: f64 = 2.0;

/// The fixed rules' tables, computed once: Chebyshev–Lobatto points t_j = -cos(jπ/N) with the
/// map from values at them to Chebyshev coefficients, and the Gauss–Legendre rule on [-1, 1].
struct Rules {
    cheb_nodes: [f64; CHEB_N + 1],
    to_coefficients: [[f64; CHEB_N + 1]; CHEB_N + 1],
    gauss_nodes: [f64; GAUSS_N],
    gauss_weights: [f64; GAUSS_N],
}

fn rules() -> &'static Rules {
    static CELL: std::sync::OnceLock<Rules> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        const N: usize = CHEB_N;
        let pi = std::f64::consts::PI;
        // t_j = cos(θ_j) with θ_j = (N - j)π/N, so T_k(t_j) = cos(kθ_j).
        let theta = |j: usize| (N - j) as f64 * pi / N as f64;
        let cheb_nodes = std::array::from_fn(|j| theta(j).cos());
        let mut to_coefficients = [[0.0; N + 1]; N + 1];
        for (k, row) in to_coefficients.iter_mut().enumerate() {
            for (j, c) in row.iter_mut().enumerate() {
                // c_k = (2/N) Σ'' f_j T_k(t_j), the end terms of the sum and c_0, c_N halved.
                let ends = if j == 0 || j == N { 0.5 } else { 1.0 };
                let edge = if k == 0 || k == N { 0.5 } else { 1.0 };
                *c = 2.0 / N as f64 * ends * edge * (k as f64 * theta(j)).cos();
            }
        }
        let (mut gauss_nodes, mut gauss_weights) = ([0.0; GAUSS_N], [0.0; GAUSS_N]);
        for i in 0..GAUSS_N {
            // Newton on the Legendre polynomial P_n from the usual cosine estimate of root i.
            let n = GAUSS_N as f64;
            let mut x = (pi * (i as f64 + 0.75) / (n + 0.5)).cos();
            let mut slope = 1.0;
            for _ in 0..100 {
                let (mut p0, mut p1) = (1.0, x);
                for m in 2..=GAUSS_N {
                    let m = m as f64;
                    (p0, p1) = (p1, ((2.0 * m - 1.0) * x * p1 - (m - 1.0) * p0) / m);
                }
                slope = n * (x * p1 - p0) / (x * x - 1.0);
                let step = p1 / slope;
                x -= step;
                if step.abs() < 1e-16 {
                    break;
                }
            }
            gauss_nodes[i] = x;
            gauss_weights[i] = 2.0 / ((1.0 - x * x) * slope * slope);
        }
        Rules {
            cheb_nodes,
            to_coefficients,
            gauss_nodes,
            gauss_weights,
        }
    })
}

/// Σ a_k T_k(t) by Clenshaw's recurrence.
fn chebyshev_sum(a: &[f64], t: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    for &c in a[1..].iter().rev() {
        (b1, b2) = (c + 2.0 * t * b1 - b2, b1);
    }
    a[0] + t * b1 - b2
}

/// Coefficients of the antiderivative (vanishing at t = -1) of the series `c`, scaled by `half`
/// (the panel's half-width), plus `start`.
fn antiderivative(c: &[f64; CHEB_N + 1], half: f64, start: f64) -> [f64; CHEB_N + 2] {
    let at = |k: usize| c.get(k).copied().unwrap_or(0.0);
    let mut b = [0.0; CHEB_N + 2];
    // ∫T_0 = T_1, ∫T_1 = T_2/4, ∫T_k = T_{k+1}/(2(k+1)) - T_{k-1}/(2(k-1)).
    b[1] = at(0) - 0.5 * at(2);
    for (k, slot) in b.iter_mut().enumerate().skip(2) {
        *slot = (at(k - 1) - at(k + 1)) / (2.0 * k as f64);
    }
    // T_k(-1) = (-1)^k.
    b[0] = -(1..CHEB_N + 2)
        .map(|k| if k % 2 == 0 { b[k] } else { -b[k] })
        .sum::<f64>();
    b.iter_mut().for_each(|v| *v *= half);
    b[0] += start;
    b
}

/// The variable the fixed rules integrate in. Large counts: the rate itself, over ±14 sd. Few
/// conversions: z = ln(p / (1 - p)), where a Beta density is smooth and log-concave whatever its
/// shapes (x^a near 0 becomes e^{az}), over its 1e-16 tail quantiles.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Coordinate {
    Rate,
    Logit,
}

impl Coordinate {
    fn of(self, rate: f64) -> f64 {
        match self {
            Coordinate::Rate => rate,
            Coordinate::Logit => (rate / (1.0 - rate)).ln(),
        }
    }

    fn rate(self, t: f64) -> f64 {
        match self {
            Coordinate::Rate => t,
            Coordinate::Logit => 1.0 / (1.0 + (-t).exp()),
        }
    }

    /// The density of ln p at `rate` from the density in this coordinate.
    fn log_rate_density(self, density: f64, rate: f64) -> f64 {
        match self {
            Coordinate::Rate => density * rate,
            Coordinate::Logit => density / (1.0 - rate),
        }
    }

    fn sampler(self, post: &BetaPosterior) -> Box<dyn Fn(f64) -> f64> {
        match self {
            Coordinate::Rate => Box::new(post.density_sampler()),
            Coordinate::Logit => Box::new(post.logit_density_sampler()),
        }
    }

    /// (band, panel width) of `post` in this coordinate.
    fn layout(self, post: &BetaPosterior, panel_sds: f64) -> ((f64, f64), f64) {
        match self {
            Coordinate::Rate => (post.band(), panel_sds * post.sd()),
            Coordinate::Logit => {
                let low = post.lower_quantile(1e-16);
                let high = post.mirrored().lower_quantile(1e-16);
                // Var(logit p) = ψ'(a) + ψ'(b); panels no wider than 1 keep the poles of the
                // density at z = ±iπ far enough away for degree 16.
                let sd = (polygammas(post.alpha())[1] + polygammas(post.beta())[1]).sqrt();
                let band = (self.of(low), ((1.0 - high) / high).ln());
                (band, (panel_sds * sd).min(1.0))
            }
        }
    }
}

/// Equal panels of at most `width` over `band`: (start, panel width, count).
fn panels((lo, hi): (f64, f64), width: f64) -> (f64, f64, usize) {
    let count = ((hi - lo) / width).ceil().max(1.0) as usize;
    (lo, (hi - lo) / count as f64, count)
}

/// One arm's density, distribution function F and weighted distribution functions
/// W(y) = ∫_0^y w(p) f(p) dp and W̄(y) = ∫_y^1 w(p) f(p) dp, as Chebyshev series in the
/// coordinate on equal panels over its band (below it F and W are 0, above it F is 1 and W̄ 0,
/// to < 1e-16). W̄ is summed from the top, so that E[1/p; p > y] keeps its precision where
/// E[1/p] is huge (first shape near 1).
struct Cumulative {
    coordinate: Coordinate,
    lo: f64,
    width: f64,
    density: Vec<[f64; CHEB_N + 1]>,
    cdf: Vec<[f64; CHEB_N + 2]>,
    /// Per panel: W's series from 0 at the panel's left end, its total over the panel, and the
    /// totals of all panels below and above it.
    weighted: Vec<[f64; CHEB_N + 2]>,
    weighted_panel: Vec<f64>,
    weighted_below: Vec<f64>,
    weighted_above: Vec<f64>,
    weighted_total: f64,
}

/// Where y falls among a [`Cumulative`]'s panels.
enum Place {
    Below,
    Panel(usize, f64),
    Above,
}

impl Cumulative {
    fn new(
        post: &BetaPosterior,
        weight: fn(f64) -> f64,
        coordinate: Coordinate,
        (lo, width, count): (f64, f64, usize),
    ) -> Cumulative {
        let rules = rules();
        let density_at = coordinate.sampler(post);
        let mut out = Cumulative {
            coordinate,
            lo,
            width,
            density: Vec::with_capacity(count),
            cdf: Vec::with_capacity(count),
            weighted: Vec::with_capacity(count),
            weighted_panel: Vec::with_capacity(count),
            weighted_below: Vec::with_capacity(count),
            weighted_above: vec![0.0; count],
            weighted_total: 0.0,
        };
        let (mut f_start, mut w_start) = (0.0, 0.0);
        let mut values = [0.0; CHEB_N + 1];
        let half = 0.5 * width;
        for p in 0..count {
            let centre = lo + width * (p as f64 + 0.5);
            // The first point is the last one of the previous panel.
            let shared = usize::from(p > 0);
            values[0] = values[CHEB_N];
            for (v, &t) in values.iter_mut().zip(&rules.cheb_nodes).skip(shared) {
                *v = density_at(centre + half * t);
            }
            let coefficients = |vals: &[f64; CHEB_N + 1]| -> [f64; CHEB_N + 1] {
                std::array::from_fn(|k| {
                    rules.to_coefficients[k]
                        .iter()
                        .zip(vals)
                        .map(|(m, v)| m * v)
                        .sum()
                })
            };
            let density = coefficients(&values);
            let weighted_values: [f64; CHEB_N + 1] = std::array::from_fn(|j| {
                values[j] * weight(coordinate.rate(centre + half * rules.cheb_nodes[j]))
            });
            let cdf = antiderivative(&density, half, f_start);
            let weighted = antiderivative(&coefficients(&weighted_values), half, 0.0);
            f_start = chebyshev_sum(&cdf, 1.0);
            let increment = chebyshev_sum(&weighted, 1.0);
            out.density.push(density);
            out.cdf.push(cdf);
            out.weighted.push(weighted);
            out.weighted_panel.push(increment);
            out.weighted_below.push(w_start);
            w_start += increment;
        }
        let mut above = 0.0;
        for (slot, increment) in out.weighted_above.iter_mut().zip(&out.weighted_panel).rev() {
            *slot = above;
            above += increment;
        }
        out.weighted_total = w_start;
        out
    }

    fn place(&self, rate: f64) -> Place {
        if rate >= 1.0 {
            return Place::Above;
        }
        let r = (self.coordinate.of(rate) - self.lo) / self.width;
        if r.is_nan() || r < 0.0 {
            return Place::Below;
        }
        let p = r as usize;
        if p >= self.cdf.len() {
            return Place::Above;
        }
        Place::Panel(p, 2.0 * (r - p as f64) - 1.0)
    }

    /// (F(y), y f(y)), the latter the density of ln p at ln y.
    fn cdf_density(&self, y: f64) -> (f64, f64) {
        match self.place(y) {
            Place::Below => (0.0, 0.0),
            Place::Above => (1.0, 0.0),
            Place::Panel(p, t) => (
                chebyshev_sum(&self.cdf[p], t),
                self.coordinate
                    .log_rate_density(chebyshev_sum(&self.density[p], t), y),
            ),
        }
    }

    /// (F(y), W(y), W̄(y)).
    fn cdf_weighted(&self, y: f64) -> (f64, f64, f64) {
        match self.place(y) {
            Place::Below => (0.0, 0.0, self.weighted_total),
            Place::Above => (1.0, self.weighted_total, 0.0),
            Place::Panel(p, t) => {
                let local = chebyshev_sum(&self.weighted[p], t);
                (
                    chebyshev_sum(&self.cdf[p], t),
                    self.weighted_below[p] + local,
                    self.weighted_above[p] + (self.weighted_panel[p] - local),
                )
            }
        }
    }
}

/// Smallest first shape the logit rules take (Jeffreys' prior with no conversions); below it
/// the left tail in z is too long to cover with equal panels.
const LOGIT_MIN_ALPHA: f64 = 0.5;

/// The lift's posterior by fixed rules: Gauss–Legendre panels over the band of the arm whose
/// rate is known more precisely (the "outer" arm), with its density at the nodes computed once,
/// and the other arm's distribution functions from [`Cumulative`]. Every evaluation of
/// P(L <= q) is then a sum over ~100 nodes of a Chebyshev series, with no incomplete beta.
/// Integrating over the more precise arm keeps the other's F smooth on a panel, wherever the
/// lift moves it. Two regimes, each checked against the adaptive rules in the tests:
/// - every shape in [`BANDED_MIN_SHAPE`, `BANDED_MAX_SHAPE`]: in the rate, panels two of each
///   arm's sd wide over its ±14 sd band;
/// - few conversions (first shapes from [`LOGIT_MIN_ALPHA`], second shapes from
///   `BANDED_MIN_SHAPE`, so neither posterior reaches near 1 where p_t = (1 + q) p_c would hit
///   the end of the range): in the logit, panels of at most two sd and 1 over the tail
///   quantiles at 1e-16.
struct FixedRules {
    /// Outer arm's nodes (rates) and weights (quadrature weight times density).
    nodes: Vec<f64>,
    weights: Vec<f64>,
    /// The other arm's cumulative functions: the treatment's, with w(p) = p, when the outer arm
    /// is the control; the control's, with w(p) = 1/p, when it is the treatment.
    inner: Cumulative,
    inner_post: BetaPosterior,
    outer_is_control: bool,
}

impl FixedRules {
    fn new(treatment: &BetaPosterior, control: &BetaPosterior) -> Option<FixedRules> {
        let arms = [treatment, control];
        let large = BANDED_MIN_SHAPE..=BANDED_MAX_SHAPE;
        let small = LOGIT_MIN_ALPHA..=BANDED_MAX_SHAPE;
        let coordinate = if arms
            .iter()
            .all(|p| large.contains(&p.alpha()) && large.contains(&p.beta()))
        {
            Coordinate::Rate
        } else if arms
            .iter()
            .all(|p| small.contains(&p.alpha()) && large.contains(&p.beta()))
        {
            Coordinate::Logit
        } else {
            return None;
        };
        let [(t_band, t_width), (c_band, c_width)] =
            arms.map(|p| coordinate.layout(p, CHEB_PANEL_SDS));
        // The more precise arm: the narrower in ln p (relative sd), or in the logit.
        let outer_is_control = match coordinate {
            Coordinate::Rate => c_width / control.mean() <= t_width / treatment.mean(),
            Coordinate::Logit => c_width <= t_width,
        };
        let (outer, inner_post, (outer_band, outer_width), (inner_band, inner_width)) =
            if outer_is_control {
                (control, *treatment, (c_band, c_width), (t_band, t_width))
            } else {
                (treatment, *control, (t_band, t_width), (c_band, c_width))
            };
        let weight: fn(f64) -> f64 = if outer_is_control { |p| p } else { |p| 1.0 / p };
        let inner = Cumulative::new(
            &inner_post,
            weight,
            coordinate,
            panels(inner_band, inner_width),
        );
        let rules = rules();
        let outer_width = match coordinate {
            Coordinate::Rate => outer_width * GAUSS_PANEL_SDS / CHEB_PANEL_SDS,
            Coordinate::Logit => outer_width.min(inner_width),
        };
        let (lo, width, count) = panels(outer_band, outer_width);
        let half = 0.5 * width;
        let density_at = coordinate.sampler(outer);
        let (mut nodes, mut weights) = (Vec::new(), Vec::new());
        for p in 0..count {
            let centre = lo + width * (p as f64 + 0.5);
            for (&t, &w) in rules.gauss_nodes.iter().zip(&rules.gauss_weights) {
                let at = centre + half * t;
                let weight = half * w * density_at(at);
                // Far-tail nodes (together < 1e-18) cost a series evaluation each and add nothing.
                if weight > 1e-21 {
                    nodes.push(coordinate.rate(at));
                    weights.push(weight);
                }
            }
        }
        Some(FixedRules {
            nodes,
            weights,
            inner,
            inner_post,
            outer_is_control,
        })
    }

    /// P(ln(1 + L) <= u) with its first two derivatives in u.
    fn cdf_density(&self, u: f64) -> [f64; 3] {
        let s = u.exp();
        let (mut cdf, mut density, mut slope) = (0.0, 0.0, 0.0);
        for (&x, &w) in self.nodes.iter().zip(&self.weights) {
            // Outer control: P(p_t <= s x); outer treatment: P(p_c >= x / s), whose y moves
            // the other way as u grows.
            let y = if self.outer_is_control { s * x } else { x / s };
            let (f, d) = self.inner.cdf_density(y);
            cdf += w * if self.outer_is_control { f } else { 1.0 - f };
            density += w * d;
            slope += w * d * log_density_slope(&self.inner_post, y);
        }
        let slope = if self.outer_is_control { slope } else { -slope };
        [cdf.clamp(0.0, 1.0), density, slope]
    }

    /// (P(p_t > p_c), E[max(0, 1 - p_t / p_c)]): both at s = 1, in one pass.
    fn chance_and_risk(&self) -> (f64, f64) {
        let (mut chance, mut risk) = (0.0, 0.0);
        for (&x, &w) in self.nodes.iter().zip(&self.weights) {
            let (f, below, above) = self.inner.cdf_weighted(x);
            if self.outer_is_control {
                // E[max(0, x - p_t)] / x = F_t(x) - E[p_t; p_t <= x] / x.
                chance += w * (1.0 - f);
                risk += w * (f - below / x);
            } else {
                // E[max(0, 1 - x / p_c)] = S_c(x) - x E[1 / p_c; p_c > x].
                chance += w * f;
                risk += w * ((1.0 - f) - x * above);
            }
        }
        (chance.clamp(0.0, 1.0), risk.max(0.0))
    }
}

/// The lift posterior of `treatment` against `control` at credible level 1 - `alpha`. `None`
/// for an alpha outside (0, 1) or when a quantile cannot be found.
pub fn beta_lift(
    treatment: &BetaPosterior,
    control: &BetaPosterior,
    alpha: f64,
) -> Option<LiftPosterior> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    let log_ratio = LogRatio::new(treatment, control)?;
    if let Some(rules) = FixedRules::new(treatment, control) {
        let h = |u: f64| rules.cdf_density(u);
        let (chance, risk) = rules.chance_and_risk();
        return Some(LiftPosterior {
            chance_to_beat_control: chance,
            credible_low: solve_quantile(&h, alpha / 2.0, &log_ratio)?.exp_m1(),
            credible_high: solve_quantile(&h, 1.0 - alpha / 2.0, &log_ratio)?.exp_m1(),
            risk_ship_treatment: risk,
        });
    }
    beta_lift_adaptive(treatment, control, alpha, &log_ratio)
}

/// [`beta_lift`] by the adaptive rules alone (any shapes; the reference for the fixed rules in
/// the tests).
fn beta_lift_adaptive(
    treatment: &BetaPosterior,
    control: &BetaPosterior,
    alpha: f64,
    log_ratio: &LogRatio,
) -> Option<LiftPosterior> {
    // The control's outermost quantiles first: `integrate_over_control` reads them as the
    // range.
    let rules = AdaptiveRules {
        treatment,
        control,
        control_cuts: quantile_cuts(control),
        treatment_cuts: quantile_cuts(treatment),
        sd: log_ratio.sd(),
    };
    let h = |u: f64| rules.cdf_density(u);
    let cuts = (
        rules.control_cuts.as_slice(),
        rules.treatment_cuts.as_slice(),
    );
    Some(LiftPosterior {
        chance_to_beat_control: super::prob_beats(treatment, control),
        credible_low: solve_quantile(&h, alpha / 2.0, log_ratio)?.exp_m1(),
        credible_high: solve_quantile(&h, 1.0 - alpha / 2.0, log_ratio)?.exp_m1(),
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
            let rules = AdaptiveRules {
                treatment: &t,
                control: &c,
                control_cuts: quantile_cuts(&c),
                treatment_cuts: quantile_cuts(&t),
                sd: LogRatio::new(&t, &c).expect("cumulants").sd(),
            };
            let at_zero = rules.cdf_density(0.0)[0];
            let beat = super::super::prob_beats(&t, &c);
            assert!((at_zero + beat - 1.0).abs() < 1e-9, "{at_zero} + {beat}");
            let l = beta_lift(&t, &c, 0.05).expect("defined");
            assert!(l.credible_low < l.credible_high);
            assert_eq!(l.credible_low > 0.0, beat > 0.975, "{l:?}");
            assert!(l.risk_ship_treatment >= 0.0 && l.risk_ship_treatment <= 1.0);
        }
    }

    #[test]
    fn chebyshev_cumulatives_match_the_incomplete_beta() {
        // F from the interpolated density against the continued fraction, W(y) = E[p; p <= y]
        // against its shifted-Beta form E(p)·F⁺(y), F⁺ of Beta(a + 1, b), and W̄(y) =
        // E[1/p; p > y] against (a + b - 1)/(a - 1)·(1 - F⁻(y)), F⁻ of Beta(a - 1, b), across
        // the band and beyond its ends, in both coordinates; the density as y·f(y).
        let rate = [
            (30.0, 30.0),
            (31.0, 1e6),
            (129.0, 873.0),
            (4.7e4, 2.6e3),
            (1e9, 1e9),
        ];
        let logit = [
            (1.0, 201.0),
            (4.0, 198.0),
            (0.5, 30.0),
            (2.0, 1e4),
            (25.0, 975.0),
        ];
        let cases = rate
            .iter()
            .map(|&s| (s, Coordinate::Rate))
            .chain(logit.iter().map(|&s| (s, Coordinate::Logit)));
        for ((a, b), coordinate) in cases {
            let post = BetaPosterior::new(a, b).expect("valid");
            let shifted = BetaPosterior::new(a + 1.0, b).expect("valid");
            let (band, width) = coordinate.layout(&post, CHEB_PANEL_SDS);
            let cum = Cumulative::new(&post, |p| p, coordinate, panels(band, width));
            let inverse = Cumulative::new(&post, |p| 1.0 / p, coordinate, panels(band, width));
            let (m, sd) = (post.mean(), post.sd());
            let points = [-20.0, -6.0, -3.0, -1.5, -0.3, 0.0, 0.7, 2.0, 4.5, 9.0, 20.0]
                .map(|z| m + z * sd)
                .into_iter()
                .chain([1e-12, 1e-6, 1e-3].map(|r| r * m))
                .filter(|&y| y > 0.0 && y < 1.0);
            for y in points {
                let (f, d) = cum.cdf_density(y);
                let (_, w, _) = cum.cdf_weighted(y);
                let (_, _, w_above) = inverse.cdf_weighted(y);
                // Within 1e-11 (3e-12 below 1e9 units): at Beta(1e9, 1e9) the band is 2e-4 wide
                // and both sides approach what doubles resolve in x.
                assert!((f - post.cdf(y)).abs() < 1e-11, "{a} {b} at {y}: {f}");
                assert!(
                    (w - m * shifted.cdf(y)).abs() < 1e-11,
                    "{a} {b} at {y}: {w}"
                );
                let peak = 1.0 + m / sd;
                assert!(
                    (d - y * post.pdf(y)).abs() < 1e-9 * peak,
                    "{a} {b} at {y}: {d}"
                );
                if a > 1.5 {
                    // The risk reads y·W̄(y) (below the band W̄ misses up to F(band start)/y).
                    let lowered = BetaPosterior::new(a - 1.0, b).expect("valid");
                    let mean_inverse = (a + b - 1.0) / (a - 1.0);
                    let want = mean_inverse * (1.0 - lowered.cdf(y));
                    assert!(
                        (y * (w_above - want)).abs() < 1e-11,
                        "{a} {b} at {y}: {w_above} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn fixed_rules_match_the_adaptive_rules() {
        let shape = |a: f64, b: f64| BetaPosterior::new(a, b).expect("valid");
        let cases = [
            (shape(101.0, 901.0), shape(129.0, 873.0), 0.05),
            (shape(2_501.0, 47_501.0), shape(2_601.0, 47_401.0), 0.05),
            (shape(31.0, 1e6), shape(45.0, 1e6), 0.05),
            (shape(30.0, 30.0), shape(35.0, 40.0), 0.1),
            (shape(47_501.0, 2_501.0), shape(47_401.0, 2_601.0), 0.05),
            (shape(500.0, 9_500.0), shape(30.0, 970.0), 0.05),
            (shape(30.0, 970.0), shape(5e5, 9.5e6), 0.05),
            (shape(1e7, 9e7), shape(1.0003e7, 9e7), 0.01),
        ];
        // Few conversions (the logit rules): 0 to 28 of 60 to 20,000 units, equal and very
        // unequal arms, and Jeffreys' prior with none.
        let mut few = vec![
            (shape(0.5, 200.5), shape(3.5, 197.5), 0.05),
            (shape(3.5, 197.5), shape(0.5, 200.5), 0.05),
        ];
        for (n_c, x_c, n_t, x_t) in [
            (200, 0, 200, 3),
            (200, 3, 200, 0),
            (200, 3, 200, 5),
            (60, 1, 60, 28),
            (60, 28, 60, 1),
            (1000, 10, 1000, 0),
            (20_000, 3, 20_000, 12),
            (20_000, 28, 60, 1),
            (60, 1, 20_000, 28),
            (1000, 28, 1000, 29),
            (500, 2, 80, 1),
            (300, 0, 300, 0),
        ] {
            few.push((post(n_c, x_c), post(n_t, x_t), 0.05));
        }
        for (c, t, alpha) in cases.into_iter().chain(few) {
            let fixed = beta_lift(&t, &c, alpha).expect("fixed");
            assert!(FixedRules::new(&t, &c).is_some());
            let log_ratio = LogRatio::new(&t, &c).expect("cumulants");
            let adaptive = beta_lift_adaptive(&t, &c, alpha, &log_ratio).expect("adaptive");
            let pairs = [
                (
                    fixed.chance_to_beat_control,
                    adaptive.chance_to_beat_control,
                ),
                (fixed.credible_low, adaptive.credible_low),
                (fixed.credible_high, adaptive.credible_high),
                (fixed.risk_ship_treatment, adaptive.risk_ship_treatment),
            ];
            for (x, y) in pairs {
                assert!(
                    (x - y).abs() <= 1e-9 * y.abs() + 1e-13,
                    "{c:?} {t:?}: {fixed:?} vs {adaptive:?}"
                );
            }
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
