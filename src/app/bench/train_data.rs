//! The data of `liftdeck bench train`: a seeded synthetic logistic shop with known true
//! probabilities, and the Vowpal Wabbit text of the same hashed features, so VW learns from
//! exactly what liftdeck learns from.
//!
//! The generator (documented in BENCHMARKS.md): row k is assigned at `start + k` seconds (so
//! time order is row order and the newest 20% is the tail), with
//! - `device` in {mobile, desktop, tablet} (60/30/10%), `segment` in 5 levels, `region` in
//!   20 levels, `user_group` in 1000 levels (a high-cardinality user field), all uniform but
//!   device;
//! - `arm` in {control, coupon-5, coupon-10, discount-20}, uniform, with the offer parameter
//!   `discount_pct` 0, 5, 10, 20;
//! - true logit = -2.4 + device + segment + region + user_group effects + arm effect
//!   plus segment x arm effect, device x discount_pct slope and a daily cycle in the hour,
//!   each effect drawn once from the seeded generator; the label is Bernoulli(sigmoid).
//!
//! The segment x arm and device x discount effects are what the default spec's crosses
//! (context field x arm, context field x offer parameter) can learn.

use crate::model::hashing::HashSpec;
use crate::model::logistic::sigmoid;
use crate::model::pipeline::{hour_and_weekday, TrainingRow, ARM, HOUR, POSITION, WEEKDAY};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value};
use std::io::Write;

const DEVICES: [&str; 3] = ["mobile", "desktop", "tablet"];
const SEGMENTS: [&str; 5] = ["new", "returning", "loyal", "lapsed", "vip"];
const REGIONS: usize = 20;
const GROUPS: usize = 1000;
const ARMS: [(&str, f64); 4] = [
    ("control", 0.0),
    ("coupon-5", 5.0),
    ("coupon-10", 10.0),
    ("discount-20", 20.0),
];
/// 2026-11-02T00:00:00Z, a Monday, in microseconds.
const START_MICROS: i64 = 1_793_577_600_000_000;

/// Generated rows with the probability each label was drawn from.
pub struct Synthetic {
    pub rows: Vec<TrainingRow>,
    pub truth: Vec<f64>,
}

/// A normal draw (Box-Muller), sd `sd`.
fn normal(rng: &mut Prng, sd: f64) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random::<f64>();
    sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn effects(rng: &mut Prng, n: usize, sd: f64) -> Vec<f64> {
    (0..n).map(|_| normal(rng, sd)).collect()
}

/// `n` rows from the synthetic shop, the same for the same seed.
pub fn synthetic_rows(n: usize, seed: u64) -> Synthetic {
    let mut rng = Prng::seed_from_u64(seed);
    let device = [0.3, -0.2, 0.0];
    let segment = effects(&mut rng, SEGMENTS.len(), 0.4);
    let region = effects(&mut rng, REGIONS, 0.2);
    let group = effects(&mut rng, GROUPS, 0.5);
    let arm = [0.0, 0.15, 0.3, 0.25];
    let seg_x_arm = effects(&mut rng, SEGMENTS.len() * ARMS.len(), 0.4);
    let device_x_discount = [0.03, -0.02, 0.0];
    let groups: Vec<Value> = (0..GROUPS).map(|g| Value::from(format!("g{g}"))).collect();
    let regions: Vec<Value> = (0..REGIONS).map(|r| Value::from(format!("r{r}"))).collect();
    let mut rows = Vec::with_capacity(n);
    let mut truth = Vec::with_capacity(n);
    for k in 0..n {
        let u: f64 = rng.random::<f64>();
        let d = if u < 0.6 {
            0
        } else if u < 0.9 {
            1
        } else {
            2
        };
        let s = rng.random_range(0..SEGMENTS.len());
        let r = rng.random_range(0..REGIONS);
        let g = rng.random_range(0..GROUPS);
        let a = rng.random_range(0..ARMS.len());
        let assigned_at = START_MICROS + (k as i64) * 1_000_000;
        let hour = (k / 3600) % 24;
        let logit = -2.4
            + device[d]
            + segment[s]
            + region[r]
            + group[g]
            + arm[a]
            + seg_x_arm[s * ARMS.len() + a]
            + device_x_discount[d] * ARMS[a].1
            + 0.2 * (std::f64::consts::TAU * hour as f64 / 24.0).sin();
        let p = sigmoid(logit);
        let label = rng.random::<f64>() < p;
        let mut context = Map::new();
        context.insert("device".into(), Value::from(DEVICES[d]));
        context.insert("segment".into(), Value::from(SEGMENTS[s]));
        context.insert("region".into(), regions[r].clone());
        context.insert("user_group".into(), groups[g].clone());
        let mut offer = Map::new();
        offer.insert("discount_pct".into(), Value::from(ARMS[a].1));
        rows.push(TrainingRow {
            context,
            arm: ARMS[a].0.into(),
            offer,
            assigned_at,
            position: None,
            rfm: None,
            label,
        });
        truth.push(p);
    }
    Synthetic { rows, truth }
}

