//! The lift's integrals by fixed rules, for the counts a report usually has: Gauss–Legendre
//! panels over the more precise arm with its density sampled once per row, and the other arm's
//! distribution functions as Chebyshev series, so that each evaluation of P(L <= q) needs no
//! incomplete beta. See [`FixedRules`].

use super::{log_density_slope, polygammas};
use crate::stats::bayes::beta::{BetaPosterior, BANDED_MAX_SHAPE, BANDED_MIN_SHAPE};

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

/// A cumulative integral over equal panels, kept both ways: per panel its series from 0 at the
/// panel's left end and its total, with the totals of all panels below and above, so that the
/// integral up to y and the one from y both keep their relative precision in their small tail
/// (1 - F near the top is not the difference of two numbers near 1).
struct Accumulated {
    local: Vec<[f64; CHEB_N + 2]>,
    panel: Vec<f64>,
    below: Vec<f64>,
    above: Vec<f64>,
    total: f64,
}

impl Accumulated {
    fn with_capacity(count: usize) -> Accumulated {
        Accumulated {
            local: Vec::with_capacity(count),
            panel: Vec::with_capacity(count),
            below: Vec::with_capacity(count),
            above: Vec::with_capacity(count),
            total: 0.0,
        }
    }

    fn push(&mut self, local: [f64; CHEB_N + 2]) {
        let increment = chebyshev_sum(&local, 1.0);
        self.local.push(local);
        self.panel.push(increment);
        self.below.push(self.total);
        self.total += increment;
    }

    fn finish(&mut self) {
        let mut above = 0.0;
        self.above = self
            .panel
            .iter()
            .rev()
            .map(|increment| {
                let before = above;
                above += increment;
                before
            })
            .collect();
        self.above.reverse();
    }

    /// (∫ up to the place, ∫ from it); `whole` is the value taken outside the band.
    fn at(&self, place: &Place, whole: f64) -> (f64, f64) {
        match *place {
            Place::Below => (0.0, whole),
            Place::Above => (whole, 0.0),
            Place::Panel(p, t) => {
                let local = chebyshev_sum(&self.local[p], t);
                (
                    self.below[p] + local,
                    self.above[p] + (self.panel[p] - local),
                )
            }
        }
    }
}

