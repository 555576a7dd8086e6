//! Unit tests of the pure policies: exact weights, the floor, top-two against a Monte Carlo of
//! its own procedure, the posterior against scipy, the linear models against direct algebra.

use super::*;
use crate::stats::bayes::{normal_prob_best, prob_best, BetaPosterior};
use proptest::prelude::*;
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::SeedableRng;
use serde_json::{json, Map, Value};

fn config(policy: PolicyKind, floor: f64) -> BanditConfig {
    BanditConfig {
        policy,
        floor: Some(floor),
        ..BanditConfig::default()
    }
}

fn binary_arms() -> Vec<ArmStats> {
    [(400.0, 40.0), (400.0, 52.0), (380.0, 47.0), (90.0, 9.0)]
        .iter()
        .map(|&(n, s)| ArmStats::binary(n, s))
        .collect()
}

#[test]
fn thompson_weights_are_the_reports_p_best_with_the_floor_added() {
    let arms = binary_arms();
    let posts: Vec<BetaPosterior> = arms
        .iter()
        .map(|a| {
            BetaPosterior::new(1.0 + a.reward_sum, 1.0 + a.units - a.reward_sum).expect("shapes")
        })
        .collect();
    let exact = prob_best(&posts);
    let total: f64 = exact.iter().sum();
    let bare = weights(
        &config(PolicyKind::Thompson, 0.0),
        RewardKind::Conversion,
        &arms,
        0,
    );
    for (w, p) in bare.probabilities.iter().zip(&exact) {
        assert!((w - p / total).abs() < 1e-15, "{w} vs {p}");
    }
    assert_eq!(bare.p_best.as_deref(), Some(&exact[..]));
    assert_eq!(bare.leader, Some(1));
    let floored = weights(
        &config(PolicyKind::Thompson, 0.05),
        RewardKind::Conversion,
        &arms,
        0,
    );
    for (w, p) in floored.probabilities.iter().zip(&exact) {
        let expected = 0.05 + (1.0 - 4.0 * 0.05) * p / total;
        assert!((w - expected).abs() < 1e-15, "{w} vs {expected}");
    }
    // Revenue: the Gaussian posterior's P(best) through the report's normal_prob_best.
    let rev = [
        ArmStats {
            units: 500.0,
            reward_sum: 5000.0,
            reward_sumsq: 500.0 * (100.0 + 400.0),
        },
        ArmStats {
            units: 500.0,
            reward_sum: 5400.0,
            reward_sumsq: 500.0 * (10.8 * 10.8 + 400.0),
        },
    ];
    let normals = posterior::gaussian(&rev).expect("defined");
    let w = weights(
        &config(PolicyKind::Thompson, 0.0),
        RewardKind::Revenue,
        &rev,
        0,
    );
    let expected = normal_prob_best(&normals).expect("defined");
    assert_eq!(w.probabilities, expected);
}

#[test]
fn top_two_probabilities_match_a_monte_carlo_of_the_procedure() {
    // Arms close enough that the challenger matters.
    let arms = [
        ArmStats::binary(200.0, 20.0),
        ArmStats::binary(200.0, 24.0),
        ArmStats::binary(200.0, 26.0),
        ArmStats::binary(50.0, 5.0),
    ];
    let beta = 0.6;
    let cfg = BanditConfig {
        policy: PolicyKind::TopTwo,
        floor: Some(0.0),
        top_two_beta: Some(beta),
        ..BanditConfig::default()
    };
    let exact = weights(&cfg, RewardKind::Conversion, &arms, 0).probabilities;
    let mut rng = Prng::seed_from_u64(9);
    let trials = 40_000;
    let mut played = [0u32; 4];
    let mut means = Vec::new();
    let argmax = |m: &[f64]| policies::argmax(m).expect("arms");
    for _ in 0..trials {
        assert!(sample::draw_means(
            &mut rng,
            RewardKind::Conversion,
            &arms,
            &mut means
        ));
        let leader = argmax(&means);
        let arm = if rand::RngExt::random::<f64>(&mut rng) < beta {
            leader
        } else {
            loop {
                sample::draw_means(&mut rng, RewardKind::Conversion, &arms, &mut means);
                let j = argmax(&means);
                if j != leader {
                    break j;
                }
            }
        };
        played[arm] += 1;
    }
    for (i, (&e, &c)) in exact.iter().zip(&played).enumerate() {
        let share = c as f64 / trials as f64;
        let se = (e * (1.0 - e) / trials as f64).sqrt();
        assert!((share - e).abs() < 4.0 * se, "arm {i}: {share} vs {e}");
    }
    // The challenger share differs from plain Thompson: top-two moves mass off the leader.
    let ts = weights(
        &config(PolicyKind::Thompson, 0.0),
        RewardKind::Conversion,
        &arms,
        0,
    );
    assert!(exact[2] < ts.probabilities[2]);
}

