//! Retention: `prune --older-than WINDOW`, and what the readers of raw rows say afterwards.
//! The store keeps every aggregate (see store/retention.rs for what goes and what stays).

use super::{AppError, Env, Result};
use crate::domain::Micros;
use crate::store::{PruneCount, Store};

const HOUR: Micros = 3_600_000_000;

/// A retention window in micros: `12h`, `90d`, `26w`. A bare number is refused (hours or
/// days?), as are zero and anything beyond 100 years (a typo, not a policy).
pub fn parse_window(s: &str) -> std::result::Result<Micros, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let hours_per = match unit {
        "h" => 1,
        "d" => 24,
        "w" => 24 * 7,
        "" => {
            return Err(format!(
                "`{s}` has no unit: say 12h, 180d or 26w (hours, days, weeks)"
            ))
        }
        _ => return Err(format!("`{s}`: use h, d or w, e.g. 180d")),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a window like 12h, 180d or 26w"))?;
    if n == 0 {
        return Err(format!(
            "`{s}` would prune everything up to now; give a window of at least 1h"
        ));
    }
    let hours = n
        .checked_mul(hours_per)
        .filter(|&h| h <= 100 * 366 * 24)
        .ok_or_else(|| format!("`{s}` is longer than 100 years; give a shorter window"))?;
    Ok(hours * HOUR)
}

/// The result of a prune (or, dry, of what it would do).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    /// Everything stamped before this is (or would be) gone from raw rows.
    pub before: Micros,
    pub campaigns: Vec<PruneCount>,
}

/// Prunes raw rows older than `window` before now (one transaction, audited per campaign).
pub fn prune(store: &mut Store, env: &Env, window: Micros, dry_run: bool) -> Result<PruneReport> {
    let now = env.clock.now();
    let before = now
        .checked_sub(window)
        .ok_or_else(|| AppError::Invalid("the window reaches before the epoch".into()))?;
    let campaigns = if dry_run {
        store.prune_counts(before)?
    } else {
        store.prune(before, now, &env.actor)?
    };
    Ok(PruneReport {
        dry_run,
        before,
        campaigns,
    })
}

/// The sentence a reader of raw rows (export, training, causal, uplift, OPE) adds when the
/// campaign was pruned, so it never reports on a fraction in silence; `None` when not pruned.
pub fn pruned_note(store: &Store, key: &str) -> Result<Option<String>> {
    Ok(store.prune_mark(key)?.map(|m| {
        format!(
            "events before {} were pruned from `{key}` ({} deleted); what reads raw events or \
             assignment contexts sees only the rest. Reports from rollups are whole.",
            crate::clock::format_rfc3339(m.pruned_before),
            m.events_deleted
        )
    }))
}

/// What `verify` can check for one campaign: against raw rows when nothing was pruned,
/// else against unit_totals, with the sentence saying what can no longer be recomputed.
pub struct VerifyOutcome {
    pub mismatches: Vec<String>,
    /// `Some` when the campaign was pruned: checked against unit_totals only.
    pub pruned: Option<String>,
}

pub fn verify_campaign(store: &Store, key: &str) -> Result<VerifyOutcome> {
    match store.prune_mark(key)? {
        None => Ok(VerifyOutcome {
            mismatches: store.verify_rollups(key)?,
            pruned: None,
        }),
        Some(m) => Ok(VerifyOutcome {
            mismatches: store.verify_rollups_against_unit_totals(key)?,
            pruned: Some(format!(
                "events before {} were pruned: rollups cannot be recomputed from events for \
                 campaign {key}; checked against per-unit totals instead",
                crate::clock::format_rfc3339(m.pruned_before)
            )),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_need_a_unit_and_a_sane_size() {
        assert_eq!(parse_window("12h"), Ok(12 * HOUR));
        assert_eq!(parse_window("180d"), Ok(180 * 24 * HOUR));
        assert_eq!(parse_window("2w"), Ok(14 * 24 * HOUR));
        for bad in [
            "180",
            "0d",
            "-5d",
            "d",
            "1.5d",
            "10y",
            "99999999999999999999d",
            "40000d",
        ] {
            assert!(parse_window(bad).is_err(), "{bad} accepted");
        }
    }
}
