//! The exact Beta-Binomial model for proportions: Beta posteriors with their density and
//! distribution function, P(p_t > p_c) and P(arm is best) by adaptive Gauss–Kronrod
//! quadrature, and Evan Miller's closed-form sum as an independent cross-check.
//!
//! statrs 0.19 is used for `ln_gamma` of small arguments only: its regularized incomplete beta
//! stops its continued fraction after 140 terms, which is measured to be off by 1.2e-3 at
//! Beta(500001, 500001) (cdf(0.5) = 0.49878), so the beta density and distribution function are
//! evaluated here, in a form that stays accurate at n = 1e6.

use statrs::function::gamma::ln_gamma;

/// Beta(alpha, beta) prior on a conversion rate; the default is uniform, Beta(1, 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaPrior {
    pub alpha: f64,
    pub beta: f64,
}

impl Default for BetaPrior {
    fn default() -> Self {
        BetaPrior {
            alpha: 1.0,
            beta: 1.0,
        }
    }
}

/// Accepted shapes. Below 0.05 a posterior keeps more than ~1e-15 of its mass under 1e-300, where
/// doubles run out; above 1e15 x·(a+b) would lose the precision the density needs.
const SHAPES: std::ops::RangeInclusive<f64> = 0.05..=1e15;

/// A Beta posterior on a conversion rate, with validated shapes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaPosterior {
    alpha: f64,
    beta: f64,
}

impl BetaPosterior {
    /// `None` unless both shapes lie in [0.05, 1e15].
    pub fn new(alpha: f64, beta: f64) -> Option<Self> {
        (SHAPES.contains(&alpha) && SHAPES.contains(&beta)).then_some(BetaPosterior { alpha, beta })
    }

    /// Posterior after `conversions` of `units`; `None` if conversions > units or a bad prior.
    /// Zero units gives the prior itself, which is a valid (if uninformative) answer.
    pub fn from_counts(units: u64, conversions: u64, prior: BetaPrior) -> Option<Self> {
        let failures = units.checked_sub(conversions)?;
        Self::new(
            prior.alpha + conversions as f64,
            prior.beta + failures as f64,
        )
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    pub fn beta(&self) -> f64 {
        self.beta
    }

    pub fn mean(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// Density at `p` (0 outside (0, 1)).
    pub fn pdf(&self, p: f64) -> f64 {
        if p > 0.0 && p < 1.0 {
            self.density(Point::from_x(p))
        } else {
            0.0
        }
    }

    /// Distribution function P(rate <= p).
    pub fn cdf(&self, p: f64) -> f64 {
        match p {
            p if p <= 0.0 => 0.0,
            p if p >= 1.0 => 1.0,
            p => self.cdf_sf(Point::from_x(p)).0,
        }
    }

    fn density(&self, at: Point) -> f64 {
        beta_front(at, self.alpha, self.beta) / (at.x * at.y)
    }

    /// (cdf, sf); the tail on the continued fraction's side is computed directly, so small tail
    /// probabilities keep their relative accuracy.
    fn cdf_sf(&self, at: Point) -> (f64, f64) {
        let (a, b) = (self.alpha, self.beta);
        if at.x < (a + 1.0) / (a + b + 2.0) {
            let lower = incomplete_beta_cf(at, a, b);
            (lower, 1.0 - lower)
        } else {
            let upper = incomplete_beta_cf(at.flip(), b, a);
            (1.0 - upper, upper)
        }
    }

    /// Lower-tail quantile x at level q <= 0.5, solved for u = ln x by Newton's
    /// method on ln F(e^u) - ln q, safeguarded by bisection. In these coordinates the far tail is
    /// nearly linear (F ~ x^a), so levels like 1e-16 take a few steps. 1e-9 in ln x is plenty:
    /// the result only places a cut between quadrature panels.
    pub(super) fn lower_quantile(&self, q: f64) -> f64 {
        let (mut lo, mut hi) = (-690.0_f64, 0.0_f64);
        let mut u = self.mean().ln().max(lo);
        for _ in 0..200 {
            let at = Point::from_x(u.exp());
            let cdf = self.cdf_sf(at).0;
            let gap = cdf.ln() - q.ln();
            if gap < 0.0 {
                lo = u;
            } else {
                hi = u;
            }
            let mut next = u - gap * cdf / (at.x * self.density(at));
            if !(next > lo && next < hi) {
                next = 0.5 * (lo + hi);
            }
            if (next - u).abs() < 1e-9 || hi - lo < 1e-9 {
                return next.exp();
            }
            u = next;
        }
        u.exp()
    }

    /// Standard deviation.
    pub(super) fn sd(&self) -> f64 {
        let s = self.alpha + self.beta;
        (self.alpha * self.beta / (s * s * (s + 1.0))).sqrt()
    }

    /// The density with its normalising constant computed once, for callers that sample it at
    /// many points (the lift's fixed rules); 0 outside (0, 1).
    pub(super) fn density_sampler(&self) -> impl Fn(f64) -> f64 {
        let (a, b) = (self.alpha, self.beta);
        let norm = log_norm(a, b);
        move |x: f64| {
            if x > 0.0 && x < 1.0 {
                let at = Point::from_x(x);
                (norm - deviance(at, a, b)).exp() / (at.x * at.y)
            } else {
                0.0
            }
        }
    }

    /// The density of z = ln(p / (1 - p)), p^a (1 - p)^b / B(a, b) at p = 1 / (1 + e^-z), with
    /// its normalising constant computed once: smooth and log-concave for any shapes, and both p
    /// and 1 - p come out of z to full relative precision.
    pub(super) fn logit_density_sampler(&self) -> impl Fn(f64) -> f64 {
        let (a, b) = (self.alpha, self.beta);
        let norm = log_norm(a, b);
        move |z: f64| {
            let e = (-z).exp();
            let at = Point {
                x: 1.0 / (1.0 + e),
                y: e / (1.0 + e),
            };
            if at.x > 0.0 && at.y > 0.0 {
                (norm - deviance(at, a, b)).exp()
            } else {
                0.0
            }
        }
    }

    /// The band of `BAND_SDS` standard deviations either side of the mean outside which a
    /// posterior with both shapes at least `BANDED_MIN_SHAPE` has < 1e-18 of its mass on either
    /// side; kept off 0 and 1, where a shape >= 30 leaves < 1e-40 of mass within 1e-3 of the
    /// mean's distance to the end.
    pub(super) fn band(&self) -> (f64, f64) {
        let (m, sd) = (self.mean(), self.sd());
        (
            (m - BAND_SDS * sd).max(1e-3 * m),
            (m + BAND_SDS * sd).min(1.0 - 1e-3 * (1.0 - m)),
        )
    }

    pub(super) fn mirrored(&self) -> BetaPosterior {
        BetaPosterior {
            alpha: self.beta,
            beta: self.alpha,
        }
    }
}

/// A point of (0, 1) held as x and y = 1 - x, each to full relative precision, so posteriors
/// crowded against 1 (every unit converted) are resolved as finely as those against 0: near 1 a
/// double's spacing is 1.1e-16, which would lose ~1e-10 of a Beta(1e6+1, 1) posterior.
#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
}

impl Point {
    fn from_x(x: f64) -> Point {
        Point { x, y: 1.0 - x }
    }

