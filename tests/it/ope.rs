//! Off-policy evaluation: on simulated logs with a known target value every estimator is
//! unbiased (and the direct method visibly is not when its reward model is wrong), and the
//! bootstrap intervals cover at about their nominal rate; replay of learners on a simulated
//! uniform log ranks the real policies against uniform; and on the OBD fixture the estimators match an
//! independent numpy computation (fixtures/golden/ope_obd.json).

use liftdeck::causal::ope::{
    evaluate, Estimator, LoggedRow, OpeOptions, OpeReport, SwitchTau, TargetPolicy,
};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};

/// A simulated environment: contexts (position or hidden segment) drawn uniformly, a logging
/// policy μ(a | context) with known propensities, Bernoulli rewards θ(a, context), and a target
/// π(a | context) whose value Σ_c P(c) Σ_a π θ is known exactly.
struct Environment {
    logging: Vec<Vec<f64>>,
    target: Vec<Vec<f64>>,
    theta: Vec<Vec<f64>>,
    /// Whether the rows carry the context as their position (the reward model then sees it);
    /// when false the context is hidden and a per-arm model is misspecified.
    context_visible: bool,
}

impl Environment {
    /// Four arms, two positions; the model class (arm × position means) is right.
    fn by_position() -> Environment {
        Environment {
            logging: vec![vec![0.4, 0.3, 0.2, 0.1], vec![0.1, 0.2, 0.3, 0.4]],
            target: vec![vec![0.1, 0.1, 0.2, 0.6], vec![0.5, 0.2, 0.2, 0.1]],
            theta: vec![vec![0.10, 0.20, 0.30, 0.45], vec![0.40, 0.15, 0.05, 0.10]],
            context_visible: true,
        }
    }

    /// The same, but the context is a hidden segment that both policies and the reward depend
    /// on: a per-arm reward model is wrong, so DM is biased while IPS and DR are not.
    fn hidden_segment() -> Environment {
        Environment {
            context_visible: false,
            ..Environment::by_position()
        }
    }

    fn true_value(&self) -> f64 {
        let c = self.target.len() as f64;
        self.target
            .iter()
            .zip(&self.theta)
            .map(|(pi, th)| pi.iter().zip(th).map(|(p, t)| p * t).sum::<f64>())
            .sum::<f64>()
            / c
    }

    fn simulate(&self, n: usize, seed: u64) -> (Vec<LoggedRow>, TargetPolicy) {
        let mut rng = Prng::seed_from_u64(seed);
        let mut rows = Vec::with_capacity(n);
        let mut groups = Vec::with_capacity(n);
        for _ in 0..n {
            let c = rng.random_range(0..self.logging.len());
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let mut arm = self.logging[c].len() - 1;
            for (a, p) in self.logging[c].iter().enumerate() {
                acc += p;
                if u < acc {
                    arm = a;
                    break;
                }
            }
            let reward = f64::from(u8::from(rng.random::<f64>() < self.theta[c][arm]));
            rows.push(LoggedRow {
                arm,
                reward,
                propensity: self.logging[c][arm],
                position: self.context_visible.then_some(c as u32 + 1),
                features: vec![],
            });
            groups.push(c);
        }
        let target =
            TargetPolicy::grouped(self.target[0].len(), self.target.clone(), groups).expect("t");
        (rows, target)
    }
}

fn value(r: &OpeReport, e: Estimator) -> f64 {
    r.estimate(e).expect("estimate").value
}

/// Mean error of each estimator over `seeds` simulated logs, in standard errors of that mean.
fn errors_in_standard_errors(env: &Environment, n: usize, seeds: u64) -> Vec<(Estimator, f64)> {
    let truth = env.true_value();
    let opts = OpeOptions {
        resamples: 0,
        ..OpeOptions::default()
    };
    let mut errs: Vec<Vec<f64>> = vec![Vec::new(); Estimator::ALL.len()];
    for seed in 0..seeds {
        let (rows, target) = env.simulate(n, 1000 + seed);
        let r = evaluate(&rows, &target, &opts).expect("ope");
        for (k, e) in Estimator::ALL.iter().enumerate() {
            errs[k].push(value(&r, *e) - truth);
        }
    }
    Estimator::ALL
        .iter()
        .zip(errs)
        .map(|(e, x)| {
            let m = x.len() as f64;
            let mean = x.iter().sum::<f64>() / m;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0);
            eprintln!(
                "{:<10} mean error {mean:+.5} (sd {:.5}, {:+.2} standard errors)",
                e.label(),
                var.sqrt(),
                mean / (var / m).sqrt()
            );
            (*e, mean / (var / m).sqrt())
        })
        .collect()
}

