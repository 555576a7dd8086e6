//! `liftdeck campaign ...`: define campaigns and move them through draft -> running <-> paused
//! -> stopped. Parsing the arm and offer specs into a `CampaignSpec` happens here; validating it
//! is `app::create_campaign`'s job.

use super::open;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use liftdeck::app::{self, Env};
use liftdeck::domain::{CampaignKind, CampaignSpec, Offer, Status};
use std::path::Path;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CampaignCmd {
    /// Create a campaign in draft.
    Create(Box<CreateArgs>),
    /// List campaigns.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a campaign, its arms and their rollups.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Start (or resume) a campaign.
    Start { key: String },
    /// Pause a running campaign.
    Pause { key: String },
    /// Stop a campaign for good.
    Stop { key: String },
}

#[derive(Args)]
pub struct CreateArgs {
    /// Short unique key, e.g. coupon-10.
    #[arg(long)]
    key: String,
    /// Human name; defaults to the key.
    #[arg(long)]
    name: Option<String>,
    #[arg(long, default_value = "ab")]
    kind: String,
    /// Arms and weights: control:50,coupon:50.
    #[arg(long)]
    arms: String,
    /// The control arm (default: the first arm).
    #[arg(long)]
    control: Option<String>,
    /// Per-arm offer, repeatable: ARM:type=coupon,value=10 (type defaults to coupon).
    #[arg(long)]
    offer: Vec<String>,
    /// Fraction of units that enter the campaign.
    #[arg(long, default_value_t = 1.0)]
    traffic: f64,
    /// Primary metric: an event kind.
    #[arg(long, default_value = "purchase")]
    metric: String,
    /// Guardrail metrics, repeatable (revenue, cost, profit, aov or an event kind).
    #[arg(long)]
    guardrail: Vec<String>,
    /// Custom event kinds accepted on top of exposure, click, add_to_cart, purchase.
    #[arg(long = "custom-kind")]
    custom_kind: Vec<String>,
    /// Assignment hash seed (default: random, fixed at creation).
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

pub fn run(db: &Path, env: &Env, cmd: CampaignCmd) -> Result<ExitCode> {
    match cmd {
        CampaignCmd::Create(a) => create(db, env, *a),
        CampaignCmd::List { json } => {
            let store = open(db)?;
            let list = store.campaigns()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:<20} {:<8} {:<8} {:>5}  name",
                    "key", "kind", "status", "arms"
                );
                for c in list {
                    println!(
                        "{:<20} {:<8} {:<8} {:>5}  {}",
                        c.spec.key,
                        c.spec.kind.as_str(),
                        c.status,
                        c.spec.arms.len(),
                        c.spec.name
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Show { key, json } => {
            let store = open(db)?;
            let (c, _) = store.campaign(&key)?;
            let arms = store.arm_summaries(&key)?;
            if json {
                let v = serde_json::json!({ "campaign": c, "arms": arms });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", app::show_text(&c, &arms));
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Start { key } => status(db, env, &key, Status::Running),
        CampaignCmd::Pause { key } => status(db, env, &key, Status::Paused),
        CampaignCmd::Stop { key } => status(db, env, &key, Status::Stopped),
    }
}

fn create(db: &Path, env: &Env, a: CreateArgs) -> Result<ExitCode> {
    let mut arms = CampaignSpec::parse_arms(&a.arms).map_err(anyhow::Error::msg)?;
    for spec in &a.offer {
        let (arm_key, offer) = spec
            .split_once(':')
            .with_context(|| format!("--offer `{spec}` must look like ARM:value=10"))?;
        let offer =
            Offer::parse_spec(offer).map_err(|e| anyhow::anyhow!("--offer `{spec}`: {e}"))?;
        let Some(arm) = arms.iter_mut().find(|x| x.key == arm_key) else {
            bail!("--offer `{spec}`: no arm `{arm_key}` in --arms");
        };
        arm.offer = offer;
    }
    let control = a.control.or_else(|| arms.first().map(|x| x.key.clone()));
    let spec = CampaignSpec {
        name: a.name.unwrap_or_else(|| a.key.clone()),
        key: a.key,
        kind: a.kind.parse::<CampaignKind>().map_err(anyhow::Error::msg)?,
        arms,
        control,
        traffic: a.traffic,
        metric: a.metric,
        guardrails: a.guardrail,
        custom_kinds: a.custom_kind,
        settings: liftdeck::domain::ReportSettings {
            n_star: a.n_star,
            correction: a.correction,
            alpha: a.alpha,
            guardrail_margin: a.guardrail_margin,
        },
        seed: a.seed.unwrap_or_else(rand::random),
    };
    let mut store = open(db)?;
    app::create_campaign(&mut store, env, &spec)?;
    println!(
        "created campaign {} (draft); start it with `liftdeck campaign start {}`",
        spec.key, spec.key
    );
    Ok(ExitCode::SUCCESS)
}

fn status(db: &Path, env: &Env, key: &str, to: Status) -> Result<ExitCode> {
    let mut store = open(db)?;
    let from = app::set_status(&mut store, env, key, to)?;
    println!("{key}: {from} -> {to}");
    Ok(ExitCode::SUCCESS)
}
