//! Reading results and planning: `report ab` (every treatment arm against control) and `power`
//! (units per arm to detect an effect). Flags fall back to the campaign's stored report
//! settings, then to fixed defaults; the statistics are in `liftdeck::stats`.

use super::exit::bail_usage;
use super::{write_json, write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Args)]
pub struct PowerArgs {
    /// Baseline conversion rate of a proportion metric, e.g. 0.05.
    #[arg(long, required_unless_present = "sd")]
    baseline: Option<f64>,
    /// Per-unit standard deviation of a mean metric (with --mean).
    #[arg(long)]
    sd: Option<f64>,
    /// Baseline mean of a mean metric (with --sd), to express the effect relatively.
    #[arg(long, requires = "sd")]
    mean: Option<f64>,
    /// Relative effect to detect, e.g. 0.05 for +5%.
    #[arg(long)]
    mde: f64,
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    #[arg(long, default_value_t = 0.8)]
    power: f64,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Subcommand)]
pub enum ReportCmd {
    /// Every treatment arm against control: fixed-horizon, Bayesian and always-valid figures.
    Ab(Box<ReportArgs>),
    /// Each arm's effect weighted by the logged propensities (IPW), with a balance check.
    Causal(super::jobs::CausalArgs),
    /// Difference in differences: the treated x post effect on a unit x period panel, with
    /// cluster-robust errors, an event study and parallel-trend checks.
    Did(super::did::DidArgs),
    /// Off-policy evaluation: what a candidate policy would have earned, estimated from the
    /// campaign's own logs (IPS, SNIPS, DM, DR, SNDR, switch-DR with bootstrap intervals), or
    /// with --replay a learning policy replayed over logs collected uniformly.
    Ope(OpeArgs),
    /// Uplift model (T- or X-learner) trained on 70% of units, evaluated on the rest: Qini,
    /// AUUC, uplift by decile and whom to target.
    Uplift(super::uplift::UpliftArgs),
    /// Saved reports (causal, DiD, uplift), newest first.
    List(ListArgs),
    /// One saved report again, as text, Markdown or JSON.
    Show(ShowArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Only this campaign's reports.
    campaign: Option<String>,
    /// How many to list.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The report's id, as `report list` shows it.
    id: i64,
    /// text (as the command printed it), md (Markdown, for sharing) or json.
    #[arg(long, default_value = "text")]
    format: String,
}

#[derive(Args)]
pub struct ReportArgs {
    campaign: String,
    /// conversion (purchase), ctr (click), add_to_cart, revenue, cost, profit, aov.
    /// Default: the campaign's metric.
    #[arg(long)]
    metric: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
    /// Significance level (default: the campaign's, else 0.05).
    #[arg(long)]
    alpha: Option<f64>,
    /// Total units at which you expect to decide (default: the campaign's, else 5000).
    #[arg(long)]
    n_star: Option<f64>,
    /// Prior of the Gaussian effect model: flat, or proper = N(0, 0.3²) on the relative effect.
    #[arg(long, default_value = "flat")]
    prior: String,
    /// Multiple-testing adjustment across arms: holm or bh (default: the campaign's, else holm).
    #[arg(long)]
    correction: Option<String>,
    /// Regression adjustment with the assignment context's pre_value.
    #[arg(long)]
    cuped: bool,
    /// Split by a context field, e.g. device.
    #[arg(long)]
    by: Option<String>,
    /// Cap each unit's revenue at this amount.
    #[arg(long, conflicts_with = "winsorize")]
    cap: Option<f64>,
    /// Cap each unit's revenue at this quantile of the campaign's units, e.g. 0.99.
    #[arg(long)]
    winsorize: Option<f64>,
    /// Relative effect you want to detect; sets the time-to-decision estimate.
    #[arg(long, default_value_t = 0.05)]
    mde: f64,
    #[command(flatten)]
    dp: super::dp::DpFlags,
}

impl ReportCmd {
    /// Whether this report writes: a DP release records its spend of the privacy budget.
    pub fn writes(&self) -> bool {
        match self {
            ReportCmd::Ab(a) => a.dp.requested(),
            ReportCmd::Causal(a) => a.dp_requested(),
            _ => false,
        }
    }
}

pub fn run(session: &Session, env: &liftdeck::app::Env, cmd: ReportCmd) -> Result<ExitCode> {
    match cmd {
        ReportCmd::Ab(args) if args.dp.requested() => report_ab_dp(session, env, *args),
        ReportCmd::Ab(args) => report_ab(session, *args),
        ReportCmd::Causal(args) => super::jobs::causal(session, env, args),
        ReportCmd::Did(args) => super::did::did(session, env, args),
        ReportCmd::Ope(args) => ope(session, args),
        ReportCmd::Uplift(args) => super::uplift::uplift(session, env, args),
        ReportCmd::List(args) => list(session, args),
        ReportCmd::Show(args) => show(session, args),
    }
}

fn list(session: &Session, a: ListArgs) -> Result<ExitCode> {
    use liftdeck::app::reports::{format_list, list};
    let store = session.open_to_read()?;
    let rows = list(&store, a.campaign.as_deref(), a.limit)?;
    if a.out.json {
        write_json(&rows)?;
    } else {
        write_stdout(&format_list(&rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn show(session: &Session, a: ShowArgs) -> Result<ExitCode> {
    use liftdeck::app::reports::{get, render, ShowFormat};
    let format: ShowFormat = match a.format.parse() {
        Ok(f) => f,
        Err(e) => bail_usage!("--format: {e}"),
    };
    let store = session.open_to_read()?;
    let saved = get(&store, a.id)?;
    write_stdout(&render(&saved, format, &number_format()))?;
    Ok(ExitCode::SUCCESS)
}

/// `report ab --dp-epsilon`: only the noisy per-arm release; the options that would need more
/// releases (segments, CUPED, capping by quantile) are refused rather than silently dropped.
fn report_ab_dp(session: &Session, env: &liftdeck::app::Env, a: ReportArgs) -> Result<ExitCode> {
    let clash = [
        (a.by.is_some(), "--by"),
        (a.cuped, "--cuped"),
        (a.cap.is_some(), "--cap (use --dp-revenue-cap)"),
        (
            a.winsorize.is_some(),
            "--winsorize (a data-chosen cap leaks; use --dp-revenue-cap)",
        ),
        (a.correction.is_some(), "--correction"),
    ];
    if let Some((_, flag)) = clash.iter().find(|(set, _)| *set) {
        bail_usage!(
            "{flag} cannot be combined with --dp-epsilon: a DP release shows per-arm figures only"
        );
    }
    super::dp::release(
        session,
        env,
        super::dp::DpAsk {
            kind: liftdeck::app::dp_report::DpReportKind::Ab,
            campaign: &a.campaign,
            metric: a.metric,
            alpha: a.alpha,
        },
        &a.dp,
        a.out,
    )
}

fn report_ab(session: &Session, a: ReportArgs) -> Result<ExitCode> {
    use liftdeck::app::report::{
        format_text_with, options_for, report_ab, Capping, ReportOverrides,
    };
    use liftdeck::stats::ab::Metric;
    use liftdeck::stats::bayes::EffectPrior;
    // A report only reads, and never creates a database.
    let store = session.open_to_read()?;
    let (campaign, _) = store.campaign(&a.campaign)?;
    let metric_name = a.metric.unwrap_or(campaign.spec.metric.clone());
    let Some(metric) = Metric::parse(&metric_name) else {
        bail_usage!(
            "--metric `{metric_name}`: use one of conversion, ctr, add_to_cart, revenue, cost, \
             profit, aov"
        );
    };
    let prior = match a.prior.as_str() {
        "flat" => EffectPrior::Flat,
        "proper" => EffectPrior::PROPER_DEFAULT,
        other => bail_usage!("--prior `{other}`: use flat or proper"),
    };
    // Alpha, N*, the correction and the guardrail margin: the campaign's unless a flag says
    // otherwise, validated in one place (`options_for`, shared with health, jobs, console).
    let overrides = ReportOverrides {
        alpha: a.alpha,
        n_star: a.n_star,
        correction: a.correction,
        prior: Some(prior),
        cuped: a.cuped,
        target_mde_rel: Some(a.mde),
        ..ReportOverrides::default()
    };
    let opts = options_for(&campaign.spec, &overrides)?;
    let capping = match (a.cap, a.winsorize) {
        (Some(c), _) => Capping::Absolute(c),
        (None, Some(q)) => Capping::Quantile(q),
        _ => Capping::None,
    };
    let out = report_ab(&store, &a.campaign, metric, &opts, capping, a.by.as_deref())?;
    let text = if a.out.json {
        // Without --by there is one report: print it, not a one-element list.
        let mut j = if a.by.is_some() {
            serde_json::to_string_pretty(&out)?
        } else {
            serde_json::to_string_pretty(&out.first())?
        };
        j.push('\n');
        j
    } else {
        format_text_with(&out, &number_format())
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The operator's number format: the currency symbol comes from `LIFTDECK_CURRENCY`
/// (default `$`); everything else is fixed (see `liftdeck::format`).
pub(super) fn number_format() -> liftdeck::format::NumberFormat {
    liftdeck::format::NumberFormat::with_currency(
        std::env::var("LIFTDECK_CURRENCY").ok().as_deref(),
    )
}

pub fn power(p: PowerArgs) -> Result<ExitCode> {
    use liftdeck::stats::power::{units_per_arm_mean, units_per_arm_proportion, TestDesign};
    // `--mde 5` meant 5%, not +500%: refused with the hint, like `report ab --mde`.
    liftdeck::app::report::check_relative_mde(p.mde)?;
    let design = TestDesign {
        alpha: p.alpha,
        power: p.power,
    };
    let needed = match (p.baseline, p.sd) {
        (Some(rate), _) => units_per_arm_proportion(rate, p.mde, design),
        (None, Some(sd)) => {
            let Some(mean) = p.mean else {
                bail_usage!("--sd needs --mean to turn the relative --mde into an absolute effect");
            };
            units_per_arm_mean(sd, p.mde * mean.abs(), design)
        }
        (None, None) => bail_usage!("give --baseline RATE or --sd SD --mean MEAN"),
    };
    let Some(n) = needed else {
        bail_usage!("no sample size for these inputs: rates must be in (0, 1), alpha and power in (0, 1), mde non-zero");
    };
    if p.out.json {
        write_json(&serde_json::json!({
            "units_per_arm": n.ceil(), "exact": n, "mde": p.mde,
            "alpha": p.alpha, "power": p.power,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    write_stdout(&format!(
        "{} units per arm ({:.1} exact) detect a {} relative effect at alpha {} with {:.0}% power\n",
        liftdeck::format::quantity(n.ceil()),
        n,
        liftdeck::format::lift(p.mde),
        p.alpha,
        100.0 * p.power
    ))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct OpeArgs {
    campaign: String,
    /// The candidate: uniform, or a bandit policy fitted on these logs: ts, top2, ucb, eps
    /// (--epsilon 0 is greedy), linucb or linTS (per-row, from --context-fields). With --replay:
    /// the same policies as learners.
    #[arg(
        long,
        required_unless_present = "target_log",
        conflicts_with = "target_log"
    )]
    policy: Option<String>,
    /// Take the target's π(item | position) from another Open Bandit Dataset log of the same
    /// items: the mean propensity_score per (item, position) there, normalised per position.
    #[arg(long)]
    target_log: Option<std::path::PathBuf>,
    /// Epsilon of eps (default: the campaign's bandit setting, else 0.1).
    #[arg(long)]
    epsilon: Option<f64>,
    /// The candidate's floor per arm (default: the campaign's bandit setting, else 0.01).
    #[arg(long)]
    floor: Option<f64>,
    /// Context fields linucb and linTS read, comma-separated (default: the campaign's).
    #[arg(long, value_delimiter = ',')]
    context_fields: Vec<String>,
    /// Bootstrap resamples for the intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
    /// Seed of the bootstrap (and of the learners under --replay).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Switch-DR's weight threshold (default: chosen from the data, see the README).
    #[arg(long)]
    tau: Option<f64>,
    /// The reward model of DM and the DR family: the campaign's active conversion model
    /// (`active`, refused when there is none or it does not predict the reward), means per
    /// arm and position fitted from the logs (`means`), or the first when usable (`auto`).
    #[arg(long, value_enum, default_value_t = RewardModelArg::Auto)]
    reward_model: RewardModelArg,
    /// Replay the policy as a learner over logs collected uniformly (Li et al. 2011); refused
    /// when the logged propensities are not all 1/K.
    #[arg(long, conflicts_with = "target_log")]
    replay: bool,
    /// Replays, one per seed from --seed.
    #[arg(long, default_value_t = 10, requires = "replay")]
    runs: u64,
    /// With --replay: matched rows between the learner's weight updates (1: after every one).
    #[arg(long, default_value_t = 1, requires = "replay")]
    update_every: u64,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RewardModelArg {
    Auto,
    Means,
    Active,
}

fn ope(session: &Session, a: OpeArgs) -> Result<ExitCode> {
    super::retention::warn_if_pruned(session, &a.campaign)?;
    use liftdeck::app::ope::{self, learners, Candidate};
    use liftdeck::causal::ope::{OpeOptions, SwitchTau};
    use liftdeck::domain::PolicyKind;
    let kind = match a.policy.as_deref().map(str::parse::<PolicyKind>) {
        Some(Err(e)) => bail_usage!("--policy: {e}"),
        Some(Ok(k)) => Some(k),
        None => None,
    };
    if let Some(t) = a.tau {
        if t.is_nan() || t < 0.0 {
            bail_usage!("--tau must be >= 0, got {t}");
        }
    }
    let store = session.open_to_read()?;
    let (campaign, arms) = store.campaign(&a.campaign)?;
    // The candidate runs with the campaign's bandit settings, the flags overriding them.
    let mut config = campaign.spec.bandit.clone().unwrap_or_default();
    if let Some(k) = kind {
        config.policy = k;
    }
    if let Some(e) = a.epsilon {
        config.epsilon = Some(e);
    }
    if let Some(f) = a.floor {
        config.floor = Some(f);
    }
    if !a.context_fields.is_empty() {
        config.context_fields = a.context_fields.clone();
    }
    let epsilon = config.epsilon_or_default();
    if !(0.0..=1.0).contains(&epsilon) {
        bail_usage!("--epsilon must be in [0, 1], got {epsilon}");
    }
    let floor = config.floor_or_default();
    if !(floor.is_finite() && floor >= 0.0 && floor * arms.len() as f64 <= 1.0) {
        bail_usage!(
            "--floor must be >= 0 and at most 1/{} (one per arm must fit in 1), got {floor}",
            arms.len()
        );
    }
    let nf = number_format();
    if a.replay {
        let reward = config.reward_or_default(&campaign.spec.metric);
        let mut learner = learners::learner_for(&config, reward)
            .map_err(|e| super::exit::usage!("--policy: {e}"))?;
        if a.update_every == 0 {
            bail_usage!("--update-every must be at least 1");
        }
        learner.update_every = a.update_every;
        let out = ope::replay_learner(&store, &a.campaign, &learner, a.runs, a.seed)?;
        return print(a.out.json, &out, || ope::format_replay(&out, &nf));
    }
    let (label, candidate) = match (&a.target_log, kind) {
        (Some(path), _) => (
            format!("target log {}", path.display()),
            Candidate::TargetLog(path.clone()),
        ),
        (None, Some(k)) => (
            k.to_string(),
            ope::candidate_for(&config).map_err(|e| super::exit::usage!("--policy: {e}"))?,
        ),
        (None, None) => bail_usage!("give --policy or --target-log"),
    };
    let options = OpeOptions {
        resamples: a.resamples,
        seed: a.seed,
        switch_tau: a.tau.map_or(SwitchTau::Auto, SwitchTau::Fixed),
        ..OpeOptions::default()
    };
    let choice = match a.reward_model {
        RewardModelArg::Auto => ope::RewardModelChoice::Auto,
        RewardModelArg::Means => ope::RewardModelChoice::Means,
        RewardModelArg::Active => ope::RewardModelChoice::Active,
    };
    let out =
        ope::evaluate_candidate_with(&store, &a.campaign, &label, &candidate, &options, choice)?;
    print(a.out.json, &out, || ope::format_ope(&out, &nf))
}

fn print(json: bool, value: &impl serde::Serialize, text: impl Fn() -> String) -> Result<ExitCode> {
    if json {
        write_json(value)?;
    } else {
        write_stdout(&text())?;
    }
    Ok(ExitCode::SUCCESS)
}