#[test]
fn top_two_with_a_certain_leader_sends_the_challenger_share_uniformly() {
    let w = policies::top_two(&[1.0, 0.0, 0.0], 0.5);
    assert_eq!(w, vec![0.5, 0.25, 0.25]);
}

#[test]
fn ucb1_tries_every_arm_first_then_takes_the_highest_bound() {
    let cfg = config(PolicyKind::Ucb1, 0.0);
    let arms = [
        ArmStats::binary(10.0, 5.0),
        ArmStats::default(),
        ArmStats::default(),
    ];
    let w = weights(&cfg, RewardKind::Click, &arms, 0);
    assert_eq!(w.probabilities, vec![0.0, 0.5, 0.5]);
    // Same mean, fewer units: the wider bound wins.
    let arms = [ArmStats::binary(100.0, 10.0), ArmStats::binary(20.0, 2.0)];
    let w = weights(&cfg, RewardKind::Click, &arms, 0);
    assert_eq!(w.probabilities, vec![0.0, 1.0]);
    assert_eq!(w.leader, Some(0), "equal means: the first is the leader");
    // Ties split.
    let arms = [ArmStats::binary(50.0, 5.0), ArmStats::binary(50.0, 5.0)];
    let w = weights(&cfg, RewardKind::Click, &arms, 0);
    assert_eq!(w.probabilities, vec![0.5, 0.5]);
}

#[test]
fn epsilon_greedy_decays_by_update() {
    let cfg = BanditConfig {
        policy: PolicyKind::EpsilonGreedy,
        floor: Some(0.0),
        epsilon: Some(0.2),
        epsilon_decay: Some(1.0),
        ..BanditConfig::default()
    };
    let arms = binary_arms();
    let w0 = weights(&cfg, RewardKind::Conversion, &arms, 0).probabilities;
    assert!((w0[0] - 0.05).abs() < 1e-15 && (w0[1] - 0.85).abs() < 1e-15);
    // t = 3: epsilon 0.2 / 4 = 0.05, 0.0125 per arm.
    let w3 = weights(&cfg, RewardKind::Conversion, &arms, 3).probabilities;
    assert!((w3[0] - 0.0125).abs() < 1e-15 && (w3[1] - 0.9625).abs() < 1e-15);
}

#[test]
fn stop_on_winner_gives_the_winner_all_but_the_floor() {
    let arms = [
        ArmStats::binary(5000.0, 500.0),
        ArmStats::binary(5000.0, 650.0),
    ];
    let mut cfg = config(PolicyKind::EpsilonGreedy, 0.01);
    let w = weights(&cfg, RewardKind::Conversion, &arms, 0);
    assert_eq!(w.winner, Some(1));
    // epsilon 0.1 over two arms, then the floor: 0.01 + 0.98·0.05.
    assert!((w.probabilities[0] - 0.059).abs() < 1e-12, "{w:?}");
    cfg.stop_on_winner = true;
    let w = weights(&cfg, RewardKind::Conversion, &arms, 0);
    assert!((w.probabilities[0] - 0.01).abs() < 1e-15, "{w:?}");
    assert!(w.leader_p_best().is_some_and(|p| p > 0.99));
}

