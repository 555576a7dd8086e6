//! The regret proof, fast version (the 100k-round one over more policies is
//! `liftdeck bench regret`). Seeded; the margins were checked on other seeds too.

use super::*;
use crate::domain::PolicyKind;

fn opts(rounds: u64, batch: u64) -> RunOptions {
    RunOptions {
        rounds,
        batch,
        seed: 1,
        checkpoints: vec![rounds / 10],
    }
}

#[test]
fn thompson_and_ucb1_regret_is_sublinear_and_far_below_uniform_and_fixed_epsilon() {
    let env = BernoulliArms::standard();
    let o = opts(100_000, 500);
    let ts = run(&sim_config(PolicyKind::Thompson), &env, &o);
    let ucb = run(&sim_config(PolicyKind::Ucb1), &env, &o);
    let eps = run(&sim_config(PolicyKind::EpsilonGreedy), &env, &o);
    let uniform = run(&sim_config(PolicyKind::Uniform), &env, &o);
    // Sublinear: the second half of the run costs a fraction of the first ...
    assert!(ts.second_half < 0.25 * ts.first_half, "{ts:?}");
    assert!(ucb.second_half < 0.25 * ucb.first_half, "{ucb:?}");
    // ... while fixed exploration keeps paying at the same rate.
    assert!(eps.second_half > 0.8 * eps.first_half, "{eps:?}");
    assert!(
        uniform.second_half > 0.9 * uniform.first_half,
        "{uniform:?}"
    );
    // Far below: uniform pays 0.1125 a round, fixed epsilon 0.1 about a tenth of that.
    assert!(
        ts.total < 0.2 * eps.total && ts.total < 0.02 * uniform.total,
        "{ts:?}"
    );
    assert!(
        ucb.total < 0.6 * eps.total && ucb.total < 0.06 * uniform.total,
        "{ucb:?}"
    );
    assert!(ts.final_best_share > 0.95 && ucb.final_best_share > 0.95);
    assert_eq!(ts.points.len(), 2);
    assert_eq!(ts.points[1], (100_000, ts.total));
}

#[test]
fn linucb_and_lints_beat_context_free_thompson_when_the_best_offer_depends_on_the_shopper() {
    let env = ContextualOffers;
    let o = opts(10_000, 100);
    let ts = run(&sim_config(PolicyKind::Thompson), &env, &o);
    let linucb = run(&sim_config(PolicyKind::LinUcb), &env, &o);
    let lints = run(&sim_config(PolicyKind::LinTs), &env, &o);
    for lin in [&linucb, &lints] {
        assert!(lin.total < 0.3 * ts.total, "{lin:?} vs {ts:?}");
        assert!(lin.second_half < 0.5 * lin.first_half, "{lin:?}");
        assert!(lin.final_best_share > 0.7, "{lin:?}");
    }
    // One offer for everyone is right for under half the shoppers.
    assert!(ts.final_best_share < 0.5, "{ts:?}");
}

#[test]
fn top_two_keeps_playing_the_challenger() {
    // Built for identifying the best arm, not for regret: (1 - beta) of the traffic goes to
    // the challenger however sure the posterior is.
    let t = run(
        &sim_config(PolicyKind::TopTwo),
        &BernoulliArms::standard(),
        &opts(20_000, 500),
    );
    assert!((t.final_best_share - 0.5).abs() < 0.05, "{t:?}");
}

#[test]
fn runs_are_reproducible_and_seeds_differ() {
    let env = BernoulliArms::standard();
    let a = run(&sim_config(PolicyKind::Thompson), &env, &opts(3000, 100));
    let b = run(&sim_config(PolicyKind::Thompson), &env, &opts(3000, 100));
    assert_eq!(a, b);
    let mut other = opts(3000, 100);
    other.seed = 2;
    assert_ne!(a, run(&sim_config(PolicyKind::Thompson), &env, &other));
}

#[test]
fn draw_lays_arms_out_in_order_and_skips_empty_slices() {
    let p = [0.25, 0.0, 0.75];
    assert_eq!(draw(&p, 0.0), 0);
    assert_eq!(draw(&p, 0.2499), 0);
    assert_eq!(draw(&p, 0.25), 2);
    assert_eq!(draw(&p, 0.9999999), 2);
    // Rounding at the top edge goes to the last arm with mass.
    assert_eq!(draw(&[0.5, 0.4999999, 0.0], 0.99999999), 1);
}