/// The row's own fields (arm, hour, weekday) as the pipeline derives them before hashing;
/// the test checks this hashes exactly as `TrainingRow::encode`.
fn derived_fields(row: &TrainingRow) -> Map<String, Value> {
    const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let (hour, weekday) = hour_and_weekday(row.assigned_at);
    let mut m = Map::new();
    m.insert(ARM.into(), Value::from(row.arm.as_str()));
    m.insert(HOUR.into(), Value::from(hour));
    m.insert(WEEKDAY.into(), Value::from(WEEKDAYS[weekday]));
    if let Some(p) = row.position {
        m.insert(POSITION.into(), Value::from(p));
    }
    m
}

/// A feature name VW's text format can carry: no space, `:` or `|`.
fn vw_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ' ' | '\t' => '_',
            ':' => ';',
            '|' => '!',
            c => c,
        })
        .collect()
}

/// Writes each row as `label |f name[:value] ...` with labels -1/1: the spec's features by
/// name (VW hashes the names itself), with the same values liftdeck learns from (signed by
/// liftdeck's hash; a sign flip only flips the weight's sign). The bias feature is left out:
/// VW adds its own constant.
pub fn write_vw(
    out: &mut impl Write,
    spec: &HashSpec,
    rows: &[TrainingRow],
) -> std::io::Result<()> {
    for row in rows {
        out.write_all(if row.label { b"1 |f" } else { b"-1 |f" })?;
        let derived = derived_fields(row);
        let maps: [&Map<String, Value>; 3] = [&derived, &row.context, &row.offer];
        for (name, _bucket, value) in spec.explain(&maps[..]) {
            if name == crate::model::hashing::BIAS_KEY {
                continue;
            }
            if value == 1.0 {
                write!(out, " {}", vw_name(&name))?;
            } else if value != 0.0 {
                write!(out, " {}:{}", vw_name(&name), value)?;
            }
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_rows_and_time_ordered() {
        let a = synthetic_rows(500, 3);
        let b = synthetic_rows(500, 3);
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.truth, b.truth);
        assert!(a
            .rows
            .windows(2)
            .all(|w| w[0].assigned_at < w[1].assigned_at));
        let rate = a.rows.iter().filter(|r| r.label).count() as f64 / 500.0;
        assert!(rate > 0.02 && rate < 0.4, "rate {rate}");
        assert_ne!(a.rows, synthetic_rows(500, 4).rows);
    }

    #[test]
    fn vw_text_has_one_line_per_row_and_every_feature_but_the_bias() {
        let data = synthetic_rows(50, 1);
        let spec = crate::model::pipeline::default_spec(&data.rows, 18, true);
        let mut buf = Vec::new();
        write_vw(&mut buf, &spec, &data.rows).expect("write");
        let text = String::from_utf8(buf).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 50);
        for (line, row) in lines.iter().zip(&data.rows) {
            let derived = derived_fields(row);
            let maps: [&Map<String, Value>; 3] = [&derived, &row.context, &row.offer];
            assert_eq!(
                spec.encode(&maps[..]),
                row.encode(&spec),
                "same fields as training"
            );
            let (label, features) = line.split_once(" |f").expect("namespace");
            assert_eq!(label, if row.label { "1" } else { "-1" });
            // Zero values (the control arm's discount and its crosses) are not written.
            let explained = spec.explain(&maps[..]);
            let n = explained
                .iter()
                .filter(|(name, _, value)| name != crate::model::hashing::BIAS_KEY && *value != 0.0)
                .count();
            assert_eq!(features.split_whitespace().count(), n, "{line}");
            assert!(!features.contains("__bias__"));
            assert!(features.contains("device="));
            assert!(features.contains("_x_arm="), "crosses are written: {line}");
        }
    }
}