proptest! {
    #[test]
    fn every_policy_sums_to_one_and_respects_the_floor(
        stats in prop::collection::vec((0u32..2000, 0.0f64..1.0), 2..12),
        floor_share in 0.0f64..1.0,
        t in 0u64..50,
        binary in any::<bool>(),
    ) {
        let arms: Vec<ArmStats> = stats
            .iter()
            .map(|&(n, rate)| {
                let n = f64::from(n);
                if binary {
                    ArmStats::binary(n, (n * rate).floor())
                } else {
                    // A spread of amounts with mean 20·rate.
                    ArmStats { units: n, reward_sum: 20.0 * rate * n, reward_sumsq: n * (400.0 * rate * rate + 25.0) }
                }
            })
            .collect();
        let reward = if binary { RewardKind::Conversion } else { RewardKind::Profit };
        let k = arms.len() as f64;
        let floor = floor_share / k;
        for policy in PolicyKind::ALL {
            let cfg = BanditConfig { policy, floor: Some(floor), epsilon_decay: Some(0.5), ..BanditConfig::default() };
            let w = weights(&cfg, reward, &arms, t);
            let total: f64 = w.probabilities.iter().sum();
            prop_assert!((total - 1.0).abs() < 1e-9, "{policy}: sum {total}");
            for p in &w.probabilities {
                prop_assert!(*p >= floor - 1e-12 && *p <= 1.0 + 1e-12, "{policy}: {p} < {floor}");
            }
        }
    }
}

#[test]
fn from_rollup_reads_the_reports_statistics_and_profit_can_reverse_conversion() {
    use crate::domain::ArmRollup;
    // Deep discount: more buyers, each earning less after the discount's cost.
    let deep = ArmRollup {
        units: 1000,
        conversions: 120,
        click_units: 300,
        revenue_sum: 120.0 * 50.0,
        revenue_sumsq: 120.0 * 2500.0,
        cost_sum: 120.0 * 20.0,
        cost_sumsq: 120.0 * 400.0,
        revenue_cost_sum: 120.0 * 1000.0,
        ..ArmRollup::default()
    };
    let mild = ArmRollup {
        units: 1000,
        conversions: 100,
        click_units: 280,
        revenue_sum: 100.0 * 50.0,
        revenue_sumsq: 100.0 * 2500.0,
        cost_sum: 100.0 * 5.0,
        cost_sumsq: 100.0 * 25.0,
        revenue_cost_sum: 100.0 * 250.0,
        ..ArmRollup::default()
    };
    let conv = ArmStats::from_rollup(&deep, RewardKind::Conversion);
    assert_eq!(conv, ArmStats::binary(1000.0, 120.0));
    assert_eq!(
        ArmStats::from_rollup(&deep, RewardKind::Click),
        ArmStats::binary(1000.0, 300.0)
    );
    let profit = ArmStats::from_rollup(&deep, RewardKind::Profit);
    // Each buyer earns 30: Σ = 3600, Σ² = 120·900.
    assert!((profit.reward_sum - 3600.0).abs() < 1e-9);
    assert!((profit.reward_sumsq - 120.0 * 900.0).abs() < 1e-6);
    let cfg = config(PolicyKind::Thompson, 0.0);
    let by = |reward| {
        let arms = [
            ArmStats::from_rollup(&deep, reward),
            ArmStats::from_rollup(&mild, reward),
        ];
        weights(&cfg, reward, &arms, 0).leader
    };
    assert_eq!(by(RewardKind::Conversion), Some(0));
    assert_eq!(by(RewardKind::Revenue), Some(0));
    assert_eq!(
        by(RewardKind::Profit),
        Some(1),
        "the deep discount earns less"
    );
}

#[test]
fn beta_posterior_interval_matches_scipy() {
    let post = posterior(RewardKind::Conversion, &[ArmStats::binary(100.0, 30.0)]);
    // scipy.stats.beta.ppf([0.025, 0.975], 31, 71)
    assert!(
        (post[0].lower - 0.2189787263040341).abs() < 1e-12,
        "{post:?}"
    );
    assert!(
        (post[0].upper - 0.396147128647689).abs() < 1e-12,
        "{post:?}"
    );
    assert!((post[0].mean - 31.0 / 102.0).abs() < 1e-15);
    assert_eq!(post[0].p_best, 1.0);
}

