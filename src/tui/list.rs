//! The campaign list as the operator arranged it: a filter typed after `/` (matching key or
//! name) and a sort order cycled with `o`. Pure: the rows come from the snapshot, the order is
//! computed here, and the selection is kept by campaign key so it survives re-sorting,
//! filtering and refreshes.

use crate::app::snapshot::{CampaignRow, Snapshot};
use crate::domain::{Micros, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// The order campaigns were created in.
    #[default]
    Created,
    Key,
    /// Running first, then paused, draft, stopped.
    Status,
    /// Most units first.
    Units,
    /// Worst health first.
    Health,
}

impl SortKey {
    pub const ALL: [SortKey; 5] = [
        SortKey::Created,
        SortKey::Key,
        SortKey::Status,
        SortKey::Units,
        SortKey::Health,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Created => "created",
            SortKey::Key => "key",
            SortKey::Status => "status",
            SortKey::Units => "units",
            SortKey::Health => "health",
        }
    }

    pub fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }
}

/// How the list is filtered and sorted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListView {
    pub filter: String,
    /// Keys go to the filter (after `/`, until Enter or Esc).
    pub editing: bool,
    pub sort: SortKey,
}

fn status_rank(s: Status) -> u8 {
    match s {
        Status::Running => 0,
        Status::Paused => 1,
        Status::Draft => 2,
        Status::Stopped => 3,
    }
}

impl ListView {
    pub fn matches(&self, row: &CampaignRow) -> bool {
        let f = self.filter.trim().to_lowercase();
        f.is_empty()
            || row.campaign.spec.key.to_lowercase().contains(&f)
            || row.campaign.spec.name.to_lowercase().contains(&f)
    }

    /// Indices into `snapshot.campaigns`, filtered and in display order; ties keep creation
    /// order so the list never jumps between refreshes.
    pub fn visible(&self, snapshot: &Snapshot, now: Micros) -> Vec<usize> {
        let rows = &snapshot.campaigns;
        let mut out: Vec<usize> = (0..rows.len())
            .filter(|&i| self.matches(&rows[i]))
            .collect();
        let stale = snapshot.stale_after;
        match self.sort {
            SortKey::Created => {}
            SortKey::Key => {
                out.sort_by(|&a, &b| rows[a].campaign.spec.key.cmp(&rows[b].campaign.spec.key))
            }
            SortKey::Status => out.sort_by_key(|&i| status_rank(rows[i].campaign.status)),
            SortKey::Units => out.sort_by_key(|&i| std::cmp::Reverse(rows[i].units)),
            SortKey::Health => out.sort_by_key(|&i| {
                let b = rows[i].badge(now, stale);
                std::cmp::Reverse((b.severity(), b))
            }),
        }
        out
    }
}