    fn flip(self) -> Point {
        Point {
            x: self.y,
            y: self.x,
        }
    }
}

/// P(p_t > p_c) for independent Beta posteriors: ∫ pdf_t(p)·cdf_c(p) dp by adaptive quadrature.
pub fn prob_beats(treatment: &BetaPosterior, control: &BetaPosterior) -> f64 {
    if let Some(best) = banded_prob_best(&[*treatment, *control]) {
        return best[0];
    }
    let integrand = |at: Point, out: &mut [f64]| {
        out[0] = treatment.density(at) * control.cdf_sf(at).0;
    };
    integrate(integrand, &[*treatment, *control], 1)[0].clamp(0.0, 1.0)
}

/// P(arm i has the highest rate) = ∫ pdf_i(p) Π_{j≠i} cdf_j(p) dp, for every arm at once on
/// shared quadrature nodes (each node costs k distribution functions, not k²). Not renormalised:
/// the sum, 1 within ~1e-12, is a check. No arms gives an empty vector, one arm [1].
pub fn prob_best(arms: &[BetaPosterior]) -> Vec<f64> {
    let k = arms.len();
    if k <= 1 {
        return vec![1.0; k];
    }
    if let Some(best) = banded_prob_best(arms) {
        return best;
    }
    // More arms than the banded rule takes (64): Gauss–Legendre on the maximum's band, where
    // every shape is large enough; the adaptive quadrature is the last resort.
    if let Some(best) = super::many_arms::prob_best_many(arms) {
        return best;
    }
    prob_best_adaptive(arms)
}

/// [`prob_best`] by the adaptive quadrature alone (any shapes; the reference for the banded
/// path in the tests).
fn prob_best_adaptive(arms: &[BetaPosterior]) -> Vec<f64> {
    let k = arms.len();
    let (mut cdfs, mut below) = (vec![0.0; k], vec![0.0; k]);
    let integrand = |at: Point, out: &mut [f64]| {
        for (c, arm) in cdfs.iter_mut().zip(arms) {
            *c = arm.cdf_sf(at).0;
        }
        // Product of all cdfs but the i-th from prefix and suffix products: no division by 0.
        let mut prefix = 1.0;
        for (b, c) in below.iter_mut().zip(&cdfs) {
            *b = prefix;
            prefix *= c;
        }
        let mut suffix = 1.0;
        for i in (0..k).rev() {
            out[i] = arms[i].density(at) * below[i] * suffix;
            suffix *= cdfs[i];
        }
    };
    let totals = integrate(integrand, arms, k);
    totals.into_iter().map(|v| v.clamp(0.0, 1.0)).collect()
}

/// Smallest shape the banded path accepts: from here on every posterior is a single smooth
/// bump whose tails (to 1e-18) lie within 14 sd of its mean, and whose log-density is far from
/// its singularities at 0 and 1 on the scale of a panel.
pub(super) const BANDED_MIN_SHAPE: f64 = 30.0;
/// Largest shape it accepts (a billion units per arm); beyond it the adaptive path, as
/// before, whose agreement with this one is measured up to here.
pub(super) const BANDED_MAX_SHAPE: f64 = 1e9;
/// Half-width of each posterior's band, in its sd (scipy: the 1e-18 tails of Beta(30, 1e6)
/// are 13.8 sd above and 4.9 sd below the mean; Beta(1e4, 1e4) 8.7 sd either side).
const BAND_SDS: f64 = 14.0;
/// Panel width, in sd of the narrowest posterior alive on the panel.
const PANEL_SDS: f64 = 2.0;
/// Chebyshev–Lobatto points per panel, minus one.
const CHEB_N: usize = 16;

/// Chebyshev–Lobatto nodes t_j = -cos(jπ/N) on [-1, 1] (ascending) and the spectral
/// integration matrix S: for f sampled at the nodes, Σ_m S[j][m] f(t_m) = ∫_{-1}^{t_j} p where
/// p is the degree-N interpolant of f. Row N holds the Clenshaw–Curtis weights.
struct Spectral {
    nodes: [f64; CHEB_N + 1],
    matrix: [[f64; CHEB_N + 1]; CHEB_N + 1],
}

fn spectral() -> &'static Spectral {
    static CELL: std::sync::OnceLock<Spectral> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        const N: usize = CHEB_N;
        let pi = std::f64::consts::PI;
        let nodes: [f64; N + 1] = std::array::from_fn(|j| -(j as f64 * pi / N as f64).cos());
        // T_k(t_j) = cos(k·(N - j)π/N)·... evaluated directly as cos(k·θ_j), t_j = cos(θ_j).
        let theta = |j: usize| (N - j) as f64 * pi / N as f64;
        let cheb = |k: usize, j: usize| (k as f64 * theta(j)).cos();
        let mut matrix = [[0.0; N + 1]; N + 1];
        for m in 0..=N {
            // Interpolant of the unit vector e_m: c_k = (2/N) Σ'' e_m(t_j) T_k(t_j), with the
            // end terms of the sum and the coefficients c_0, c_N halved.
            let end = if m == 0 || m == N { 0.5 } else { 1.0 };
            let mut c: Vec<f64> = (0..=N).map(|k| 2.0 / N as f64 * end * cheb(k, m)).collect();
            c[0] *= 0.5;
            c[N] *= 0.5;
            c.push(0.0);
            c.push(0.0);
            // Antiderivative: ∫T_0 = T_1, ∫T_1 = T_2/4, ∫T_k = T_{k+1}/(2(k+1)) - T_{k-1}/(2(k-1)).
            let mut b = [0.0; N + 2];
            b[1] = c[0] - 0.5 * c[2];
            for k in 2..=N + 1 {
                b[k] = (c[k - 1] - c[k + 1]) / (2.0 * k as f64);
            }
            // Constant so that the antiderivative vanishes at t = -1 (T_k(-1) = (-1)^k).
            b[0] = -(1..=N + 1)
                .map(|k| if k % 2 == 0 { b[k] } else { -b[k] })
                .sum::<f64>();
            for (j, row) in matrix.iter_mut().enumerate() {
                row[m] = (0..=N + 1)
                    .map(|k| b[k] * (k as f64 * theta(j)).cos())
                    .sum::<f64>();
            }
        }
        Spectral { nodes, matrix }
    })
}