#[test]
fn gaussian_posterior_is_the_reports_estimate_for_large_n_and_honest_for_small() {
    // Large n: mean x̄ and sd s/√n to within the prior's one unit.
    let (n, mean, var) = (10_000.0, 12.0, 900.0);
    let big = ArmStats {
        units: n,
        reward_sum: n * mean,
        reward_sumsq: (n - 1.0) * var + n * mean * mean,
    };
    let other = ArmStats {
        units: n,
        reward_sum: n * 11.0,
        reward_sumsq: (n - 1.0) * var + n * 121.0,
    };
    let g = posterior::gaussian(&[big, other]).expect("defined");
    assert!((g[0].0 - mean).abs() < 1e-3, "{g:?}");
    assert!((g[0].1 / (var / n).sqrt() - 1.0).abs() < 1e-3, "{g:?}");
    // Three non-buyers: not certain; an untried arm: the prior (pooled mean, wide).
    let zeros = ArmStats {
        units: 3.0,
        ..ArmStats::default()
    };
    let g = posterior::gaussian(&[big, zeros, ArmStats::default()]).expect("defined");
    assert!(g[1].1 > 5.0, "{g:?}");
    assert!((g[2].0 - big.reward_sum / (n + 3.0)).abs() < 1e-9, "{g:?}");
    assert!(g[2].1 > 20.0, "{g:?}");
    // Nothing tells arms apart: P(best) undefined, the posterior summary uniform.
    let same = [zeros, zeros];
    assert_eq!(p_best(RewardKind::Revenue, &same), None);
    let post = posterior(RewardKind::Revenue, &same);
    assert_eq!(post[0].p_best, 0.5);
}

fn contexts() -> Vec<Map<String, Value>> {
    let rows = [
        json!({"device": "mobile", "spend": 10.0}),
        json!({"device": "mobile", "spend": 30.0}),
        json!({"device": "desktop", "spend": 20.0}),
        json!({"device": "tablet"}),
    ];
    rows.iter().filter_map(|r| r.as_object().cloned()).collect()
}

