//! Reading the console's snapshot from the store. Runs on the data thread (or directly in
//! tests and replays), never inside `render`.

use super::state::{ArmSeries, CampaignRow, Snapshot};
use crate::store::BucketRow;

/// Cumulative conversion rate per arm with a 95% Wald band, from per-minute buckets.
pub fn cumulative_series(buckets: &[BucketRow]) -> Vec<ArmSeries> {
    let Some(start) = buckets.iter().map(|b| b.bucket).min() else {
        return Vec::new();
    };
    let mut out: Vec<(ArmSeries, i64, i64)> = Vec::new();
    for b in buckets {
        let i = match out.iter().position(|(s, _, _)| s.arm == b.arm) {
            Some(i) => i,
            None => {
                out.push((
                    ArmSeries {
                        arm: b.arm.clone(),
                        points: Vec::new(),
                    },
                    0,
                    0,
                ));
                out.len() - 1
            }
        };
        let (series, units, conversions) = &mut out[i];
        *units += b.new_units;
        *conversions += b.conversions;
        if *units > 0 {
            let n = *units as f64;
            let p = *conversions as f64 / n;
            let half = 1.959_963_984_540_054 * (p * (1.0 - p) / n).sqrt();
            let minutes = (b.bucket - start) as f64 / 60e6;
            series
                .points
                .push((minutes, p, (p - half).max(0.0), (p + half).min(1.0)));
        }
    }
    out.into_iter().map(|(s, _, _)| s).collect()
}
use crate::app::health::{self, Severity};
use crate::app::report::{report_ab, Capping};
use crate::stats::ab::{Metric, Options};
use crate::store::Store;

/// Reads campaigns with their rollups, health badges, and the A/B report of the selected one.
pub fn load_snapshot(
    store: &Store,
    selected: usize,
    metric: Metric,
    now: i64,
    stale_after: i64,
) -> Result<Snapshot, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let campaigns = store.campaigns().map_err(|e| err(&e))?;
    let health = health::check(store, now, stale_after).map_err(|e| err(&e))?;
    let mut rows = Vec::with_capacity(campaigns.len());
    for c in campaigns {
        let arms = store.arm_summaries(&c.spec.key).map_err(|e| err(&e))?;
        let badge = match health.iter().find(|h| h.campaign == c.spec.key) {
            None => "-".to_string(),
            Some(h) if h.severity == Severity::Ok => "OK".to_string(),
            Some(h) => h
                .findings
                .iter()
                .max_by_key(|f| f.severity)
                .map_or("OK".into(), |f| f.check.to_uppercase()),
        };
        rows.push(CampaignRow {
            campaign: c,
            arms,
            badge,
        });
    }
    let report = match rows.get(selected) {
        Some(row) => report_ab(
            store,
            &row.campaign.spec.key,
            metric,
            &Options {
                n_star: row.campaign.spec.settings.n_star.unwrap_or(5000.0),
                alpha: row.campaign.spec.settings.alpha.unwrap_or(0.05),
                ..Options::default()
            },
            Capping::None,
            None,
        )
        .map_err(|e| err(&e))?
        .into_iter()
        .next()
        .map(|o| o.report),
        None => None,
    };
    let mut activity = Vec::new();
    for row in &rows {
        let key = &row.campaign.spec.key;
        let (rate, newest) = store
            .recent_event_rate(key, 60_000_000)
            .map_err(|e| err(&e))?;
        activity.push(format!(
            "{key}: {rate:.1} events/s over the last minute of data; last event {}",
            newest.map_or("never".into(), crate::clock::format_rfc3339)
        ));
    }
    let audit = store
        .audit_log(8)
        .map_err(|e| err(&e))?
        .into_iter()
        .map(|a| {
            format!(
                "{} {} {} {} {}",
                crate::clock::format_rfc3339(a.ts),
                a.actor,
                a.action,
                a.campaign.unwrap_or_default(),
                a.detail.chars().take(40).collect::<String>()
            )
        })
        .collect();
    let rejects = store
        .rejects(20)
        .map_err(|e| err(&e))?
        .into_iter()
        .map(|r| format!("{} line {}: {} ({})", r.source, r.line, r.detail, r.reason))
        .collect();
    let series = match rows.get(selected) {
        Some(row) => {
            cumulative_series(&store.buckets(&row.campaign.spec.key).map_err(|e| err(&e))?)
        }
        None => Vec::new(),
    };
    let jobs = match rows.get(selected) {
        Some(row) => store
            .latest_jobs(&row.campaign.spec.key)
            .map_err(|e| err(&e))?,
        None => Vec::new(),
    };
    Ok(Snapshot {
        jobs,
        activity,
        audit,
        series,
        campaigns: rows,
        report,
        health_lines: health::format_lines(&health)
            .lines()
            .map(str::to_string)
            .collect(),
        rejects,
    })
}