/// P(arm i is best) for posteriors with every shape in [30, 1e9], all on one side of 1/2
/// (means), by spectral cumulative quadrature: on panels two narrowest-sd wide over the union
/// of the posteriors' ±14 sd bands, each density is sampled at 17 Chebyshev–Lobatto points, its
/// distribution function at the same points comes from the interpolant's exact antiderivative
/// (a matrix product, no incomplete beta), and the integrands pdf_i Π_{j≠i} cdf_j are summed
/// with the Clenshaw–Curtis weights. The distribution functions are evaluated exactly (continued
/// fraction) only where a stretch of bands starts. `None` when not eligible; the caller falls
/// back to the adaptive quadrature.
///
/// Posteriors with means above 1/2 are handled in y = 1 - x (shapes swapped), where "best" is
/// "lowest", so that both ends of (0, 1) keep full resolution.
fn banded_prob_best(arms: &[BetaPosterior]) -> Option<Vec<f64>> {
    let shapes = BANDED_MIN_SHAPE..=BANDED_MAX_SHAPE;
    if !(2..=64).contains(&arms.len())
        || !arms
            .iter()
            .all(|a| shapes.contains(&a.alpha) && shapes.contains(&a.beta))
    {
        return None;
    }
    let lower = arms.iter().all(|a| a.mean() <= 0.5);
    let upper = arms.iter().all(|a| a.mean() >= 0.5);
    let (work, lowest): (Vec<BetaPosterior>, bool) = if lower {
        (arms.to_vec(), false)
    } else if upper {
        (arms.iter().map(BetaPosterior::mirrored).collect(), true)
    } else {
        return None;
    };
    let k = work.len();
    let log_norms: Vec<f64> = work.iter().map(|a| log_norm(a.alpha, a.beta)).collect();
    let sds: Vec<f64> = work.iter().map(BetaPosterior::sd).collect();
    let bands: Vec<(f64, f64)> = work.iter().map(BetaPosterior::band).collect();
    // Break points: each band cut into panels PANEL_SDS of its own sd wide; the union of all
    // arms' points, so that every panel is at most that wide for every arm alive on it.
    let mut cuts: Vec<f64> = Vec::new();
    for (&(lo, hi), &sd) in bands.iter().zip(&sds) {
        let panels = ((hi - lo) / (PANEL_SDS * sd)).ceil().max(1.0) as usize;
        cuts.extend((0..=panels).map(|p| lo + (hi - lo) * p as f64 / panels as f64));
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let spectral = spectral();
    let mut out = vec![0.0; k];
    let (mut cdf, mut pdf) = (vec![[0.0; CHEB_N + 1]; k], vec![[0.0; CHEB_N + 1]; k]);
    let mut start = vec![0.0; k];
    // Start (exactly) of the current stretch of overlapping bands; `None` between stretches.
    let mut in_stretch = false;
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let covered = bands.iter().any(|&(lo, hi)| lo < b && hi > a);
        if !covered {
            // Outside every band: each arm has < 1e-18 of mass here; nothing to integrate.
            in_stretch = false;
            continue;
        }
        if !in_stretch {
            let at = Point::from_x(a);
            for (s, arm) in start.iter_mut().zip(&work) {
                *s = arm.cdf_sf(at).0;
            }
            in_stretch = true;
        }
        let (centre, half) = (0.5 * (a + b), 0.5 * (b - a));
        for i in 0..k {
            for (j, &t) in spectral.nodes.iter().enumerate() {
                let at = Point::from_x(centre + half * t);
                let density = (log_norms[i] - deviance(at, work[i].alpha, work[i].beta)).exp()
                    / (at.x * at.y);
                pdf[i][j] = density;
            }
            for (c, row) in cdf[i].iter_mut().zip(&spectral.matrix) {
                let mass: f64 = row.iter().zip(&pdf[i]).map(|(s, f)| s * f).sum();
                *c = (start[i] + half * mass).min(1.0);
            }
            start[i] = cdf[i][CHEB_N];
        }
        let weights = &spectral.matrix[CHEB_N];
        for j in 0..=CHEB_N {
            // pdf_i Π_{j≠i} F_j with F = cdf (highest wins) or 1 - cdf (lowest wins), by prefix
            // and suffix products.
            let factor = |i: usize| {
                if lowest {
                    1.0 - cdf[i][j]
                } else {
                    cdf[i][j]
                }
            };
            let mut suffix = 1.0;
            let mut prefixes = [0.0; 64];
            let mut prefix = 1.0;
            for (i, slot) in prefixes.iter_mut().enumerate().take(k) {
                *slot = prefix;
                prefix *= factor(i);
            }
            for i in (0..k).rev() {
                out[i] += half * weights[j] * pdf[i][j] * prefixes[i] * suffix;
                suffix *= factor(i);
            }
        }
    }
    Some(out.into_iter().map(|v| v.clamp(0.0, 1.0)).collect())
}