#[test]
fn encoder_one_hot_text_standardised_numbers_and_an_other_bucket() {
    let fields = vec!["device".to_string(), "spend".to_string()];
    let enc = ContextEncoder::fit(&fields, &contexts());
    // intercept + mobile, desktop, tablet, other + spend.
    assert_eq!(enc.dim(), 6);
    let x = enc.encode(&contexts()[1]);
    let sd = (200.0f64 / 3.0).sqrt();
    assert_eq!(&x[..5], &[1.0, 1.0, 0.0, 0.0, 0.0]);
    assert!((x[5] - 10.0 / sd).abs() < 1e-12, "{x:?}");
    let unseen = json!({"device": "tv", "spend": "20"});
    let x = enc.encode(unseen.as_object().expect("object"));
    assert_eq!(x, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let back: ContextEncoder =
        serde_json::from_str(&serde_json::to_string(&enc).expect("json")).expect("parse");
    assert_eq!(back, enc);
}

#[test]
fn ridge_fit_solves_the_normal_equations() {
    let mut m = LinearModel::new(3, 0.5);
    let mut rng = Prng::seed_from_u64(3);
    for _ in 0..200 {
        let x = [
            1.0,
            sample::standard_normal(&mut rng),
            sample::standard_normal(&mut rng),
        ];
        let r = 0.3 + 0.5 * x[1] - 0.2 * x[2] + 0.1 * sample::standard_normal(&mut rng);
        m.observe(&x, r);
    }
    let f = m.fit().expect("positive definite");
    // A θ = b.
    let a = |i: usize, j: usize| m.gram[i * 3 + j] + if i == j { 0.5 } else { 0.0 };
    for i in 0..3 {
        let lhs: f64 = (0..3).map(|j| a(i, j) * f.theta[j]).sum();
        assert!((lhs - m.xr[i]).abs() < 1e-9, "row {i}");
    }
    assert!((f.theta[1] - 0.5).abs() < 0.05, "{:?}", f.theta);
    // xᵀA⁻¹x against the solve: A z = x, then xᵀz.
    let x = [1.0, 0.3, -2.0];
    let mut probe = m.clone();
    probe.xr = x.to_vec();
    let z = probe.fit().expect("pd").theta;
    let direct: f64 = x.iter().zip(&z).map(|(a, b)| a * b).sum();
    assert!((f.variance(&x) - direct).abs() < 1e-12 * direct.max(1.0));
}

#[test]
fn contextual_weights_lints_is_p_best_per_context_and_linucb_the_top_bound() {
    let mut models = [LinearModel::new(2, 1.0), LinearModel::new(2, 1.0)];
    // Arm 0 good when x1 = 1, arm 1 when x1 = 0.
    for i in 0..400 {
        let x1 = f64::from(i % 2);
        let x = [1.0, x1];
        models[0].observe(&x, 0.2 + 0.4 * x1);
        models[1].observe(&x, 0.5 - 0.2 * x1);
    }
    let fitted: Vec<FittedArm> = models.iter().filter_map(LinearModel::fit).collect();
    let ts = BanditConfig {
        policy: PolicyKind::LinTs,
        floor: Some(0.01),
        context_fields: vec!["x1".into()],
        ..BanditConfig::default()
    };
    for (x1, best) in [(0.0, 1), (1.0, 0)] {
        let x = [1.0, x1];
        let w = contextual_weights(&ts, &fitted, &x);
        assert_eq!(w.leader, Some(best));
        let normals: Vec<(f64, f64)> = fitted
            .iter()
            .map(|f| (f.mean(&x), f.variance(&x).sqrt()))
            .collect();
        let p = normal_prob_best(&normals).expect("defined");
        for (wi, pi) in w.probabilities.iter().zip(&p) {
            assert!((wi - (0.01 + 0.98 * pi)).abs() < 1e-12);
        }
        let ucb = BanditConfig {
            policy: PolicyKind::LinUcb,
            ..ts.clone()
        };
        let w = contextual_weights(&ucb, &fitted, &x);
        assert_eq!(w.leader, Some(best));
        assert!((w.probabilities[best] - 0.99).abs() < 1e-15);
    }
    // A context of the wrong width: uniform, not a panic.
    assert_eq!(
        contextual_weights(&ts, &fitted, &[1.0]).probabilities,
        vec![0.5, 0.5]
    );
}

#[test]
fn many_arm_p_best_matches_scipy_and_the_reports_rule() {
    // fixtures/golden/make_bandit_golden.py (scipy quadrature).
    let golden: Value =
        serde_json::from_str(include_str!("../../fixtures/golden/bandit_p_best.json"))
            .expect("golden json");
    let cases = golden.as_array().expect("cases");
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let arms: Vec<ArmStats> = case["arms"]
            .as_array()
            .expect("arms")
            .iter()
            .map(|a| {
                let n = a["units"].as_f64().expect("units");
                ArmStats::binary(n, a["successes"].as_f64().expect("successes"))
            })
            .collect();
        let expected: Vec<f64> = case["p_best"]
            .as_array()
            .expect("p_best")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        let got = p_best(RewardKind::Conversion, &arms).expect("defined");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!((g - e).abs() < 1e-10, "{name} arm {i}: {g} vs scipy {e}");
        }
    }
    // Within the report's banded range the two rules agree too.
    let posts: Vec<BetaPosterior> = (0..40)
        .map(|i| BetaPosterior::new(400.0 + 3.0 * f64::from(i), 9000.0).expect("shapes"))
        .collect();
    let report = prob_best(&posts);
    let many = crate::stats::bayes::many_arms::prob_best_many(&posts).expect("eligible");
    for (r, m) in report.iter().zip(&many) {
        assert!((r - m).abs() < 1e-10, "{r} vs {m}");
    }
    // Small shapes are not this rule's.
    let small = [BetaPosterior::new(3.0, 50.0).expect("shapes"); 70];
    assert!(crate::stats::bayes::many_arms::prob_best_many(&small).is_none());
}

#[test]
fn play_probabilities_equal_the_weights_of_every_policy() {
    // One set of arms without a winner, one with (so stop-on-winner moves the weights).
    let clear = [
        ArmStats::binary(5000.0, 500.0),
        ArmStats::binary(5000.0, 650.0),
    ];
    for arms in [binary_arms(), clear.to_vec()] {
        every_policy_plays_its_weights(&arms);
    }
}

fn every_policy_plays_its_weights(arms: &[ArmStats]) {
    for policy in PolicyKind::ALL {
        for stop_on_winner in [false, true] {
            let mut c = config(policy, 0.02);
            c.stop_on_winner = stop_on_winner;
            c.context_fields = vec!["x".into()];
            for update in [0, 3] {
                let full = weights(&c, RewardKind::Conversion, arms, update);
                let play = probabilities(&c, RewardKind::Conversion, arms, update);
                assert_eq!(play, full.probabilities, "{policy} stop {stop_on_winner}");
            }
        }
    }
}
