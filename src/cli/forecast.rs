//! `liftdeck forecast`: `forecast KEY` projects shipping an arm of a campaign that ran (a job,
//! see `jobs.rs`); the subcommands forecast campaigns that have not run yet from a plan file.

use super::jobs::ForecastArgs;
use super::{write_stdout, JsonFlag, Session};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use liftdeck::app::Env;
use liftdeck::forecast::plan::Plan;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ForecastCli {
    #[command(subcommand)]
    pub cmd: Option<ForecastCmd>,
    /// The campaign whose arms `forecast KEY` projects.
    pub campaign: Option<String>,
    /// How many days of shipping to project.
    #[arg(long, default_value_t = 30.0)]
    pub days: f64,
    /// 1 - the interval level (default: the campaign's alpha, else 0.05).
    #[arg(long)]
    pub alpha: Option<f64>,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Subcommand)]
pub enum ForecastCmd {
    /// Forecast a planned campaign (PLAN.json, see the README) from past randomised campaigns:
    /// reach, conversions with and without the offer, incremental conversions, revenue, cost,
    /// profit and ROI with 80% and 95% intervals, by segment.
    Plan(PlanArgs),
    /// Score the forecast a stopped campaign was started with (`campaign start KEY --plan`)
    /// against the effect its randomised causal report measured, and store the review
    /// (reviewing again replaces it with the effect measured then).
    Review(ReviewArgs),
    /// The running score of reviewed forecasts per offer type: interval coverage, bias, CRPS
    /// and the recalibration factor later forecasts get.
    Ledger(LedgerArgs),
    /// Choose per user which depth of the plan's offer (or none) to give within a budget, to
    /// maximise incremental profit; the cost curve with intervals against giving the deepest
    /// offer to the top users by uplift and the plan's offer to the top users by propensity.
    Budget(BudgetArgs),
}

#[derive(Args)]
pub struct BudgetArgs {
    /// The plan file (`-` reads standard input); its `depths` are the alternatives.
    pub plan: PathBuf,
    /// The budget in money for the whole plan (default: the plan's `budget`).
    #[arg(long)]
    pub budget: Option<f64>,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Args)]
pub struct ReviewArgs {
    /// The stopped campaign to review.
    pub campaign: String,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Args)]
pub struct LedgerArgs {
    /// Only this offer type (discount, coupon, spend_threshold, recommend).
    #[arg(long)]
    pub offer_type: Option<String>,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Args)]
pub struct PlanArgs {
    /// The plan file (`-` reads standard input).
    pub plan: PathBuf,
    #[command(flatten)]
    pub out: JsonFlag,
}

impl ForecastCli {
    pub fn name(&self) -> &'static str {
        match &self.cmd {
            None => "forecast",
            Some(ForecastCmd::Plan(_)) => "forecast plan",
            Some(ForecastCmd::Review(_)) => "forecast review",
            Some(ForecastCmd::Ledger(_)) => "forecast ledger",
            Some(ForecastCmd::Budget(_)) => "forecast budget",
        }
    }

    pub fn writes(&self) -> bool {
        match &self.cmd {
            None
            | Some(ForecastCmd::Plan(_))
            | Some(ForecastCmd::Ledger(_))
            | Some(ForecastCmd::Budget(_)) => false,
            Some(ForecastCmd::Review(_)) => true,
        }
    }
}

/// Reads and checks a plan file; errors name the file and the field.
pub fn read_plan(path: &std::path::Path) -> Result<Plan> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the plan from stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    Plan::parse(&text).map_err(|e| super::CliError::Data(format!("{}: {e}", path.display())).into())
}

pub fn run(session: &Session, env: &Env, cli: ForecastCli) -> Result<ExitCode> {
    match (cli.cmd, cli.campaign) {
        (Some(ForecastCmd::Plan(a)), _) => plan(session, a),
        (Some(ForecastCmd::Review(a)), _) => review(session, env, a),
        (Some(ForecastCmd::Ledger(a)), _) => ledger(session, a),
        (Some(ForecastCmd::Budget(a)), _) => budget(session, a),
        (None, Some(campaign)) => super::jobs::forecast(
            session,
            env,
            ForecastArgs {
                campaign,
                days: cli.days,
                alpha: cli.alpha,
                out: cli.out,
            },
        ),
        (None, None) => Err(super::CliError::Usage(
            "give a campaign (`forecast KEY`) or a subcommand (`forecast plan PLAN.json`)".into(),
        )
        .into()),
    }
}

fn plan(session: &Session, a: PlanArgs) -> Result<ExitCode> {
    let plan = read_plan(&a.plan)?;
    let store = session.open_to_read()?;
    let f = liftdeck::app::plan_forecast::forecast_plan(&store, &plan, &liftdeck::app::NoProgress)?;
    let text = if a.out.json {
        serde_json::to_string_pretty(&f)? + "\n"
    } else {
        liftdeck::app::plan_forecast::format_text(&f, &super::report::number_format(), 100)
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn review(session: &Session, env: &Env, a: ReviewArgs) -> Result<ExitCode> {
    use liftdeck::app::forecast_ledger;
    let mut store = session.open_to_write()?;
    let r = forecast_ledger::review(&mut store, env, &a.campaign)?;
    if a.out.json {
        super::write_json(&r)?;
    } else {
        write_stdout(&forecast_ledger::format_review(&r))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn ledger(session: &Session, a: LedgerArgs) -> Result<ExitCode> {
    use liftdeck::app::forecast_ledger;
    let store = session.open_to_read()?;
    let l = forecast_ledger::ledger(&store, a.offer_type.as_deref())?;
    if a.out.json {
        super::write_json(&l)?;
    } else {
        write_stdout(&forecast_ledger::format_ledger(&l))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn budget(session: &Session, a: BudgetArgs) -> Result<ExitCode> {
    use liftdeck::app::plan_budget::{self, BudgetSource};
    let plan = read_plan(&a.plan)?;
    let (amount, source) = match (a.budget, plan.budget) {
        (Some(b), _) => (b, BudgetSource::Given),
        (None, Some(b)) => (b, BudgetSource::Plan),
        (None, None) => {
            return Err(super::CliError::Usage(
                "give the budget: --budget B, or a `budget` in the plan file".into(),
            )
            .into())
        }
    };
    if !amount.is_finite() || amount <= 0.0 {
        return Err(super::CliError::Usage(format!(
            "the budget must be a positive amount of money (got {amount})"
        ))
        .into());
    }
    let store = session.open_to_read()?;
    let b = plan_budget::plan_budget(&store, &plan, amount, source, &liftdeck::app::NoProgress)?;
    if a.out.json {
        super::write_json(&b)?;
    } else {
        write_stdout(&plan_budget::format_text(
            &b,
            &super::report::number_format(),
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