/// Evan Miller's exact sum for P(p_t > p_c), control Beta(a_c, b_c), treatment Beta(a_t, b_t):
/// Σ_{i=0}^{a_t-1} B(a_c+i, b_c+b_t) / ((b_t+i)·B(1+i, b_t)·B(a_c, b_c)). Defined only when a_t
/// is an integer (at most 1e7 terms); a cross-check on the quadrature, accurate to ~1e-9 at
/// n = 1e6 (limited by lnΓ differences of size 1e7).
pub fn prob_beats_closed_form(treatment: &BetaPosterior, control: &BetaPosterior) -> Option<f64> {
    let (a_t, b_t, a_c, b_c) = (treatment.alpha, treatment.beta, control.alpha, control.beta);
    if a_t.fract() != 0.0 || a_t > 1e7 {
        return None;
    }
    // Term 0 simplifies (B(1, b_t) = 1/b_t) to B(a_c, b_c+b_t)/B(a_c, b_c) = lnΓ(b_c+b_t) -
    // lnΓ(b_c) - lnΓ(a_c+b_c+b_t) + lnΓ(a_c+b_c) in logs, paired so each lnΓ ratio spans the
    // smaller shift. Consecutive terms have ratio (a_c+i)(b_t+i)/((a_c+b_c+b_t+i)(1+i)), from
    // B(x+1,y)/B(x,y) = x/(x+y). Summed in log space with a running maximum: no underflow.
    let mut log_term = if b_t <= a_c {
        ln_gamma_ratio(b_c, b_t) - ln_gamma_ratio(a_c + b_c, b_t)
    } else {
        ln_gamma_ratio(b_c, a_c) - ln_gamma_ratio(b_c + b_t, a_c)
    };
    let (mut log_scale, mut scaled_sum) = (log_term, 0.0);
    for i in 0..a_t as u64 {
        if log_term > log_scale {
            scaled_sum *= (log_scale - log_term).exp();
            log_scale = log_term;
        }
        scaled_sum += (log_term - log_scale).exp();
        let i = i as f64;
        log_term += ((a_c + i) * (b_t + i) / ((a_c + b_c + b_t + i) * (1.0 + i))).ln();
    }
    Some((log_scale.exp() * scaled_sum).clamp(0.0, 1.0))
}

