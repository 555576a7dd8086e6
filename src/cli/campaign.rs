//! `liftdeck campaign ...`: define campaigns, move them through draft -> running <-> paused
//! -> stopped, and edit or delete drafts. Parsing the arm and offer specs into a
//! `CampaignSpec` happens here; validating it is the use case's job (`app::create_campaign`,
//! `app::edit_campaign`).

use super::exit::usage;
use super::{write_json, write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::{Args, Subcommand};
use liftdeck::app::{self, Env};
use liftdeck::domain::{ArmSpec, CampaignKind, CampaignSpec, Offer, Status};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CampaignCmd {
    /// Create a campaign in draft.
    Create(Box<CreateArgs>),
    /// List campaigns.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show a campaign, its arms and their rollups.
    Show {
        key: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Start (or resume) a campaign.
    Start {
        key: String,
        /// Forecast this plan (PLAN.json, see the README) and freeze the forecast with the
        /// start, for `forecast review KEY` once the campaign stops. Refused, and nothing
        /// changes, when the plan cannot be forecast. A resume keeps the first frozen forecast.
        #[arg(long)]
        plan: Option<std::path::PathBuf>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Pause a running campaign.
    Pause {
        key: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Stop a campaign for good.
    Stop {
        key: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Change a draft's definition (only drafts: a campaign that ran keeps what it ran with).
    /// Flags left out keep their value; the change is recorded in the audit log.
    Edit(Box<EditArgs>),
    /// Delete a draft and its arms (only drafts; stop a campaign that ran instead).
    /// The audit log keeps the deleted definition.
    Delete {
        key: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Set the campaign's total privacy budget (epsilon, delta) that its differentially
    /// private reports (`report ab|causal --dp-epsilon`) spend; audited. Without one, DP
    /// releases are refused.
    PrivacyBudget(super::dp::PrivacyBudgetArgs),
}

/// The definition flags `create` and `edit` share; in `edit` each one left out keeps its value.
#[derive(Args)]
pub struct DefinitionArgs {
    /// Human name; defaults to the key.
    #[arg(long)]
    name: Option<String>,
    /// ab or bandit.
    #[arg(long)]
    kind: Option<String>,
    /// Arms and weights, every arm with a weight or none (equal): control:50,coupon:50.
    /// Weights are positive numbers.
    #[arg(long)]
    arms: Option<String>,
    /// The control arm (default: the first arm).
    #[arg(long)]
    control: Option<String>,
    /// Per-arm offer, repeatable: ARM:type=coupon,value=10 (type defaults to coupon).
    #[arg(long)]
    offer: Vec<String>,
    /// Fraction of units that enter the campaign, in (0, 1] (create's default 1).
    #[arg(long)]
    traffic: Option<f64>,
    /// Primary metric: an event kind (create's default purchase).
    #[arg(long)]
    metric: Option<String>,
    /// Guardrail metrics, repeatable (revenue, cost, profit, aov or an event kind); in edit,
    /// the given list replaces the old one.
    #[arg(long)]
    guardrail: Vec<String>,
    /// Custom event kinds accepted on top of exposure, click, add_to_cart, purchase; in
    /// edit, the given list replaces the old one.
    #[arg(long = "custom-kind")]
    custom_kind: Vec<String>,
    /// Assignment hash seed (create's default: random, fixed at creation).
    #[arg(long)]
    seed: Option<u64>,
    /// Report setting: units at which you expect to decide (tunes always-valid intervals).
    #[arg(long)]
    n_star: Option<f64>,
    /// Report setting: multiple-testing correction across arms, holm or bh.
    #[arg(long)]
    correction: Option<String>,
    /// Report setting: significance level.
    #[arg(long)]
    alpha: Option<f64>,
    /// Report setting: tolerated relative harm on guardrails before flagging (e.g. 0.02).
    #[arg(long)]
    guardrail_margin: Option<f64>,
}

#[derive(Args)]
pub struct CreateArgs {
    /// Short unique key, e.g. coupon-10.
    #[arg(long)]
    key: String,
    #[command(flatten)]
    def: DefinitionArgs,
    /// How a `--kind bandit` campaign learns (see `liftdeck bandit set --help`).
    #[command(flatten, next_help_heading = "Bandit")]
    bandit: super::bandit::BanditFlags,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Args)]
pub struct EditArgs {
    /// The draft to edit.
    key: String,
    #[command(flatten)]
    def: DefinitionArgs,
    #[command(flatten)]
    out: JsonFlag,
}

pub fn run(session: &Session, env: &Env, cmd: CampaignCmd) -> Result<ExitCode> {
    match cmd {
        CampaignCmd::Create(a) => create(session, env, *a),
        CampaignCmd::List { out } => {
            let store = session.open_to_read()?;
            let list = store.campaigns()?;
            if out.json {
                write_json(&list)?;
            } else {
                let mut text = format!(
                    "{:<20} {:<8} {:<8} {:>5}  name\n",
                    "key", "kind", "status", "arms"
                );
                for c in list {
                    text.push_str(&format!(
                        "{:<20} {:<8} {:<8} {:>5}  {}\n",
                        c.spec.key,
                        c.spec.kind.as_str(),
                        c.status,
                        c.spec.arms.len(),
                        c.spec.name
                    ));
                }
                write_stdout(&text)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Show { key, out } => {
            let store = session.open_to_read()?;
            let (c, _) = store.campaign(&key)?;
            let arms = store.arm_summaries(&key)?;
            if out.json {
                write_json(&serde_json::json!({ "campaign": c, "arms": arms }))?;
            } else {
                write_stdout(&app::show_text(&c, &arms, &super::report::number_format()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Start {
            key,
            plan: Some(plan),
            out,
        } => start_from_plan(session, env, &key, &plan, out),
        CampaignCmd::Start {
            key,
            plan: None,
            out,
        } => status(session, env, &key, Status::Running, out),
        CampaignCmd::Pause { key, out } => status(session, env, &key, Status::Paused, out),
        CampaignCmd::Stop { key, out } => status(session, env, &key, Status::Stopped, out),
        CampaignCmd::Edit(a) => edit(session, env, *a),
        CampaignCmd::PrivacyBudget(a) => super::dp::privacy_budget(session, env, a),
        CampaignCmd::Delete { key, out } => {
            let mut store = session.open_to_write()?;
            app::delete_campaign(&mut store, env, &key)?;
            if out.json {
                write_json(&serde_json::json!({ "campaign": key, "deleted": true }))?;
            } else {
                write_stdout(&format!("deleted draft campaign {key} and its arms\n"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn create(session: &Session, env: &Env, a: CreateArgs) -> Result<ExitCode> {
    let d = a.def;
    let Some(arms) = &d.arms else {
        return Err(usage!(
            "--arms is required, e.g. --arms control:50,coupon:50"
        ));
    };
    let arms = parse_arms(arms, &d.offer)?;
    let control = d.control.or_else(|| arms.first().map(|x| x.key.clone()));
    let kind = parse_kind(d.kind.as_deref().unwrap_or("ab"))?;
    let bandit = match (a.bandit.any(), kind) {
        (false, _) => None,
        (true, CampaignKind::Bandit) => {
            let mut config = liftdeck::domain::BanditConfig::default();
            a.bandit.apply(&mut config);
            Some(config)
        }
        (true, CampaignKind::Ab | CampaignKind::Observational) => {
            return Err(usage!(
                "--policy, --reward and the other bandit settings need --kind bandit"
            ))
        }
    };
    let spec = CampaignSpec {
        name: d.name.unwrap_or_else(|| a.key.clone()),
        key: a.key,
        kind,
        arms,
        control,
        traffic: d.traffic.unwrap_or(1.0),
        metric: d.metric.unwrap_or_else(|| "purchase".into()),
        guardrails: d.guardrail,
        custom_kinds: d.custom_kind,
        settings: liftdeck::domain::ReportSettings {
            n_star: d.n_star,
            correction: d.correction,
            alpha: d.alpha,
            guardrail_margin: d.guardrail_margin,
        },
        seed: d.seed.unwrap_or_else(rand::random),
        bandit,
    };
    // A definition that cannot be created must not leave a new, empty database behind.
    spec.validate()
        .and_then(|_| app::bandit::check_spec(&spec))
        .map_err(|e| anyhow::Error::from(app::AppError::Invalid(e)))?;
    let mut store = session.open_or_create()?;
    app::create_campaign(&mut store, env, &spec)?;
    if a.out.json {
        write_json(&serde_json::json!({ "campaign": spec.key, "status": Status::Draft }))?;
    } else {
        write_stdout(&format!(
            "created campaign {} (draft); start it with `liftdeck campaign start {}`\n",
            spec.key, spec.key
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn edit(session: &Session, env: &Env, a: EditArgs) -> Result<ExitCode> {
    let d = a.def;
    // Flag syntax is checked before the database is opened.
    let arms = d
        .arms
        .as_deref()
        .map(|arms| parse_arms(arms, &d.offer))
        .transpose()?;
    let kind = d.kind.as_deref().map(parse_kind).transpose()?;
    let mut store = session.open_to_write()?;
    let spec = app::edit_campaign(&mut store, env, &a.key, |spec| {
        if let Some(name) = d.name {
            spec.name = name;
        }
        if let Some(kind) = kind {
            spec.kind = kind;
        }
        match arms {
            Some(arms) => {
                // New arms: the old control survives only if it is still an arm.
                let keep = spec
                    .control
                    .take()
                    .filter(|c| arms.iter().any(|x| &x.key == c));
                spec.control = keep.or_else(|| arms.first().map(|x| x.key.clone()));
                spec.arms = arms;
            }
            None => apply_offers(&mut spec.arms, &d.offer)?,
        }
        if let Some(control) = d.control {
            spec.control = Some(control);
        }
        if let Some(traffic) = d.traffic {
            spec.traffic = traffic;
        }
        if let Some(metric) = d.metric {
            spec.metric = metric;
        }
        if !d.guardrail.is_empty() {
            spec.guardrails = d.guardrail;
        }
        if !d.custom_kind.is_empty() {
            spec.custom_kinds = d.custom_kind;
        }
        if let Some(seed) = d.seed {
            spec.seed = seed;
        }
        let s = &mut spec.settings;
        s.n_star = d.n_star.or(s.n_star);
        s.correction = d.correction.or(s.correction.take());
        s.alpha = d.alpha.or(s.alpha);
        s.guardrail_margin = d.guardrail_margin.or(s.guardrail_margin);
        Ok(())
    })?;
    if a.out.json {
        write_json(&serde_json::json!({ "campaign": spec.key, "definition": spec }))?;
    } else {
        write_stdout(&format!("edited draft campaign {}\n", spec.key))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_kind(kind: &str) -> Result<CampaignKind> {
    kind.parse::<CampaignKind>()
        .map_err(|e| usage!("--kind: {e}"))
}

/// `--arms` with the `--offer`s applied to them.
fn parse_arms(arms: &str, offers: &[String]) -> Result<Vec<ArmSpec>> {
    let mut arms = CampaignSpec::parse_arms(arms).map_err(|e| usage!("--arms: {e}"))?;
    apply_offers(&mut arms, offers).map_err(|e| usage!("{e}"))?;
    Ok(arms)
}

fn apply_offers(arms: &mut [ArmSpec], offers: &[String]) -> Result<(), String> {
    for spec in offers {
        let (arm_key, offer) = spec
            .split_once(':')
            .ok_or_else(|| format!("--offer `{spec}` must look like ARM:value=10"))?;
        let offer = Offer::parse_spec(offer).map_err(|e| format!("--offer `{spec}`: {e}"))?;
        let Some(arm) = arms.iter_mut().find(|x| x.key == arm_key) else {
            return Err(format!("--offer `{spec}`: no arm `{arm_key}` in --arms"));
        };
        arm.offer = offer;
    }
    Ok(())
}

fn status(session: &Session, env: &Env, key: &str, to: Status, out: JsonFlag) -> Result<ExitCode> {
    let mut store = session.open_to_write()?;
    let from = app::set_status(&mut store, env, key, to)?;
    if out.json {
        write_json(&serde_json::json!({ "campaign": key, "from": from, "to": to }))?;
    } else {
        write_stdout(&format!("{key}: {from} -> {to}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `campaign start KEY --plan PLAN.json`: forecast, then start and freeze in one transaction.
fn start_from_plan(
    session: &Session,
    env: &Env,
    key: &str,
    plan_path: &std::path::Path,
    out: JsonFlag,
) -> Result<ExitCode> {
    let plan = super::forecast::read_plan(plan_path)?;
    let mut store = session.open_to_write()?;
    let forecast =
        app::plan_forecast::forecast_plan(&store, &plan, &app::NoProgress).map_err(|e| {
            app::AppError::Invalid(format!(
                "campaign `{key}` not started: the plan {} cannot be forecast: {e}",
                plan_path.display()
            ))
        })?;
    let frozen = app::forecast_ledger::freeze(&mut store, env, key, &plan, &forecast)?;
    if out.json {
        write_json(&frozen)?;
    } else {
        let what = if frozen.newly_frozen {
            "forecast frozen"
        } else {
            "kept the forecast frozen at its first start"
        };
        write_stdout(&format!(
            "{key}: {} -> running; {what} ({})\n",
            frozen.from, frozen.model
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
