//! Bandit policy benchmarks (criterion), each beside its baseline in the same run:
//!
//! - `decision`: one assignment decision, i.e. draw an arm from the current weight vector
//!   with the unit's hash (`allocation::bucket`), for Thompson with 10 and 100 arms; beside it
//!   the per-request Thompson baseline (draw every arm's posterior, take the argmax: no
//!   propensity to log); LinUCB and LinTS with d = 32 and 10 arms (encode the context, score
//!   it, draw).
//! - `update`: one weight update, exact P(best) (`bandit::weights`), 10 and 100 arms, Beta
//!   (conversion) and Gaussian (revenue) posteriors; beside it the naive baseline, P(best) from
//!   10,000 Monte Carlo posterior draws (as GrowthBook computes it). The baseline's propensity
//!   error against the exact weights is printed before the group runs.
//!
//! cargo bench --bench bandit -- --warm-up-time 1 --measurement-time 3

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use liftdeck::allocation::bucket;
use liftdeck::bandit::sample::{draw_means, monte_carlo_p_best};
use liftdeck::bandit::{
    contextual_weights, weights, ArmStats, ContextEncoder, FittedArm, LinearModel,
};
use liftdeck::domain::{BanditConfig, PolicyKind, RewardKind};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value};
use std::hint::black_box;

const MC_DRAWS: usize = 10_000;

/// Conversion statistics of `k` close arms (rates 4.0% to 5.0%, 20,000 units each), the shape
/// of a campaign whose weights are still moving.
fn conversion_arms(k: usize) -> Vec<ArmStats> {
    (0..k)
        .map(|i| {
            let rate = 0.04 + 0.01 * i as f64 / (k - 1).max(1) as f64;
            ArmStats::binary(20_000.0, (20_000.0 * rate).round())
        })
        .collect()
}

/// Revenue statistics of `k` close arms: mean 2.0 to 2.3 per unit, sd 15 (mostly zeros).
fn revenue_arms(k: usize) -> Vec<ArmStats> {
    (0..k)
        .map(|i| {
            let n = 20_000.0;
            let mean = 2.0 + 0.3 * i as f64 / (k - 1).max(1) as f64;
            ArmStats {
                units: n,
                reward_sum: n * mean,
                reward_sumsq: (n - 1.0) * 225.0 + n * mean * mean,
            }
        })
        .collect()
}

fn units(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("u-{}", 1_000_000 + i)).collect()
}

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));
    let ids = units(4096);
    let cfg = BanditConfig::default();
    for k in [10usize, 100] {
        let arms = conversion_arms(k);
        let w = weights(&cfg, RewardKind::Conversion, &arms, 0).probabilities;
        let mut i = 0usize;
        group.bench_with_input(BenchmarkId::new("thompson_bucket", k), &w, |b, w| {
            b.iter(|| {
                i = (i + 1) & 4095;
                bucket(black_box(42), black_box(&ids[i]), 1.0, black_box(w))
            })
        });
        let mut rng = Prng::seed_from_u64(1);
        let mut means = Vec::with_capacity(k);
        group.bench_with_input(
            BenchmarkId::new("baseline_per_request_thompson_draw", k),
            &arms,
            |b, arms| {
                b.iter(|| {
                    draw_means(
                        &mut rng,
                        RewardKind::Conversion,
                        black_box(arms),
                        &mut means,
                    );
                    means
                        .iter()
                        .enumerate()
                        .fold(0, |best, (j, &m)| if m > means[best] { j } else { best })
                })
            },
        );
    }
    let (encoder, contexts) = context_world();
    assert_eq!(encoder.dim(), 32, "the benchmark's encoder has d = 32");
    let fitted = fitted_models(&encoder, &contexts, 10);
    for policy in [PolicyKind::LinUcb, PolicyKind::LinTs] {
        let cfg = BanditConfig {
            policy,
            context_fields: fields(),
            ..BanditConfig::default()
        };
        let mut x = Vec::with_capacity(32);
        let mut i = 0usize;
        group.bench_function(
            BenchmarkId::new(format!("{policy}_d32_encode_score_bucket"), 10),
            |b| {
                b.iter(|| {
                    i = (i + 1) & 4095;
                    encoder.encode_into(black_box(&contexts[i & 1023]), &mut x);
                    let w = contextual_weights(&cfg, &fitted, &x);
                    bucket(42, black_box(&ids[i]), 1.0, &w.probabilities)
                })
            },
        );
    }
    group.finish();
}