/// Stirling remainder δ(z) = lnΓ(z) - [(z-½)ln z - z + ½ln 2π], for z >= 10 (error < 1e-16).
fn stirling_delta(z: f64) -> f64 {
    const C: [f64; 7] = [
        1.0 / 12.0,
        -1.0 / 360.0,
        1.0 / 1260.0,
        -1.0 / 1680.0,
        1.0 / 1188.0,
        -691.0 / 360360.0,
        1.0 / 156.0,
    ];
    let r2 = 1.0 / (z * z);
    C.iter().rev().fold(0.0, |acc, c| acc * r2 + c) / z
}

/// lnΓ(x+d) - lnΓ(x) without subtracting two huge logarithms when x is large.
fn ln_gamma_ratio(x: f64, d: f64) -> f64 {
    if x < 10.0 {
        return ln_gamma(x + d) - ln_gamma(x);
    }
    (x - 0.5) * (d / x).ln_1p() + d * (x + d).ln() - d + stirling_delta(x + d) - stirling_delta(x)
}

/// L(a, b) = -ln B(a, b) + a ln(a/(a+b)) + b ln(b/(a+b)): of modest size even for a, b = 1e6,
/// and evaluated from Stirling remainders there, without the cancellation of lnΓ differences.
fn log_norm(a: f64, b: f64) -> f64 {
    match (a >= 10.0, b >= 10.0) {
        (true, true) => {
            let delta = stirling_delta(a) + stirling_delta(b) - stirling_delta(a + b);
            0.5 * (a * b / (a + b) / (2.0 * std::f64::consts::PI)).ln() - delta
        }
        (false, true) => {
            let shift = stirling_delta(a + b) - stirling_delta(b);
            -ln_gamma(a) + a * a.ln() - a - 0.5 * (a / b).ln_1p() + shift
        }
        (true, false) => log_norm(b, a),
        (false, false) => {
            let s = a + b;
            ln_gamma(s) - ln_gamma(a) - ln_gamma(b) + a * (a / s).ln() + b * (b / s).ln()
        }
    }
}

/// x^a y^b / B(a, b) = exp(L - a·φ(x/x0) - b·φ(y/y0)) with x0 = a/(a+b), y0 = b/(a+b) and
/// φ(t) = t - 1 - ln t >= 0 (the first-order terms cancel exactly), so no term of size a·ln x
/// is formed. x/x0 - 1 = w/a and y/y0 - 1 = -w/b with w = x(a+b) - a = b - y(a+b), taken from
/// whichever of x, y is the small (exact) one.
fn beta_front(at: Point, a: f64, b: f64) -> f64 {
    (log_norm(a, b) - deviance(at, a, b)).exp()
}

/// a·φ(x/x0) + b·φ(y/y0), the exponent of [`beta_front`] without its normalising constant.
fn deviance(at: Point, a: f64, b: f64) -> f64 {
    let s = a + b;
    let w = if at.x <= 0.5 {
        at.x * s - a
    } else {
        b - at.y * s
    };
    // Near t = 1 use the deviation (from w, exact); far from it use the ratio itself, which
    // keeps its relative precision when x or y is many orders of magnitude below x0 or y0.
    let phi = |ratio: f64, dev: f64| {
        if dev.abs() < 0.5 {
            dev - dev.ln_1p()
        } else {
            ratio - 1.0 - ratio.ln()
        }
    };
    a * phi(at.x * s / a, w / a) + b * phi(at.y * s / b, -w / b)
}

