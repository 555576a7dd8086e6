//! Whether the validation units' labels have had time to arrive. Purchases come minutes or
//! days after the visit, and the time split validates on the newest units: on a running
//! campaign many of them cannot have converted yet, so their labels read "did not convert"
//! and the validation loss and observed rate are biased low. A retrain says so, from the
//! campaign's own conversion delays, rather than report a rate of 0.00% as if it were true.

use crate::domain::Micros;
use crate::store::Store;
use serde::{Deserialize, Serialize};

/// Share of conversions the delay quantile covers.
const DELAY_QUANTILE: f64 = 0.95;
/// From this share of validation units still inside that delay, the result warns.
const WARN_SHARE: f64 = 0.5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelMaturity {
    /// 95% of the campaign's conversions arrived within this many seconds of assignment.
    pub delay_secs: f64,
    /// Validation units assigned less than that before the newest data.
    pub immature_units: usize,
    pub validation_units: usize,
    /// Whether so many are immature that the validation figures read low.
    pub warn: bool,
}

/// The `quantile` of `delays` (sorted in place), by the nearest-rank rule.
fn quantile(delays: &mut [Micros], quantile: f64) -> Option<Micros> {
    if delays.is_empty() {
        return None;
    }
    delays.sort_unstable();
    let rank = ((quantile * delays.len() as f64).ceil() as usize).clamp(1, delays.len());
    Some(delays[rank - 1])
}

/// Pure: how many of the validation assignment times lie within the delay quantile of the
/// newest data time.
pub fn label_maturity(
    mut delays: Vec<Micros>,
    latest: Option<Micros>,
    validation_times: &[Micros],
) -> Option<LabelMaturity> {
    let delay = quantile(&mut delays, DELAY_QUANTILE)?;
    let latest = latest?;
    let immature = validation_times
        .iter()
        .filter(|&&t| latest - t < delay)
        .count();
    let n = validation_times.len();
    Some(LabelMaturity {
        delay_secs: delay as f64 / 1e6,
        immature_units: immature,
        validation_units: n,
        warn: n > 0 && immature as f64 >= WARN_SHARE * n as f64,
    })
}

/// [`label_maturity`] of `key`'s validation units, for the label `clicks` (else purchases).
pub fn check(
    store: &Store,
    key: &str,
    clicks: bool,
    validation_times: &[Micros],
) -> super::Result<Option<LabelMaturity>> {
    let kind = if clicks { "click" } else { "purchase" };
    let (delays, latest) = store.conversion_delays(key, kind)?;
    Ok(label_maturity(delays, latest, validation_times))
}

/// The line `train` prints when the check warns.
pub fn format_text(m: &LabelMaturity) -> String {
    format!(
        "  warning: {} of the {} validation units were assigned less than {}\n    \
         before the newest data (95% of conversions take that long): their\n    \
         conversions may not have arrived, so validation figures read low\n",
        crate::format::count(m.immature_units as i64),
        crate::format::count(m.validation_units as i64),
        duration_text(m.delay_secs)
    )
}

fn duration_text(secs: f64) -> String {
    if secs < 120.0 {
        format!("{secs:.0} s")
    } else if secs < 7_200.0 {
        format!("{:.0} min", secs / 60.0)
    } else if secs < 172_800.0 {
        format!("{:.1} h", secs / 3_600.0)
    } else {
        format!("{:.1} days", secs / 86_400.0)
    }
}

/// Units a retrain left out because they were assigned inside the maturity window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeftOut {
    pub maturity_secs: u64,
    /// Where the window came from: `--maturity` or the campaign's reward delay.
    pub source: String,
    pub units: usize,
}

/// The maturity window of a retrain: the operator's, else the campaign's bandit reward delay
/// (the same "conversions need this long" the allocation loop waits for), else none.
pub fn window_secs(store: &Store, key: &str, flag: Option<u64>) -> super::Result<(u64, String)> {
    if let Some(secs) = flag {
        return Ok((secs, "--maturity".into()));
    }
    let (campaign, _) = store.campaign(key)?;
    let delay = campaign
        .spec
        .bandit
        .as_ref()
        .map_or(0, |b| b.reward_delay_secs_or_default());
    Ok((delay, "the campaign's reward delay".into()))
}

/// Drops from `rows` (and `units`, kept in step) every row assigned less than the window
/// before the campaign's newest assignment or event; `None` when the window is 0.
pub fn leave_out_immature<R>(
    store: &Store,
    key: &str,
    flag: Option<u64>,
    rows: &mut Vec<R>,
    assigned_at: impl Fn(&R) -> Micros,
    units: Option<&mut Vec<String>>,
) -> super::Result<Option<LeftOut>> {
    let (secs, source) = window_secs(store, key, flag)?;
    if secs == 0 {
        return Ok(None);
    }
    let Some(latest) = store.latest_activity(key)? else {
        return Ok(None);
    };
    let cutoff = latest.saturating_sub(
        i64::try_from(secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000),
    );
    let keep: Vec<bool> = rows.iter().map(|r| assigned_at(r) <= cutoff).collect();
    let before = rows.len();
    let mut k = keep.iter();
    rows.retain(|_| k.next().copied().unwrap_or(false));
    if let Some(units) = units {
        let mut k = keep.iter();
        units.retain(|_| k.next().copied().unwrap_or(false));
    }
    Ok(Some(LeftOut {
        maturity_secs: secs,
        source,
        units: before - rows.len(),
    }))
}

/// The line `train` prints for the units it left out.
pub fn format_left_out(l: &LeftOut) -> String {
    format!(
        "  left out {} units assigned in the last {}\n    ({}): too recent to have converted\n",
        crate::format::count(l.units as i64),
        duration_text(l.maturity_secs as f64),
        l.source
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;

    #[test]
    fn recent_validation_units_inside_the_delay_warn_and_old_ones_do_not() {
        // Conversions take 10..=100 s; the 95th percentile is 100 s (nearest rank of 10).
        let delays: Vec<Micros> = (1..=10).map(|k| k * 10 * S).collect();
        let latest = Some(1_000 * S);
        // Validation units assigned 30, 60, 90 and 500 s before the newest data.
        let recent = [970 * S, 940 * S, 910 * S, 500 * S];
        let m = label_maturity(delays.clone(), latest, &recent).expect("check");
        assert_eq!(
            (m.delay_secs, m.immature_units, m.validation_units),
            (100.0, 3, 4)
        );
        assert!(m.warn);
        assert!(format_text(&m).contains("3 of the 4 validation units"));
        let old = [100 * S, 200 * S, 890 * S];
        let m = label_maturity(delays, latest, &old).expect("check");
        assert_eq!(m.immature_units, 0);
        assert!(!m.warn);
    }

    #[test]
    fn no_conversions_or_no_data_gives_no_check() {
        assert!(label_maturity(vec![], Some(5), &[1, 2]).is_none());
        assert!(label_maturity(vec![3], None, &[1, 2]).is_none());
    }

    #[test]
    fn the_quantile_is_the_nearest_rank() {
        let mut d = vec![5, 1, 4, 2, 3];
        assert_eq!(quantile(&mut d, 0.95), Some(5));
        assert_eq!(quantile(&mut d, 0.4), Some(2));
        assert_eq!(quantile(&mut [7], 0.95), Some(7));
    }
}