fn fields() -> Vec<String> {
    [
        "device", "region", "segment", "category", "spend", "recency",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// 1,024 contexts whose encoding has d = 32: intercept, device 3 + other, region 8 + other,
/// segment 2 + other, category 12 + other, two numbers.
fn context_world() -> (ContextEncoder, Vec<Map<String, Value>>) {
    let mut rng = Prng::seed_from_u64(5);
    let contexts: Vec<Map<String, Value>> = (0..1024)
        .map(|_| {
            let mut m = Map::new();
            let pick = |rng: &mut Prng, n: u32| rng.random_range(0..n);
            m.insert("device".into(), format!("d{}", pick(&mut rng, 3)).into());
            m.insert("region".into(), format!("r{}", pick(&mut rng, 8)).into());
            m.insert("segment".into(), format!("s{}", pick(&mut rng, 2)).into());
            m.insert("category".into(), format!("c{}", pick(&mut rng, 12)).into());
            m.insert("spend".into(), (100.0 * rng.random::<f64>()).into());
            m.insert("recency".into(), (30.0 * rng.random::<f64>()).into());
            m
        })
        .collect();
    (ContextEncoder::fit(&fields(), &contexts), contexts)
}

/// Ridge models of `k` arms fit on 2,000 units each with random rewards.
fn fitted_models(
    enc: &ContextEncoder,
    contexts: &[Map<String, Value>],
    k: usize,
) -> Vec<FittedArm> {
    let mut rng = Prng::seed_from_u64(6);
    (0..k)
        .map(|_| {
            let mut m = LinearModel::new(enc.dim(), 1.0);
            for j in 0..2000 {
                let x = enc.encode(&contexts[j % contexts.len()]);
                m.observe(&x, f64::from(u8::from(rng.random::<f64>() < 0.1)));
            }
            m.fit().expect("positive definite")
        })
        .collect()
}

/// The Monte Carlo baseline's error against the exact weights, over 20 seeds: the largest
/// absolute error of any arm, and the RMS relative error of the arms with weight >= 1%.
fn report_mc_error(name: &str, reward: RewardKind, arms: &[ArmStats]) {
    let exact = weights(
        &BanditConfig {
            floor: Some(0.0),
            ..BanditConfig::default()
        },
        reward,
        arms,
        0,
    )
    .probabilities;
    let (mut max_abs, mut rel_sq, mut rel_n) = (0.0f64, 0.0, 0usize);
    for seed in 0..20 {
        let mut rng = Prng::seed_from_u64(seed);
        let mc = monte_carlo_p_best(&mut rng, reward, arms, MC_DRAWS).expect("defined");
        for (m, e) in mc.iter().zip(&exact) {
            max_abs = max_abs.max((m - e).abs());
            if *e >= 0.01 {
                rel_sq += ((m - e) / e).powi(2);
                rel_n += 1;
            }
        }
    }
    let smallest = exact.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!(
        "propensity error of {MC_DRAWS} Monte Carlo draws vs exact, {name}: max |error| {max_abs:.5}, \
         RMS relative error {:.1}% over weights >= 1% ({rel_n} arm-seeds), smallest exact weight {smallest:.2e}",
        100.0 * (rel_sq / rel_n.max(1) as f64).sqrt()
    );
}

fn updates(c: &mut Criterion) {
    let mut group = c.benchmark_group("update");
    let cfg = BanditConfig::default();
    for (label, reward, make) in [
        (
            "beta",
            RewardKind::Conversion,
            conversion_arms as fn(usize) -> Vec<ArmStats>,
        ),
        ("gaussian", RewardKind::Revenue, revenue_arms),
    ] {
        for k in [10usize, 100] {
            let arms = make(k);
            report_mc_error(&format!("{label} {k} arms"), reward, &arms);
            group.bench_with_input(
                BenchmarkId::new(format!("exact_weights_{label}"), k),
                &arms,
                |b, arms| b.iter(|| weights(&cfg, reward, black_box(arms), 0)),
            );
            let mut rng = Prng::seed_from_u64(2);
            group.bench_with_input(
                BenchmarkId::new(format!("baseline_monte_carlo_10000_{label}"), k),
                &arms,
                |b, arms| {
                    b.iter(|| monte_carlo_p_best(&mut rng, reward, black_box(arms), MC_DRAWS))
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, decisions, updates);
criterion_main!(benches);
