//! `liftdeck bench regret`: the long version of the regret proof. Every policy plays the same
//! simulated worlds (`bandit::sim`) for the same rounds with the same seed, weights recomputed
//! every `batch` rounds as the allocation loop does; the table shows cumulative (pseudo-)regret
//! at checkpoints, the second half's regret over the first's (about 1 for linear regret, far
//! below 1 for a learner), and the share of the last tenth of rounds that played a best arm.
//! Uniform is the baseline in the same run.

use crate::bandit::sim::{run, BernoulliArms, ContextualOffers, Environment, RegretCurve};
use crate::bandit::sim::{sim_config, RunOptions};
use crate::domain::{BanditConfig, PolicyKind};
use std::fmt;
use std::time::Instant;

/// One policy's run.
#[derive(Debug, Clone)]
pub struct RegretRow {
    pub label: String,
    pub curve: RegretCurve,
    pub seconds: f64,
}

/// Both worlds' tables.
#[derive(Debug, Clone)]
pub struct RegretBench {
    pub rounds: u64,
    pub batch: u64,
    pub seed: u64,
    pub checkpoints: Vec<u64>,
    pub bernoulli: Vec<RegretRow>,
    pub contextual: Vec<RegretRow>,
}

/// Checkpoints 1k, 3k, 10k, 30k, ... below `rounds`, then `rounds`.
fn checkpoints(rounds: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut c = 1000u64;
    while c < rounds {
        out.push(c);
        c = if out.len() % 2 == 1 {
            c * 3
        } else {
            c / 3 * 10
        };
    }
    out.push(rounds);
    out
}

/// The policies of each world, with their labels.
fn bernoulli_policies() -> Vec<(String, BanditConfig)> {
    let mut floored = sim_config(PolicyKind::Thompson);
    floored.floor = Some(0.01);
    floored.explore_min_units = None;
    let mut eps_fixed = sim_config(PolicyKind::EpsilonGreedy);
    eps_fixed.epsilon = Some(0.1);
    let mut eps_decay = eps_fixed.clone();
    eps_decay.epsilon_decay = Some(0.1);
    vec![
        ("thompson".into(), sim_config(PolicyKind::Thompson)),
        (
            "thompson, 1% floor, 100-unit explore (product defaults)".into(),
            floored,
        ),
        (
            "top-two thompson (beta 0.5)".into(),
            sim_config(PolicyKind::TopTwo),
        ),
        ("ucb1".into(), sim_config(PolicyKind::Ucb1)),
        ("epsilon-greedy 0.1 fixed".into(), eps_fixed),
        ("epsilon-greedy 0.1 / (1 + 0.1 t)".into(), eps_decay),
        ("uniform (baseline)".into(), sim_config(PolicyKind::Uniform)),
    ]
}

fn contextual_policies() -> Vec<(String, BanditConfig)> {
    vec![
        (
            "thompson (context-free)".into(),
            sim_config(PolicyKind::Thompson),
        ),
        ("lin-ucb (alpha 1)".into(), sim_config(PolicyKind::LinUcb)),
        ("lin-ts (alpha 1)".into(), sim_config(PolicyKind::LinTs)),
        ("uniform (baseline)".into(), sim_config(PolicyKind::Uniform)),
    ]
}

fn play(
    policies: Vec<(String, BanditConfig)>,
    env: &dyn Environment,
    o: &RunOptions,
) -> Vec<RegretRow> {
    policies
        .into_iter()
        .map(|(label, config)| {
            let started = Instant::now();
            let curve = run(&config, env, o);
            RegretRow {
                label,
                curve,
                seconds: started.elapsed().as_secs_f64(),
            }
        })
        .collect()
}

/// Plays every policy for `rounds` rounds in batches of `batch` on the four-offer Bernoulli
/// world (10/15/20/30%) and the three-offer contextual world.
pub fn bench_regret(rounds: u64, batch: u64, seed: u64) -> RegretBench {
    let rounds = rounds.max(1);
    let checkpoints = checkpoints(rounds);
    let o = RunOptions {
        rounds,
        batch: batch.max(1),
        seed,
        checkpoints: checkpoints.clone(),
    };
    RegretBench {
        rounds,
        batch: o.batch,
        seed,
        bernoulli: play(bernoulli_policies(), &BernoulliArms::standard(), &o),
        contextual: play(contextual_policies(), &ContextualOffers, &o),
        checkpoints,
    }
}

fn table(f: &mut fmt::Formatter<'_>, checkpoints: &[u64], rows: &[RegretRow]) -> fmt::Result {
    write!(f, "  {:<56}", "policy")?;
    for c in checkpoints {
        write!(f, " {:>9}", short(*c))?;
    }
    writeln!(f, "  2nd/1st  best  seconds")?;
    for r in rows {
        write!(f, "  {:<56}", r.label)?;
        for (_, regret) in &r.curve.points {
            write!(f, " {regret:>9.1}")?;
        }
        let ratio = if r.curve.first_half > 0.0 {
            format!("{:.3}", r.curve.second_half / r.curve.first_half)
        } else {
            "-".into()
        };
        writeln!(
            f,
            "  {ratio:>7}  {:>3.0}%  {:>7.2}",
            100.0 * r.curve.final_best_share,
            r.seconds
        )?;
    }
    Ok(())
}

fn short(n: u64) -> String {
    if n.is_multiple_of(1000) {
        format!("@{}k", n / 1000)
    } else {
        format!("@{n}")
    }
}

impl fmt::Display for RegretBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Cumulative regret (expected reward lost to the best arm), {} rounds, weights every {} \
             rounds, seed {}",
            self.rounds, self.batch, self.seed
        )?;
        writeln!(
            f,
            "Bernoulli world: 4 offers converting at 10%, 15%, 20%, 30% (uniform loses 0.1125 a round)"
        )?;
        table(f, &self.checkpoints, &self.bernoulli)?;
        writeln!(
            f,
            "Contextual world: 3 offers, click rate logistic in device, segment and basket; the \
             best offer depends on the shopper"
        )?;
        table(f, &self.checkpoints, &self.contextual)?;
        write!(
            f,
            "  2nd/1st: regret of the second half of the rounds over the first (1 = linear); \
             best: share of the last 10% of rounds on a best arm"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_one_three_ten_and_end_at_the_rounds() {
        assert_eq!(
            checkpoints(100_000),
            vec![1000, 3000, 10_000, 30_000, 100_000]
        );
        assert_eq!(checkpoints(500), vec![500]);
    }

    #[test]
    fn a_short_run_prints_every_policy() {
        let b = bench_regret(300, 50, 3);
        let text = b.to_string();
        for (label, _) in bernoulli_policies().iter().chain(&contextual_policies()) {
            assert!(
                text.contains(label.as_str()),
                "{label} missing from\n{text}"
            );
        }
        assert!(b
            .bernoulli
            .iter()
            .all(|r| r.curve.points == vec![(300, r.curve.total)]));
    }
}