#[test]
fn every_estimator_is_unbiased_when_the_reward_model_fits() {
    let env = Environment::by_position();
    for (e, z) in errors_in_standard_errors(&env, 400, 400) {
        assert!(
            z.abs() < 4.0,
            "{} is off by {z:.2} standard errors",
            e.label()
        );
    }
}

#[test]
fn with_a_wrong_reward_model_ips_and_dr_stay_unbiased_and_dm_does_not() {
    let env = Environment::hidden_segment();
    let z = errors_in_standard_errors(&env, 400, 400);
    for (e, z) in &z {
        match e {
            // The test can fail: the direct method's bias is tens of standard errors.
            Estimator::Dm => assert!(z.abs() > 10.0, "DM should be biased here ({z:.2})"),
            _ => assert!(
                z.abs() < 4.0,
                "{} is off by {z:.2} standard errors",
                e.label()
            ),
        }
    }
}

const COVERAGE_SEEDS: u64 = 300;
// Binomial sd of a 95% rate over 300 seeds is 1.26 points: accept within 3 sd either side (an
// interval that never misses is too wide and fails too), below by a further SHORTFALL: the
// percentile bootstrap of a mean of skewed terms undercovers a little at n = 400. Measured
// with 2000 seeds (release build, this code): 0.936-0.938 in the by-position environment,
// 0.929 (DR) to 0.936 (IPS) in the hidden-segment one; an independent numpy run of the
// by-position environment (1000 seeds) gives IPS 0.935.
const SHORTFALL: f64 = 0.025;

/// Share of seeds whose 95% interval holds the true value, per estimator.
fn coverage(env: &Environment) -> Vec<(Estimator, f64)> {
    let truth = env.true_value();
    let opts = OpeOptions {
        resamples: 200,
        ..OpeOptions::default()
    };
    let mut covered = [0u32; 6];
    for seed in 0..COVERAGE_SEEDS {
        let (rows, target) = env.simulate(400, 5000 + seed);
        let r = evaluate(&rows, &target, &opts).expect("ope");
        for (k, e) in Estimator::ALL.iter().enumerate() {
            let est = r.estimate(*e).expect("estimate");
            if est.low.expect("low") <= truth && truth <= est.high.expect("high") {
                covered[k] += 1;
            }
        }
    }
    Estimator::ALL
        .iter()
        .zip(covered)
        .map(|(e, c)| {
            let rate = f64::from(c) / COVERAGE_SEEDS as f64;
            eprintln!("{:<10} coverage {rate:.3}", e.label());
            (*e, rate)
        })
        .collect()
}

fn near_nominal(rate: f64) -> bool {
    let sd = (0.95f64 * 0.05 / COVERAGE_SEEDS as f64).sqrt();
    rate >= 0.95 - SHORTFALL - 3.0 * sd && rate <= 0.95 + 3.0 * sd
}

#[test]
fn bootstrap_intervals_cover_the_true_value_at_about_95_percent() {
    for (e, rate) in coverage(&Environment::by_position()) {
        assert!(near_nominal(rate), "{} covered {rate:.3}", e.label());
    }
}

#[test]
fn with_a_wrong_reward_model_the_dr_intervals_still_cover_and_dm_misses() {
    for (e, rate) in coverage(&Environment::hidden_segment()) {
        if e == Estimator::Dm {
            assert!(rate < 0.5, "DM is biased here and should miss: {rate:.3}");
        } else {
            assert!(near_nominal(rate), "{} covered {rate:.3}", e.label());
        }
    }
}

#[test]
fn switch_dr_with_an_infinite_threshold_is_dr_on_simulated_logs() {
    let (rows, target) = Environment::hidden_segment().simulate(300, 7);
    let opts = OpeOptions {
        resamples: 0,
        switch_tau: SwitchTau::Fixed(f64::INFINITY),
        ..OpeOptions::default()
    };
    let r = evaluate(&rows, &target, &opts).expect("ope");
    assert!((value(&r, Estimator::SwitchDr) - value(&r, Estimator::Dr)).abs() < 1e-12);
}

mod on_the_obd_fixture {
    use crate::common::{bin, fixture, temp_db, test_env};
    use liftdeck::app::import_obd::import_obd;
    use liftdeck::app::ope::{evaluate_candidate, Candidate, OpeOutcome};
    use liftdeck::causal::ope::{Estimator, OpeOptions, SwitchTau};
    use liftdeck::store::Store;
    use std::process::Command;

