//! Helpers shared by the `stats_verify_*` tests: fixture loading and cheap seeded draws.

use liftdeck::domain::ArmRollup;
use liftdeck::stats::ab::Metric;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt};
use serde_json::Value;
use std::path::Path;

/// Xoshiro256++: a fixed, documented algorithm (`StdRng` may change between rand releases).
pub type Generator = Xoshiro256PlusPlus;

/// The `cases` array of `fixtures/golden/<name>`.
pub fn golden(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc: Value = serde_json::from_str(&text).expect("fixture is JSON");
    doc["cases"].as_array().expect("cases array").clone()
}

pub fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing or not a number in {v}"))
}

pub fn nums(v: &Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// Relative comparison with an absolute floor.
pub fn assert_close(actual: f64, expected: f64, rel: f64, abs: f64, what: &str) {
    let tol = (rel * expected.abs()).max(abs);
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: got {actual:e}, expected {expected:e} (diff {:e}, tol {tol:e})",
        (actual - expected).abs()
    );
}

/// A Bernoulli(p) draw as one integer comparison (the generic samplers would be compiled at the
/// test crate's debug opt-level and be far slower).
pub fn bernoulli(rng: &mut Generator, p: f64) -> bool {
    let threshold = (p.clamp(0.0, 1.0) * 2f64.powi(64)) as u64;
    rng.next_u64() < threshold
}

/// Uniform on [0, 1).
pub fn uniform(rng: &mut Generator) -> f64 {
    rng.random::<f64>()
}

/// Two independent standard normal draws by Box–Muller.
pub fn normal_pair(rng: &mut Generator) -> (f64, f64) {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    let radius = (-2.0 * u1.ln()).sqrt();
    let angle = std::f64::consts::TAU * u2;
    (radius * angle.cos(), radius * angle.sin())
}

/// Standard normal draws, generated in pairs.
pub struct Normals {
    spare: Option<f64>,
}

impl Normals {
    pub fn new() -> Self {
        Normals { spare: None }
    }

    pub fn draw(&mut self, rng: &mut Generator) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (a, b) = normal_pair(rng);
        self.spare = Some(b);
        a
    }
}

/// Calibration table: predictions bucketed into `buckets` equal-width bins of [0, 1].
pub struct Calibration {
    /// (count, Σ predicted, Σ predicted·(1 - predicted), Σ outcome) per bucket.
    bins: Vec<(f64, f64, f64, f64)>,
}

impl Calibration {
    pub fn new(buckets: usize) -> Self {
        Calibration {
            bins: vec![(0.0, 0.0, 0.0, 0.0); buckets],
        }
    }

    pub fn add(&mut self, predicted: f64, outcome: bool) {
        let k = self.bins.len();
        let i = ((predicted * k as f64) as usize).min(k - 1);
        let b = &mut self.bins[i];
        b.0 += 1.0;
        b.1 += predicted;
        b.2 += predicted * (1.0 - predicted);
        b.3 += f64::from(u8::from(outcome));
    }

    /// Per bucket: (count, mean predicted, observed frequency, z = (observed - predicted) / MC sd),
    /// where the MC sd of the observed count is sqrt(Σ p(1-p)) if the predictions are calibrated.
    pub fn rows(&self) -> Vec<(f64, f64, f64, f64)> {
        self.bins
            .iter()
            .filter(|b| b.0 > 0.0)
            .map(|&(n, sp, spq, so)| {
                let z = if spq > 0.0 {
                    (so - sp) / spq.sqrt()
                } else {
                    0.0
                };
                (n, sp / n, so / n, z)
            })
            .collect()
    }

    /// Overall z of Σ(outcome - predicted) and the Brier-free chi-square Σ z² over buckets.
    pub fn totals(&self) -> (f64, f64) {
        let (sp, spq, so) = self.bins.iter().fold((0.0, 0.0, 0.0), |acc, b| {
            (acc.0 + b.1, acc.1 + b.2, acc.2 + b.3)
        });
        let chi2 = self.rows().iter().map(|r| r.3 * r.3).sum();
        ((so - sp) / spq.sqrt(), chi2)
    }

    pub fn print(&self, what: &str) {
        eprintln!("{what}: bucket count mean_predicted observed z");
        for (n, p, o, z) in self.rows() {
            eprintln!("  {n:>6} {p:.4} {o:.4} {z:+.2}");
        }
        let (z, chi2) = self.totals();
        eprintln!("  overall z {z:+.2}, chi2 over buckets {chi2:.1}");
    }
}

/// One simulated unit: pre-period spend and its totals (the CUPED and stratified checks
/// build rollups from raw units with these).
#[derive(Clone, Copy)]
pub struct Unit {
    pub x: f64,
    pub exposures: f64,
    pub clicks: f64,
    pub cart: bool,
    pub orders: f64,
    pub revenue: f64,
    pub cost: f64,
}

/// The rollup ingest would keep for these units, built from the per-unit definitions.
pub fn rollup_of(units: &[Unit]) -> ArmRollup {
    let mut r = ArmRollup::default();
    for u in units {
        r.units += 1;
        r.exposures += u.exposures as i64;
        r.clicks += u.clicks as i64;
        r.cart_units += i64::from(u.cart);
        r.add_to_carts += i64::from(u.cart);
        r.purchases += u.orders as i64;
        r.conversions += i64::from(u.orders > 0.0);
        r.revenue_sum += u.revenue;
        r.revenue_sumsq += u.revenue * u.revenue;
        r.cost_sum += u.cost;
        r.cost_sumsq += u.cost * u.cost;
        r.revenue_cost_sum += u.revenue * u.cost;
        r.exposures_sumsq += u.exposures * u.exposures;
        r.clicks_sumsq += u.clicks * u.clicks;
        r.clicks_exposures_sum += u.clicks * u.exposures;
        r.purchases_sumsq += u.orders * u.orders;
        r.revenue_purchases_sum += u.revenue * u.orders;
        r.x_units += 1;
        r.x_sum += u.x;
        r.x_sumsq += u.x * u.x;
        r.x_revenue_sum += u.x * u.revenue;
        r.x_conversion_sum += if u.orders > 0.0 { u.x } else { 0.0 };
        r.x_cost_sum += u.x * u.cost;
        r.x_cart_sum += if u.cart { u.x } else { 0.0 };
        r.x_exposures_sum += u.x * u.exposures;
        r.x_clicks_sum += u.x * u.clicks;
        r.x_purchases_sum += u.x * u.orders;
    }
    r
}

/// Per-unit (numerator, denominator) of a metric, by its definition.
pub fn per_unit(metric: Metric, u: &Unit) -> (f64, f64) {
    match metric {
        Metric::Conversion => (f64::from(u8::from(u.orders > 0.0)), 1.0),
        Metric::AddToCart => (f64::from(u8::from(u.cart)), 1.0),
        Metric::Revenue => (u.revenue, 1.0),
        Metric::Cost => (u.cost, 1.0),
        Metric::Profit => (u.revenue - u.cost, 1.0),
        Metric::Ctr => (u.clicks, u.exposures),
        Metric::Aov => (u.revenue, u.orders),
    }
}