/// Regularized incomplete beta I_x(a, b) by its continued fraction (modified Lentz), used below
/// x = (a+1)/(a+b+2) where it converges, in O(√max(a,b)) terms.
fn incomplete_beta_cf(at: Point, a: f64, b: f64) -> f64 {
    let guard = |v: f64| if v.abs() < 1e-300 { 1e-300 } else { v };
    let x = at.x;
    let (mut c, mut d) = (1.0, 1.0 / guard(1.0 - (a + b) * x / (a + 1.0)));
    let mut h = d;
    for m in 1..100_000 {
        let m = f64::from(m);
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        let mut step = 1.0;
        for coef in [even, odd] {
            d = 1.0 / guard(1.0 + coef * d);
            c = guard(1.0 + coef / c);
            step = d * c;
            h *= step;
        }
        if (step - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (beta_front(at, a, b) * h / a).clamp(0.0, 1.0)
}

// 15-point Kronrod rule and its embedded 7-point Gauss rule on [-1, 1]: nodes from the edge
// inwards (the last is the centre); the Gauss nodes are the odd-indexed ones. Exactness on
// polynomials of degree 22 and 13 is checked by a unit test.
pub(super) const KRONROD_NODES: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
pub(super) const KRONROD_WEIGHTS: [f64; 8] = [
    0.022_935_322_010_529_225,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_18,
    0.140_653_259_715_525_92,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_727_83,
];
const GAUSS_WEIGHTS: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_7,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

/// A quadrature panel over t in [lo, hi]; t is x on the lower half of (0, 1) and y = 1 - x on
/// the upper half (`mirrored`), so both ends of (0, 1) get full floating-point resolution.
struct Panel {
    lo: f64,
    hi: f64,
    mirrored: bool,
    sums: Vec<f64>,
    error: f64,
}

impl Panel {
    fn new(
        f: &mut impl FnMut(Point, &mut [f64]),
        lo: f64,
        hi: f64,
        mirrored: bool,
        dim: usize,
    ) -> Panel {
        let (centre, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
        let (mut kron, mut gauss, mut vals) = (vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]);
        for (i, (&node, &weight)) in KRONROD_NODES.iter().zip(&KRONROD_WEIGHTS).enumerate() {
            let ts = [centre - half * node, centre + half * node];
            for &t in &ts[..if node == 0.0 { 1 } else { 2 }] {
                let at = Point::from_x(t);
                f(if mirrored { at.flip() } else { at }, &mut vals);
                for d in 0..dim {
                    kron[d] += weight * vals[d];
                    if i % 2 == 1 {
                        gauss[d] += GAUSS_WEIGHTS[i / 2] * vals[d];
                    }
                }
            }
        }
        // |K15 - G7| overstates the K15 error by orders of magnitude on smooth panels: safe side.
        let error = half
            * kron
                .iter()
                .zip(&gauss)
                .map(|(k, g)| (k - g).abs())
                .sum::<f64>();
        kron.iter_mut().for_each(|k| *k *= half);
        Panel {
            lo,
            hi,
            mirrored,
            sums: kron,
            error,
        }
    }
}

/// Global adaptive quadrature over (0, 1) of the prob-best integrand: component i (i < `dim`) is
/// pdf_i Π_{j≠i} cdf_j over all `arms`. Panels start cut at the 1e-16 … 0.5 tail quantiles of
/// every posterior (no panel spans much more than one posterior sd, no peak hides between
/// nodes); the panel with the largest error estimate is halved until the summed estimate is
/// below max(1e-17, 1e-12·Σ|totals|).
fn integrate(mut f: impl FnMut(Point, &mut [f64]), arms: &[BetaPosterior], dim: usize) -> Vec<f64> {
    const LEVELS: [f64; 8] = [1e-16, 1e-11, 1e-7, 1e-4, 0.005, 0.05, 0.2, 0.5];
    const MAX_PANELS: usize = 4000;
    // Each half of (0, 1) is integrated over t in [0, 0.5]: t = x below 1/2, t = y above.
    // A lower-tail quantile is a cut in x, an upper-tail one (a lower quantile of the mirrored
    // posterior) a cut in y; either is moved to the other half's coordinate if beyond 1/2.
    let mut cuts = [vec![0.0, 0.5], vec![0.0, 0.5]];
    for arm in arms {
        for q in LEVELS {
            for (side, t) in [
                (0, arm.lower_quantile(q)),
                (1, arm.mirrored().lower_quantile(q)),
            ] {
                let (side, t) = if t <= 0.5 {
                    (side, t)
                } else {
                    (1 - side, 1.0 - t)
                };
                cuts[side].push(t);
            }
        }
    }
    let mut panels = Vec::new();
    for (side, cuts) in cuts.iter_mut().enumerate() {
        cuts.sort_by(f64::total_cmp);
        cuts.dedup();
        let mirrored = side == 1;
        let point = |t: f64| {
            if mirrored {
                Point::from_x(t).flip()
            } else {
                Point::from_x(t)
            }
        };
        let cdfs: Vec<Vec<(f64, f64)>> = cuts
            .iter()
            .map(|&t| arms.iter().map(|arm| arm.cdf_sf(point(t))).collect())
            .collect();
        for (w, ends) in cuts.windows(2).zip(cdfs.windows(2)) {
            let (left, right) = if mirrored {
                (&ends[1], &ends[0])
            } else {
                (&ends[0], &ends[1])
            };
            // Component i over the panel is at most its posterior mass there times the other
            // cdfs at the panel's right end; panels bounded below 1e-18 in total are skipped.
            let bound: f64 = (0..dim)
                .map(|i| {
                    let (lo, hi) = (left[i], right[i]);
                    let mass = if lo.0 < 0.5 { hi.0 - lo.0 } else { lo.1 - hi.1 };
                    let others: f64 = (0..arms.len())
                        .filter(|&j| j != i)
                        .map(|j| right[j].0)
                        .product();
                    mass.max(0.0) * others
                })
                .sum();
            if bound >= 1e-18 {
                panels.push(Panel::new(&mut f, w[0], w[1], mirrored, dim));
            }
        }
    }
    // Running totals for the stopping rule; the answer itself is re-summed from the panels.
    let totals = |panels: &[Panel]| -> (f64, f64) {
        let scale = (0..dim).map(|d| panels.iter().map(|p| p.sums[d]).sum::<f64>().abs());
        (scale.sum(), panels.iter().map(|p| p.error).sum())
    };
    let (scale, mut error) = totals(&panels);
    let tolerance = (1e-12 * scale).max(1e-17);
    while error > tolerance && panels.len() < MAX_PANELS {
        let worst = (0..panels.len()).max_by(|&i, &j| panels[i].error.total_cmp(&panels[j].error));
        let Some(worst) = worst else { break };
        let panel = panels.swap_remove(worst);
        error -= panel.error;
        let mid = 0.5 * (panel.lo + panel.hi);
        if mid > panel.lo && mid < panel.hi {
            for (lo, hi) in [(panel.lo, mid), (mid, panel.hi)] {
                let half = Panel::new(&mut f, lo, hi, panel.mirrored, dim);
                error += half.error;
                panels.push(half);
            }
        } else {
            // One ulp wide: cannot be halved, its estimate is as good as it gets.
            panels.push(Panel {
                error: 0.0,
                ..panel
            });
        }
    }
    // `+ 0.0` turns the empty sum's -0.0 (every panel pruned) into 0.
    (0..dim)
        .map(|d| panels.iter().map(|p| p.sums[d]).sum::<f64>() + 0.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(units: u64, conversions: u64) -> BetaPosterior {
        BetaPosterior::from_counts(units, conversions, BetaPrior::default()).expect("valid")
    }

    #[test]
    fn kronrod_and_gauss_rules_are_exact_on_polynomials() {
        for k in 0..=22 {
            let exact = if k % 2 == 0 {
                2.0 / (k + 1) as f64
            } else {
                0.0
            };
            let mut out = [0.0];
            let panel = Panel::new(
                &mut |at: Point, out: &mut [f64]| out[0] = (2.0 * at.x - 1.0).powi(k),
                0.0,
                1.0,
                false,
                1,
            );
            out[0] = 2.0 * panel.sums[0]; // the panel integrates over x in [0, 1] = t/2
            assert!((out[0] - exact).abs() < 1e-15, "K15 degree {k}");
            if k <= 13 {
                assert!(panel.error < 1e-15, "G7 degree {k}: {}", panel.error);
            }
        }
    }

    #[test]
    fn log_norm_matches_direct_lgamma_where_that_is_accurate() {
        for (a, b) in [
            (0.5, 3.0),
            (3.0, 12.0),
            (12.0, 50.0),
            (50.0, 0.7),
            (1e3, 2e3),
        ] {
            let s = a + b;
            let direct =
                ln_gamma(s) - ln_gamma(a) - ln_gamma(b) + a * (a / s).ln() + b * (b / s).ln();
            assert!((log_norm(a, b) - direct).abs() < 1e-11, "{a} {b}");
        }
    }

    #[test]
    fn beta_cdf_is_right_where_statrs_is_not() {
        // Beta(2, 3): F(x) = 6x² - 8x³ + 3x⁴.
        let f = |x: f64| 6.0 * x * x - 8.0 * x.powi(3) + 3.0 * x.powi(4);
        let small = BetaPosterior::new(2.0, 3.0).expect("valid");
        for x in [1e-9, 0.1, 0.3, 0.6, 0.999] {
            assert!((small.cdf(x) - f(x)).abs() <= 1e-14 * f(x), "{x}");
        }
        let big = BetaPosterior::new(500_001.0, 500_001.0).expect("valid");
        assert!((big.cdf(0.5) - 0.5).abs() < 1e-12); // statrs 0.19: 1.2e-3 off
                                                     // Density integrates to 1 near 1 too (every unit converted).
        let full = arm(1_000_000, 1_000_000);
        assert!((full.cdf(1.0 - 1e-6) - (1.0 - 1e-6_f64).powf(1_000_001.0)).abs() < 1e-12);
    }

    #[test]
    fn degenerate_counts_give_clear_answers() {
        assert_eq!(BetaPosterior::from_counts(5, 6, BetaPrior::default()), None);
        let bad_prior = BetaPrior {
            alpha: f64::NAN,
            beta: 1.0,
        };
        assert_eq!(BetaPosterior::from_counts(5, 1, bad_prior), None);
        assert_eq!(BetaPosterior::new(f64::NAN, 1.0), None);
        assert_eq!(arm(0, 0), BetaPosterior::new(1.0, 1.0).expect("uniform"));
        for (x, y) in [
            (arm(0, 0), arm(0, 0)),
            (arm(1_000_000, 1_000_000), arm(1_000_000, 1_000_000)),
            (arm(1_000_000, 0), arm(1_000_000, 0)),
        ] {
            assert!((prob_beats(&x, &y) - 0.5).abs() < 1e-12);
        }
        let far = prob_beats(&arm(1_000_000, 0), &arm(1_000_000, 1_000_000));
        assert_eq!(far, 0.0);
        assert_eq!(prob_best(&[]), Vec::<f64>::new());
        assert_eq!(prob_best(&[arm(3, 1)]), vec![1.0]);
    }

    #[test]
    fn spectral_matrix_integrates_polynomials_exactly() {
        let sp = spectral();
        for deg in 0..=CHEB_N as i32 {
            for (j, &t) in sp.nodes.iter().enumerate() {
                let got: f64 = sp.matrix[j]
                    .iter()
                    .zip(&sp.nodes)
                    .map(|(w, &x)| w * x.powi(deg))
                    .sum();
                let sign = if deg % 2 == 0 { 1.0 } else { -1.0 };
                let exact = (t.powi(deg + 1) + sign) / f64::from(deg + 1);
                assert!(
                    (got - exact).abs() < 1e-14,
                    "degree {deg} node {j}: {got} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn banded_path_matches_the_adaptive_quadrature() {
        // Large-count posteriors near 0, near 1 (handled mirrored), around 1/2, far apart,
        // with very different widths, and up to 1e8 units: the banded path agrees with the
        // adaptive quadrature (tolerance 1e-12 relative to its panels' sum) to 5e-13; at 1e8
        // units both sum to 1 within 2e-13, which is where the two disagree most.
        let shapes: [&[(f64, f64)]; 9] = [
            &[(2_501.0, 47_501.0), (2_601.0, 47_401.0)],
            &[(31.0, 1e6), (45.0, 1e6)],
            &[(47_501.0, 2_501.0), (47_401.0, 2_601.0)],
            &[(30.0, 30.0), (35.0, 40.0)],
            &[
                (500.0, 9_500.0),
                (5e5, 9.5e6),
                (600.0, 9_400.0),
                (30.0, 970.0),
            ],
            &[(1e3, 1e5), (5e3, 1e5)],
            &[(1e7, 9e7), (1.0003e7, 9e7)],
            &[(5_000.0, 5_000.0), (4_950.0, 5_050.0), (4_990.0, 5_010.0)],
            &[(1e8, 1e8), (1.00001e8, 1e8)],
        ];
        for case in shapes {
            let arms: Vec<BetaPosterior> = case
                .iter()
                .map(|&(a, b)| BetaPosterior::new(a, b).expect("valid"))
                .collect();
            let banded = banded_prob_best(&arms).expect("eligible");
            let adaptive = prob_best_adaptive(&arms);
            for (x, y) in banded.iter().zip(&adaptive) {
                assert!(
                    (x - y).abs() < 5e-13,
                    "{case:?}: {banded:?} vs {adaptive:?}"
                );
            }
        }
        // At the largest shapes accepted the answer of equal arms is known exactly: 1/2 (the
        // adaptive path is 2.4e-12 off there, this one 9e-13).
        let arm = |a, b| BetaPosterior::new(a, b).expect("valid");
        let huge = banded_prob_best(&[arm(1e9, 1e9), arm(1e9, 1e9)]).expect("eligible");
        assert!(huge.iter().all(|p| (p - 0.5).abs() < 1e-12), "{huge:?}");
        // Mixed sides, small shapes and too many arms are left to the adaptive path.
        assert!(banded_prob_best(&[arm(100.0, 900.0), arm(900.0, 100.0)]).is_none());
        assert!(banded_prob_best(&[arm(29.0, 900.0), arm(90.0, 900.0)]).is_none());
        assert!(banded_prob_best(&vec![arm(100.0, 900.0); 65]).is_none());
    }

    #[test]
    fn prob_best_sums_to_one() {
        let arms = [
            arm(0, 0),
            arm(10, 10),
            arm(1000, 0),
            arm(1_000_000, 500_000),
            arm(7, 3),
        ];
        let best = prob_best(&arms);
        assert!(best.iter().all(|p| (0.0..=1.0).contains(p)));
        assert!((best.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{best:?}");
    }
}