    fn golden() -> serde_json::Value {
        let text = std::fs::read_to_string(fixture("golden/ope_obd.json")).expect("golden");
        serde_json::from_str(&text).expect("json")
    }

    fn imported(dir: &tempfile::TempDir) -> (std::path::PathBuf, Store) {
        let (path, mut store) = temp_db(dir, "ope.db");
        for policy in ["random", "bts"] {
            let log = fixture(&format!("obd/men/{policy}/men.csv"));
            import_obd(&mut store, &test_env(), &log, None).expect("import");
        }
        (path, store)
    }

    fn run(store: &Store, key: &str, candidate: Candidate, tau: SwitchTau) -> OpeOutcome {
        let opts = OpeOptions {
            resamples: 0,
            switch_tau: tau,
            ..OpeOptions::default()
        };
        evaluate_candidate(store, key, "test", &candidate, &opts).expect("ope")
    }

    fn assert_matches(o: &OpeOutcome, case: &serde_json::Value, names: &[(Estimator, &str)]) {
        for (e, name) in names {
            let want = case[name].as_f64().expect(name);
            let got = o.report.estimate(*e).expect("estimate").value;
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1e-3),
                "{name}: {got} vs numpy {want}"
            );
        }
        let ov = &o.report.overlap;
        let ess = case["effective_sample_size"].as_f64().expect("ess");
        assert!((ov.effective_sample_size - ess).abs() < 1e-9 * ess);
        let max = case["max_weight"].as_f64().expect("max");
        assert!((ov.max_weight - max).abs() < 1e-12 * max);
        assert_eq!(o.rows, case["rows"].as_u64().expect("rows"));
    }

    const FIVE: [(Estimator, &str); 5] = [
        (Estimator::Ips, "ips"),
        (Estimator::Snips, "snips"),
        (Estimator::Dm, "dm"),
        (Estimator::Dr, "dr"),
        (Estimator::Sndr, "sndr"),
    ];

    #[test]
    fn the_bts_policy_estimated_from_the_random_log_matches_numpy() {
        let dir = tempfile::tempdir().expect("dir");
        let (_, store) = imported(&dir);
        let g = golden();
        let case = &g["cases"]["random_logs_bts_target"];
        let target = Candidate::TargetLog(fixture("obd/men/bts/men.csv"));
        let o = run(&store, "obd-men-random", target, SwitchTau::Auto);
        assert_matches(&o, case, &FIVE);
        assert_eq!(o.positions, [1, 2, 3]);
        assert!(o.report.model_by_position);
        let logged = case["random_logged_click_rate"].as_f64().expect("rate");
        assert!((o.logged_mean - logged).abs() < 1e-12);
    }

    #[test]
    fn uniform_evaluated_on_the_bts_log_matches_numpy_switch_dr_included() {
        let dir = tempfile::tempdir().expect("dir");
        let (_, store) = imported(&dir);
        let g = golden();
        let case = &g["cases"]["bts_logs_uniform_target"];
        let o = run(&store, "obd-men-bts", Candidate::Uniform, SwitchTau::Auto);
        let mut names = FIVE.to_vec();
        names.push((Estimator::SwitchDr, "switch_dr_auto"));
        assert_matches(&o, case, &names);
        assert_eq!(o.report.switch_tau, case["switch_dr_auto_tau"].as_f64());
        // Weights vary inside each (item, position) cell here, so DR's correction is not zero.
        assert!((case["dr"].as_f64().expect("dr") - case["dm"].as_f64().expect("dm")).abs() > 1e-4);
        let o = run(
            &store,
            "obd-men-bts",
            Candidate::Uniform,
            SwitchTau::Fixed(1.0),
        );
        assert_matches(&o, case, &[(Estimator::SwitchDr, "switch_dr_tau_1")]);
    }

    fn liftdeck(db: &std::path::Path, args: &[&str]) -> std::process::Output {
        Command::new(bin())
            .arg("--db")
            .arg(db)
            .args(args)
            .output()
            .expect("run liftdeck")
    }

    #[test]
    fn report_ope_prints_every_estimator_reads_only_and_refuses_what_it_cannot_do() {
        let dir = tempfile::tempdir().expect("dir");
        let (db, store) = imported(&dir);
        drop(store);
        let bts = fixture("obd/men/bts/men.csv");
        let bts = bts.to_str().expect("path");
        let args = [
            "--read-only",
            "report",
            "ope",
            "obd-men-random",
            "--target-log",
            bts,
        ];
        let out = liftdeck(&db, &[&args[..], &["--resamples", "50", "--json"]].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let est = v["estimates"].as_array().expect("estimates");
        let names: Vec<&str> = est
            .iter()
            .map(|e| e["estimator"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["ips", "snips", "dm", "dr", "sndr", "switch_dr"]);
        for e in est {
            let (lo, x, hi) = (e["low"].as_f64(), e["value"].as_f64(), e["high"].as_f64());
            assert!(lo <= x && x <= hi, "{e}");
        }
        assert!(v["overlap"]["effective_sample_size"].as_f64().expect("ess") > 0.0);
        assert_eq!(
            v["overlap"]["histogram"].as_array().expect("bins").len(),
            10
        );

        let out = liftdeck(&db, &["report", "ope", "obd-men-random", "--policy", "eps"]);
        let text = String::from_utf8_lossy(&out.stdout);
        for label in [
            "IPS",
            "SNIPS",
            "DM",
            "DR",
            "SNDR",
            "switch-DR",
            "effective sample size",
        ] {
            assert!(text.contains(label), "{label}: {text}");
        }

        let out = liftdeck(
            &db,
            &["report", "ope", "obd-men-random", "--policy", "linucb"],
        );
        assert_eq!(out.status.code(), Some(64), "linucb without context fields");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--context-fields"));
        let out = liftdeck(
            &db,
            &[
                "report",
                "ope",
                "obd-men-bts",
                "--policy",
                "ucb",
                "--replay",
            ],
        );
        assert_eq!(out.status.code(), Some(65), "the bts log is not uniform");
        assert!(String::from_utf8_lossy(&out.stderr).contains("uniformly"));
        let out = liftdeck(
            &db,
            &[
                "report",
                "ope",
                "obd-men-random",
                "--policy",
                "ucb",
                "--replay",
                "--json",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["runs"].as_array().expect("runs").len(), 10);
        let missing = dir.path().join("none/men.csv");
        let missing = missing.to_str().expect("path");
        let out = liftdeck(
            &db,
            &["report", "ope", "obd-men-random", "--target-log", missing],
        );
        assert_eq!(out.status.code(), Some(66));
    }
}

/// Replay on a simulated uniform log with a known best arm: the real policies (src/bandit, no
/// floor) earn well above uniform, and uniform itself replays to the log's mean.
#[test]
fn replayed_learners_beat_uniform_on_a_simulated_uniform_log() {
    use liftdeck::app::ope::learners::learner_for;
    use liftdeck::causal::replay::replay;
    use liftdeck::domain::{BanditConfig, PolicyKind, RewardKind};
    let rates = [0.05, 0.10, 0.15, 0.20, 0.40];
    let k = rates.len();
    let mut rng = Prng::seed_from_u64(11);
    let rows: Vec<LoggedRow> = (0..20_000)
        .map(|_| {
            let arm = rng.random_range(0..k);
            LoggedRow {
                arm,
                reward: f64::from(u8::from(rng.random::<f64>() < rates[arm])),
                propensity: 1.0 / k as f64,
                position: None,
                features: vec![],
            }
        })
        .collect();
    let mean_of = |policy: PolicyKind| {
        let config = BanditConfig {
            policy,
            floor: Some(0.0),
            ..BanditConfig::default()
        };
        let mut learner = learner_for(&config, RewardKind::Click).expect("learner");
        // Weights every 20 matched rows: an exact Thompson update is a quadrature.
        learner.update_every = 20;
        let runs: Vec<f64> = (0..5)
            .map(|seed| {
                let mut p = learner.start(seed);
                replay(&rows, k, p.as_mut())
                    .expect("replay")
                    .mean_reward()
                    .expect("matched")
            })
            .collect();
        let m = runs.iter().sum::<f64>() / runs.len() as f64;
        eprintln!("{:<40} replay reward {m:.4}", learner.label());
        m
    };
    let uniform = mean_of(PolicyKind::Uniform);
    let average = rates.iter().sum::<f64>() / k as f64;
    assert!((uniform - average).abs() < 0.02, "{uniform} vs {average}");
    for policy in [
        PolicyKind::EpsilonGreedy,
        PolicyKind::Ucb1,
        PolicyKind::Thompson,
    ] {
        let m = mean_of(policy);
        assert!(m > 0.30, "{policy}: {m}");
    }
    // Top-two Thompson identifies the best arm rather than exploiting it: half its plays go to
    // the challenger (the 0.20 arm, mostly), so it earns about (0.40 + 0.20) / 2.
    let m = mean_of(PolicyKind::TopTwo);
    assert!(m > uniform + 0.05 && m < 0.34, "top_two: {m}");
}
