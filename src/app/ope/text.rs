//! The text of `report ope`: one row per estimator (estimate, interval, bootstrap standard
//! error), then the overlap diagnostics shared by every estimator; and the text of a replay.
//! Figures in the one number format (`format.rs`): rates for 0/1 rewards, money otherwise.

use super::{OpeOutcome, ReplayOutcome};
use crate::causal::ope::Estimator;
use crate::domain::RewardKind;
use crate::format::{count, interval, quantity, rate, NumberFormat};

fn shower(reward: RewardKind, nf: &NumberFormat) -> impl Fn(f64) -> String + '_ {
    move |x| {
        if reward.is_binary() {
            rate(x)
        } else {
            nf.money(x)
        }
    }
}

fn positions(p: &[u32]) -> String {
    if p.is_empty() {
        "no positions".into()
    } else {
        format!(
            "positions {}",
            p.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        )
    }
}

pub fn format_ope(o: &OpeOutcome, nf: &NumberFormat) -> String {
    let show = shower(o.reward, nf);
    let r = &o.report;
    let mut s = format!("report ope {}: policy {}\n", o.campaign, o.policy);
    s.push_str(&format!("  target   {}\n", o.target));
    if !o.sums_before_normalising.is_empty() {
        let sums: Vec<String> = o
            .sums_before_normalising
            .iter()
            .map(|p| format!("position {} {:.4}", p.position, p.sum))
            .collect();
        s.push_str(&format!(
            "           sums before normalising: {}\n",
            sums.join(", ")
        ));
    }
    s.push_str(&format!(
        "  logs     {} rows, {} arms, {}; reward {}; logged mean {}\n",
        count(o.rows as i64),
        o.arms,
        positions(&o.positions),
        o.reward,
        show(o.logged_mean)
    ));
    let level = format!("{:.0}% interval", 100.0 * (1.0 - r.alpha));
    s.push_str(&format!(
        "  {:<10} {:>9}  {:<22} {:>12}\n",
        "estimator", "estimate", level, "bootstrap se"
    ));
    for e in &r.estimates {
        let note = if e.estimator == Estimator::SwitchDr {
            match r.switch_tau {
                None => "  τ = ∞ (no row switched: same as DR)".to_string(),
                Some(t) => format!(
                    "  τ = {t:.2} ({} rows above it use DM only)",
                    count(r.switched_rows as i64)
                ),
            }
        } else {
            String::new()
        };
        s.push_str(&format!(
            "  {:<10} {:>9}  {:<22} {:>12}{note}\n",
            e.estimator.label(),
            show(e.value),
            interval(e.low, e.high, &show),
            e.bootstrap_se.map_or_else(|| "-".into(), &show),
        ));
    }
    let ov = &r.overlap;
    s.push_str(&format!(
        "  overlap  effective sample size {} of {} rows; largest weight {:.2}; mean weight {:.3} \
         (near 1 when the logs cover the target)\n",
        quantity(ov.effective_sample_size),
        count(ov.rows as i64),
        ov.max_weight,
        ov.mean_weight
    ));
    let bins: Vec<String> = ov
        .histogram
        .iter()
        .filter(|b| b.rows > 0)
        .map(|b| {
            let range = match b.high {
                Some(0.0) => "0".to_string(),
                Some(h) if b.low == 0.0 => format!("(0, {h})"),
                Some(h) => format!("[{}, {h})", b.low),
                None => format!("[{}, ∞)", b.low),
            };
            format!("{range}: {}", count(b.rows as i64))
        })
        .collect();
    s.push_str(&format!("  weights  {}\n", bins.join(" · ")));
    let m = &o.reward_model;
    if r.model_refitted_per_resample {
        s.push_str(&format!(
            "  model    DM/DR reward model: {}, refitted (and SNIPS/SNDR renormalised, τ \
             re-chosen) in each of {} bootstrap resamples (seed {}); percentile intervals\n",
            m.name,
            count(r.resamples as i64),
            r.seed
        ));
    } else {
        s.push_str(&format!(
            "  model    DM/DR reward model: {}, fitted elsewhere and kept as it is in each of {} \
             bootstrap resamples (rows resampled, SNIPS/SNDR renormalised, τ re-chosen; seed \
             {}): the intervals leave out the model's own fitting error; percentile intervals\n",
            m.name,
            count(r.resamples as i64),
            r.seed
        ));
    }
    if let Some(why) = &m.not_used {
        s.push_str(&format!("           active model not used: {why}\n"));
    }
    if let Some(note) = &o.fitted_on_logs {
        s.push_str(&format!("  note     {note}\n"));
    }
    s
}

pub fn format_replay(o: &ReplayOutcome, nf: &NumberFormat) -> String {
    let show = shower(o.reward, nf);
    let seeds = match (o.seeds.first(), o.seeds.last()) {
        (Some(a), Some(b)) if a != b => format!("seeds {a}-{b}"),
        (Some(a), _) => format!("seed {a}"),
        _ => "no seeds".into(),
    };
    format!(
        "report ope {} --replay: {}\n  \
         logs     {} rows, {} arms, collected uniformly; reward {}; logged mean {}\n  \
         learner  {}; the arm drawn from the policy's probabilities with the run's seed; no \
         explore stage\n  \
         replay   {} runs ({seeds}): mean reward {} (min {}, max {}); {} matched rows per run \
         on average\n  \
         note     the estimate rests on the matched rows only (about rows / arms): with few \
         rewards among them it says little\n",
        o.campaign,
        o.policy,
        count(o.rows as i64),
        o.arms,
        o.reward,
        show(o.logged_mean),
        o.schedule,
        o.runs.len(),
        o.mean_reward.map_or_else(|| "-".into(), &show),
        o.min_reward.map_or_else(|| "-".into(), &show),
        o.max_reward.map_or_else(|| "-".into(), &show),
        quantity(o.mean_matched),
    )
}