/// One arm's density, distribution function F with its survival function S = 1 - F, and
/// weighted distribution functions W(y) = ∫_0^y w(p) f(p) dp and W̄(y) = ∫_y^1 w(p) f(p) dp, as
/// Chebyshev series in the coordinate on equal panels over its band (below it F and W are 0,
/// above it S and W̄ are 0, to < 1e-16). Each pair is [`Accumulated`] both ways, so that
/// E[1/p; p > y] keeps its precision where E[1/p] is huge (first shape near 1), and S where
/// F is near 1.
struct Cumulative {
    coordinate: Coordinate,
    lo: f64,
    width: f64,
    density: Vec<[f64; CHEB_N + 1]>,
    cdf: Accumulated,
    weighted: Accumulated,
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
            cdf: Accumulated::with_capacity(count),
            weighted: Accumulated::with_capacity(count),
        };
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
            out.cdf.push(antiderivative(&density, half, 0.0));
            let weighted = coefficients(&weighted_values);
            out.weighted.push(antiderivative(&weighted, half, 0.0));
            out.density.push(density);
        }
        out.cdf.finish();
        out.weighted.finish();
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
        if p >= self.density.len() {
            return Place::Above;
        }
        Place::Panel(p, 2.0 * (r - p as f64) - 1.0)
    }

    /// (F(y), S(y), y f(y)), the last the density of ln p at ln y.
    fn cdf_density(&self, y: f64) -> (f64, f64, f64) {
        let place = self.place(y);
        let (f, s) = self.cdf.at(&place, 1.0);
        let density = match place {
            Place::Panel(p, t) => self
                .coordinate
                .log_rate_density(chebyshev_sum(&self.density[p], t), y),
            _ => 0.0,
        };
        (f, s, density)
    }

    /// (F(y), S(y), W(y), W̄(y)).
    fn cdf_weighted(&self, y: f64) -> (f64, f64, f64, f64) {
        let place = self.place(y);
        let (f, s) = self.cdf.at(&place, 1.0);
        let (w, w_above) = self.weighted.at(&place, self.weighted.total);
        (f, s, w, w_above)
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
pub(super) struct FixedRules {
    /// Outer arm's nodes (rates) and weights (quadrature weight times density).
    nodes: Vec<f64>,
    weights: Vec<f64>,
    /// The other arm's cumulative functions: the treatment's, with w(p) = p, when the outer arm
    /// is the control; the control's, with w(p) = 1/p, when it is the treatment.
    inner: Cumulative,
    inner_post: BetaPosterior,
    outer_is_control: bool,
    #[cfg(test)]
    coordinate: Coordinate,
}

impl FixedRules {
    pub(super) fn new(treatment: &BetaPosterior, control: &BetaPosterior) -> Option<FixedRules> {
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
            #[cfg(test)]
            coordinate,
        })
    }

    /// Which of the two regimes applies, for the tests.
    #[cfg(test)]
    pub(super) fn regime(&self) -> &'static str {
        match self.coordinate {
            Coordinate::Rate => "rate",
            Coordinate::Logit => "logit",
        }
    }

    /// P(ln(1 + L) <= u) with its first two derivatives in u.
    pub(super) fn cdf_density(&self, u: f64) -> [f64; 3] {
        let s = u.exp();
        let (mut cdf, mut density, mut slope) = (0.0, 0.0, 0.0);
        for (&x, &w) in self.nodes.iter().zip(&self.weights) {
            // Outer control: P(p_t <= s x); outer treatment: P(p_c >= x / s), whose y moves
            // the other way as u grows.
            let y = if self.outer_is_control { s * x } else { x / s };
            let (f, survival, d) = self.inner.cdf_density(y);
            cdf += w * if self.outer_is_control { f } else { survival };
            density += w * d;
            slope += w * d * log_density_slope(&self.inner_post, y);
        }
        let slope = if self.outer_is_control { slope } else { -slope };
        [cdf.clamp(0.0, 1.0), density, slope]
    }

    /// (P(p_t > p_c), E[max(0, 1 - p_t / p_c)]): both at s = 1, in one pass.
    pub(super) fn chance_and_risk(&self) -> (f64, f64) {
        let (mut chance, mut risk) = (0.0, 0.0);
        for (&x, &w) in self.nodes.iter().zip(&self.weights) {
            let (f, survival, below, above) = self.inner.cdf_weighted(x);
            if self.outer_is_control {
                // E[max(0, x - p_t)] / x = F_t(x) - E[p_t; p_t <= x] / x.
                chance += w * survival;
                risk += w * (f - below / x);
            } else {
                // E[max(0, 1 - x / p_c)] = S_c(x) - x E[1 / p_c; p_c > x].
                chance += w * f;
                risk += w * (survival - x * above);
            }
        }
        (chance.clamp(0.0, 1.0), risk.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                let (f, survival, d) = cum.cdf_density(y);
                let (_, _, w, _) = cum.cdf_weighted(y);
                let (_, _, _, w_above) = inverse.cdf_weighted(y);
                // Within 1e-11 (3e-12 below 1e9 units): at Beta(1e9, 1e9) the band is 2e-4 wide
                // and both sides approach what doubles resolve in x.
                assert!((f - post.cdf(y)).abs() < 1e-11, "{a} {b} at {y}: {f}");
                // S to 1e-8 relative in the upper tail (the continued fraction's own accuracy at
                // a million units), where 1 - F would be off by 1e-14.
                let upper = post.mirrored().cdf(1.0 - y);
                assert!(
                    (survival - upper).abs() <= 1e-8 * upper + 1e-15,
                    "{a} {b} at {y}: {survival} vs {upper}"
                );
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
}
