//! The `--dp-*` flags of `report ab` and `report causal`, and `campaign privacy-budget`.
//! A DP release records its budget spend, so it writes: `ReportCmd::writes` sends it through
//! the `--read-only` refusal like every other write.

use super::exit::bail_usage;
use super::{write_json, write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::Args;
use liftdeck::app::dp_report::{self, DpReportKind, DpRequest, DEFAULT_EVENTS_CAP};
use liftdeck::app::Env;
use std::process::ExitCode;

/// Differential privacy: release noisy figures and spend the campaign's privacy budget.
#[derive(Args, Debug, Clone, Default)]
pub struct DpFlags {
    /// Release this report with differential privacy, spending EPSILON of the campaign's
    /// privacy budget (Laplace noise; with --dp-delta analytic Gaussian noise). Writes the
    /// release to the budget ledger, so refused under --read-only.
    #[arg(long)]
    pub dp_epsilon: Option<f64>,
    /// Delta of an (epsilon, delta) release (Gaussian mechanism), e.g. 1e-6.
    #[arg(long, requires = "dp_epsilon")]
    pub dp_delta: Option<f64>,
    /// Per-unit cap on revenue (cost, |profit|) counted, chosen in advance; required for
    /// money metrics.
    #[arg(long, requires = "dp_epsilon")]
    pub dp_revenue_cap: Option<f64>,
    /// Per-unit cap on orders counted (default 10).
    #[arg(long, requires = "dp_epsilon")]
    pub dp_events_cap: Option<u32>,
}

impl DpFlags {
    pub fn requested(&self) -> bool {
        self.dp_epsilon.is_some()
    }
}

/// Which report a DP release is asked of, with the report's own flags it uses.
pub struct DpAsk<'a> {
    pub kind: DpReportKind,
    pub campaign: &'a str,
    pub metric: Option<String>,
    pub alpha: Option<f64>,
}

/// Runs the DP release `ask` (the flags say it was asked for).
pub fn release(
    session: &Session,
    env: &Env,
    ask: DpAsk<'_>,
    flags: &DpFlags,
    out: JsonFlag,
) -> Result<ExitCode> {
    let DpAsk {
        kind,
        campaign,
        metric,
        alpha,
    } = ask;
    let Some(epsilon) = flags.dp_epsilon else {
        bail_usage!("--dp-epsilon is required for a DP release");
    };
    if !(epsilon.is_finite() && epsilon > 0.0) {
        bail_usage!("--dp-epsilon must be a positive number, got {epsilon}");
    }
    if let Some(d) = flags.dp_delta {
        if !(d > 0.0 && d < 1.0) {
            bail_usage!("--dp-delta must be in (0, 1), e.g. 1e-6; got {d}");
        }
    }
    if let Some(c) = flags.dp_revenue_cap {
        if !(c.is_finite() && c > 0.0) {
            bail_usage!("--dp-revenue-cap must be a positive amount, got {c}");
        }
    }
    let events_cap = flags.dp_events_cap.unwrap_or(DEFAULT_EVENTS_CAP);
    if events_cap == 0 {
        bail_usage!("--dp-events-cap must be at least 1");
    }
    let alpha = alpha.unwrap_or(0.05);
    if !(alpha > 0.0 && alpha < 1.0) {
        bail_usage!("--alpha must be in (0, 1), got {alpha}");
    }
    let mut store = session.open_to_write()?;
    let (c, _) = store.campaign(campaign)?;
    let metric = metric.unwrap_or(c.spec.metric.clone());
    let Some(outcome) = dp_report::dp_outcome(&metric) else {
        bail_usage!(
            "--metric {metric}: a DP release covers conversion, revenue, cost and profit \
             (pass --metric)"
        );
    };
    if outcome.needs_value_cap() && flags.dp_revenue_cap.is_none() {
        bail_usage!(
            "--metric {metric} under --dp-epsilon needs --dp-revenue-cap C: each unit's amount \
             is clipped to C, chosen in advance (a cap read off the data would leak it)"
        );
    }
    let req = DpRequest {
        kind,
        metric,
        epsilon,
        delta: flags.dp_delta,
        events_cap,
        revenue_cap: flags.dp_revenue_cap,
        alpha,
    };
    // OS randomness, seeded fresh for every release: a known seed would undo the privacy.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::try_from_rng(&mut rand::rngs::SysRng)
        .map_err(|e| anyhow::anyhow!("cannot read OS randomness for the DP noise: {e}"))?;
    let report = dp_report::dp_report(&mut store, env, campaign, &req, &mut rng)?;
    if out.json {
        write_json(&report)?;
    } else {
        write_stdout(&dp_report::format_text(
            &report,
            &super::report::number_format(),
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct PrivacyBudgetArgs {
    key: String,
    /// Total epsilon the campaign's DP releases may spend.
    #[arg(long)]
    epsilon: f64,
    /// Total delta (for Gaussian releases; 0 allows only Laplace releases).
    #[arg(long, default_value_t = 0.0)]
    delta: f64,
    #[command(flatten)]
    out: JsonFlag,
}

pub fn privacy_budget(session: &Session, env: &Env, a: PrivacyBudgetArgs) -> Result<ExitCode> {
    if !(a.epsilon.is_finite() && a.epsilon > 0.0) {
        bail_usage!("--epsilon must be a positive number, got {}", a.epsilon);
    }
    if !(0.0..1.0).contains(&a.delta) {
        bail_usage!("--delta must be in [0, 1), got {}", a.delta);
    }
    let mut store = session.open_to_write()?;
    let b = dp_report::set_privacy_budget(&mut store, env, &a.key, a.epsilon, a.delta)?;
    if a.out.json {
        write_json(&serde_json::json!({
            "campaign": a.key, "epsilon": b.epsilon, "delta": b.delta,
            "spent_epsilon": b.spent_epsilon, "spent_delta": b.spent_delta,
            "releases": b.releases, "left_epsilon": b.left_epsilon(), "left_delta": b.left_delta(),
        }))?;
    } else {
        write_stdout(&format!(
            "privacy budget of {}: epsilon {}, delta {}; spent epsilon {}, delta {} over {} \
             releases; left epsilon {}, delta {}\n",
            a.key,
            b.epsilon,
            b.delta,
            b.spent_epsilon,
            b.spent_delta,
            b.releases,
            b.left_epsilon(),
            b.left_delta()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
