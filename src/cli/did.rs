//! `report did KEY --post-start TS --period day|week|month|quarter [--cluster unit|FIELD]
//! [--metric M] [--alpha A] [--json]`: difference in differences (see `app::did`). It runs as
//! a job like `report causal`, so the report is saved (`report list`) unless read-only.

use super::exit::bail_usage;
use super::{JsonFlag, Session};
use anyhow::Result;
use clap::Args;
use liftdeck::app::did::DidRequest;
use liftdeck::app::Env;
use liftdeck::jobs::{JobKind, JobSettings};
use liftdeck::store::{PanelMetric, PanelPeriod};
use std::process::ExitCode;

#[derive(Args)]
pub struct DidArgs {
    campaign: String,
    /// When the treated units got the campaign, RFC 3339 (e.g. 2026-08-31T00:00:00Z); the
    /// period holding it is the first post-period.
    #[arg(long, value_parser = parse_ts)]
    post_start: i64,
    /// Calendar period of the panel (UTC): day, week (ISO, from Monday), month or quarter.
    #[arg(long, value_parser = ["day", "week", "month", "quarter"])]
    period: String,
    /// Cluster the standard errors by unit (the default) or by a field of the assignment
    /// context, e.g. region.
    #[arg(long, default_value = "unit")]
    cluster: String,
    /// conversion (purchases), revenue, profit (revenue - cost), clicks, add_to_cart or cost
    /// per unit and period. Default: the campaign's metric.
    #[arg(long)]
    metric: Option<String>,
    /// Significance level of the intervals (default: the campaign's, else 0.05).
    #[arg(long)]
    alpha: Option<f64>,
    #[command(flatten)]
    out: JsonFlag,
}

fn parse_ts(s: &str) -> Result<i64, String> {
    liftdeck::clock::parse_rfc3339(s)
        .ok_or_else(|| format!("`{s}` is not an RFC 3339 time like 2026-08-31T00:00:00Z"))
}

pub fn did(session: &Session, env: &Env, a: DidArgs) -> Result<ExitCode> {
    let metric = match a.metric.as_deref() {
        None => None,
        Some(m) => match PanelMetric::parse(m) {
            Some(p) => Some(p),
            None => bail_usage!(
                "--metric `{m}`: use one of conversion, revenue, profit, clicks, add_to_cart, cost"
            ),
        },
    };
    let Some(period) = PanelPeriod::parse(&a.period) else {
        bail_usage!("--period `{}`: use day, week, month or quarter", a.period);
    };
    let req = DidRequest {
        campaign: a.campaign.clone(),
        post_start: a.post_start,
        period,
        cluster: (a.cluster != "unit").then_some(a.cluster),
        metric,
        alpha: a.alpha,
    };
    let settings = JobSettings {
        did: Some(req),
        ..JobSettings::default()
    };
    super::jobs::run(
        session,
        env,
        &settings,
        JobKind::Did,
        &a.campaign,
        a.out.json,
    )
}
