//! Importing an Open Bandit Dataset log (`men.csv`, `item_context.csv` beside it): the items
//! become the arms of a bandit campaign, stopped once loaded (it is history), each row one decision. Rows go through the
//! ingest path (`store::Ingestor`), so rollups, rejects (file, line, field) and idempotency are
//! the same as for any feed: importing the same file again adds nothing.
//!
//! A row becomes: an assignment of unit `<campaign folder>-<policy folder>-<row index>` to arm
//! `item-<item_id>` with propensity = `propensity_score` and context = `position` plus
//! `user_feature_0..3` (the 34 user-item affinities are left out: they would triple the
//! stored context and nothing reads them yet); an exposure event; and a click event when
//! `click` is 1. Event ids carry the campaign key, so one file imported into two campaigns
//! gives two sets of events.

use super::privacy::{UnitIds, WITHHELD_LINE};
use super::{AppError, Env, Result};
use crate::domain::{
    ArmSpec, AssignmentRecord, BanditConfig, CampaignKind, CampaignSpec, EventRecord, Micros,
    Offer, PolicyKind, Record, ReportSettings, RewardKind, Status,
};
use crate::lines::{check_context, LineError, RejectReason};
use crate::store::{IngestItem, Ingestor, Store, StoreError};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// Rows per pair of transactions (assignments, then their events).
const ROWS_PER_BATCH: usize = 5_000;
/// Rejected rows kept verbatim for the summary (all are in the rejects table).
const SAMPLE_REJECTS: usize = 20;
/// The columns every log needs.
const REQUIRED: [&str; 5] = [
    "timestamp",
    "item_id",
    "position",
    "click",
    "propensity_score",
];

/// One parsed row of a log.
#[derive(Debug, Clone, PartialEq)]
pub struct ObdRow {
    /// The row's index (the file's unnamed first column), else its place among the data rows.
    pub index: String,
    pub ts: Micros,
    pub item: i64,
    pub position: u32,
    pub click: bool,
    pub propensity: f64,
    pub user_features: Vec<(String, String)>,
}

/// The arm key of an item.
pub fn arm_key(item: i64) -> String {
    format!("item-{item}")
}

/// The item of an arm key made by `arm_key`.
pub fn item_of_arm(key: &str) -> Option<i64> {
    key.strip_prefix("item-")?.parse().ok()
}

/// The item ids listed in `item_context.csv` beside `log`, in file order.
pub fn read_items(log: &Path) -> Result<Vec<i64>> {
    let path = log.with_file_name("item_context.csv");
    let file = std::fs::File::open(&path).map_err(|e| {
        AppError::Io(std::io::Error::new(
            e.kind(),
            format!(
                "{}: {e} (an Open Bandit Dataset log needs item_context.csv beside it)",
                path.display()
            ),
        ))
    })?;
    let mut rdr = csv::Reader::from_reader(std::io::BufReader::new(file));
    let source = path.display().to_string();
    let bad = |line: u64, reason: RejectReason, detail: String| AppError::Line {
        source_name: source.clone(),
        line,
        error: LineError::new(reason, detail),
    };
    let header = rdr
        .headers()
        .map_err(|e| bad(1, RejectReason::Malformed, format!("malformed CSV: {e}")))?
        .clone();
    let Some(col) = header.iter().position(|h| h == "item_id") else {
        return Err(bad(
            1,
            RejectReason::MissingField,
            "the header has no `item_id` column".into(),
        ));
    };
    let mut items = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, RejectReason::Malformed, format!("malformed CSV: {e}"))
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let text = rec.get(col).unwrap_or("");
        let item = text.trim().parse::<i64>().map_err(|_| {
            bad(
                line,
                RejectReason::WrongType,
                format!("field `item_id` must be an integer, got `{text}`"),
            )
        })?;
        if !items.contains(&item) {
            items.push(item);
        }
    }
    if items.len() < 2 {
        return Err(bad(
            1,
            RejectReason::MissingField,
            format!("{} items; a campaign needs at least two", items.len()),
        ));
    }
    Ok(items)
}

/// Where the needed fields are in a log's header.
struct Columns {
    index: Option<usize>,
    required: [usize; 5],
    user: Vec<(String, usize)>,
}

impl Columns {
    fn from_header(header: &csv::StringRecord) -> std::result::Result<Columns, LineError> {
        let find = |name: &str| header.iter().position(|h| h == name);
        let mut required = [0; 5];
        for (slot, name) in required.iter_mut().zip(REQUIRED) {
            *slot = find(name).ok_or_else(|| {
                LineError::new(
                    RejectReason::MissingField,
                    format!(
                        "the header has no `{name}` column (an Open Bandit Dataset log has {})",
                        REQUIRED.join(", ")
                    ),
                )
            })?;
        }
        Ok(Columns {
            index: find(""),
            required,
            user: header
                .iter()
                .enumerate()
                .filter(|(_, h)| h.starts_with("user_feature_"))
                .map(|(i, h)| (h.to_string(), i))
                .collect(),
        })
    }

    fn read(
        &self,
        rec: &csv::StringRecord,
        data_row: u64,
        items: &[i64],
    ) -> std::result::Result<ObdRow, LineError> {
        let field = |i: usize, name: &str| {
            rec.get(i).ok_or_else(|| {
                LineError::new(
                    RejectReason::MissingField,
                    format!("field `{name}` is missing (the row is short)"),
                )
            })
        };
        let [ts_col, item_col, pos_col, click_col, prop_col] = self.required;
        let ts_text = field(ts_col, "timestamp")?;
        let ts = crate::clock::parse_rfc3339(&ts_text.trim().replacen(' ', "T", 1)).ok_or_else(
            || {
                LineError::new(
                    RejectReason::BadTimestamp,
                    format!(
                        "field `timestamp`: `{ts_text}` is not a time like \
                         2019-11-24 00:03:13.442536+00:00"
                    ),
                )
            },
        )?;
        let text = field(item_col, "item_id")?;
        let item: i64 = text.trim().parse().map_err(|_| {
            LineError::new(
                RejectReason::WrongType,
                format!("field `item_id` must be an integer, got `{text}`"),
            )
        })?;
        if !items.contains(&item) {
            return Err(LineError::new(
                RejectReason::UnknownArm,
                format!(
                    "field `item_id`: item {item} is not in item_context.csv ({} items)",
                    items.len()
                ),
            ));
        }
        let text = field(pos_col, "position")?;
        let position = text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|p| (1..=1000).contains(p))
            .ok_or_else(|| {
                LineError::new(
                    RejectReason::ValueOutOfRange,
                    format!("field `position` must be a slot number 1 to 1000, got `{text}`"),
                )
            })?;
        let text = field(click_col, "click")?;
        let click = match text.trim() {
            "0" | "0.0" => false,
            "1" | "1.0" => true,
            _ => {
                return Err(LineError::new(
                    RejectReason::ValueOutOfRange,
                    format!("field `click` must be 0 or 1, got `{text}`"),
                ))
            }
        };
        let text = field(prop_col, "propensity_score")?;
        let propensity = text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| *p > 0.0 && *p <= 1.0)
            .ok_or_else(|| {
                LineError::new(
                    RejectReason::BadPropensity,
                    format!("field `propensity_score` must be in (0, 1], got `{text}`"),
                )
            })?;
        let index = self
            .index
            .and_then(|i| rec.get(i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map_or_else(|| data_row.to_string(), str::to_string);
        let user_features = self
            .user
            .iter()
            .filter_map(|(name, i)| rec.get(*i).map(|v| (name.clone(), v.to_string())))
            .collect();
        Ok(ObdRow {
            index,
            ts,
            item,
            position,
            click,
            propensity,
            user_features,
        })
    }
}

/// Reads every row of the log at `path`, checking items against `items`. `each` gets the row's
/// line number, its text (for rejects) and what it parsed to. A header without the needed
/// columns, or an unreadable file, is an error.
pub fn for_each_row(
    path: &Path,
    items: &[i64],
    mut each: impl FnMut(u64, String, std::result::Result<ObdRow, LineError>) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| {
        AppError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let source = path.display().to_string();
    let header = rdr
        .headers()
        .map_err(|e| AppError::Invalid(format!("{source}: {e}")))?
        .clone();
    let cols = Columns::from_header(&header).map_err(|error| AppError::Line {
        source_name: source.clone(),
        line: 1,
        error,
    })?;
    for (n, rec) in rdr.records().enumerate() {
        match rec {
            Ok(rec) => {
                let line = rec.position().map_or(0, |p| p.line());
                let raw = rec.iter().collect::<Vec<_>>().join(",");
                let parsed = cols.read(&rec, n as u64, items);
                each(line, raw, parsed)?;
            }
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(AppError::Invalid(format!("{source}: {e}")));
                }
                let line = e.position().map_or(0, |p| p.line());
                let error = LineError::new(RejectReason::Malformed, format!("malformed CSV: {e}"));
                each(line, String::new(), Err(error))?;
            }
        }
    }
    Ok(())
}

/// `obd-<campaign folder>-<policy folder>` for `.../men/random/men.csv`: what `import obd`
/// calls the campaign unless told otherwise.
pub fn default_key(path: &Path) -> String {
    format!("obd-{}", source_tag(path))
}

/// `men-random` for `.../men/random/men.csv`; the file's stem when it has no folders.
fn source_tag(path: &Path) -> String {
    let dirs: Vec<String> = path
        .parent()
        .into_iter()
        .flat_map(|p| p.components().rev().take(2))
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let tag = if dirs.is_empty() {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "log".into())
    } else {
        dirs.into_iter().rev().collect::<Vec<_>>().join("-")
    };
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    pub source: String,
    pub campaign: String,
    /// Whether this import created the campaign.
    pub created: bool,
    pub run: Option<i64>,
    pub rows: u64,
    /// Rows stored now (new assignments).
    pub imported: u64,
    /// Rows already in the campaign (a repeat import), left unchanged.
    pub duplicates: u64,
    pub rejected: u64,
    pub events: u64,
    /// Rejected rows: line and what was wrong (the first few; all are in the rejects table).
    #[serde(skip)]
    pub samples: Vec<(u64, LineError)>,
}

/// Imports the log at `path` into campaign `key` (default: `default_key(path)`), creating the
/// campaign (running, one arm per item) when it does not exist.
pub fn import_obd(
    store: &mut Store,
    env: &Env,
    path: &Path,
    key: Option<&str>,
) -> Result<ImportSummary> {
    import_obd_with(store, env, &UnitIds::raw(), path, key)
}

/// [`import_obd`] on a database that may pseudonymise: every unit id (and context) goes
/// through `ids` before it is stored, the event ids that name a unit included.
pub fn import_obd_with(
    store: &mut Store,
    env: &Env,
    ids: &UnitIds,
    path: &Path,
    key: Option<&str>,
) -> Result<ImportSummary> {
    let items = read_items(path)?;
    let key = key.map_or_else(|| default_key(path), str::to_string);
    let created = ensure_campaign(store, env, path, &key, &items)?;
    let source = path.display().to_string();
    let tag = source_tag(path);
    let mut summary = ImportSummary {
        source: source.clone(),
        campaign: key.clone(),
        created,
        ..ImportSummary::default()
    };
    let mut ingestor = Ingestor::new(store, &source, &env.actor, env.clock.now())?;
    summary.run = Some(ingestor.begin_run()?);
    let mut batch: Vec<(u64, String, std::result::Result<ObdRow, LineError>)> = Vec::new();
    for_each_row(path, &items, |line, raw, parsed| {
        batch.push((line, raw, parsed));
        if batch.len() == ROWS_PER_BATCH {
            apply_rows(&mut ingestor, ids, &key, &tag, &mut batch, &mut summary)?;
        }
        Ok(())
    })?;
    apply_rows(&mut ingestor, ids, &key, &tag, &mut batch, &mut summary)?;
    drop(ingestor);
    store.record_audit(
        env.clock.now(),
        &env.actor,
        "import.obd",
        Some(&key),
        &format!(
            "run {} from {source}",
            summary.run.map_or("-".into(), |id| id.to_string())
        ),
    )?;
    if created {
        // A log is history: stopped, so the allocation loop never learns on it or writes
        // periods into it (a stopped campaign still accepts a re-import of late rows).
        super::set_status(store, env, &key, Status::Stopped)?;
    }
    Ok(summary)
}

fn ensure_campaign(
    store: &mut Store,
    env: &Env,
    path: &Path,
    key: &str,
    items: &[i64],
) -> Result<bool> {
    match store.campaign(key) {
        Ok((campaign, arms)) => {
            if let Some(missing) = items
                .iter()
                .map(|i| arm_key(*i))
                .find(|k| !arms.iter().any(|a| &a.key == k))
            {
                return Err(AppError::Invalid(format!(
                    "campaign `{key}` has no arm `{missing}`: it was not made from this item set. \
                     Import into a new campaign with --campaign NEW-KEY"
                )));
            }
            if campaign.status == Status::Draft {
                return Err(AppError::Invalid(format!(
                    "campaign `{key}` is a draft; start it before importing logs into it"
                )));
            }
            Ok(false)
        }
        Err(StoreError::UnknownCampaign(_)) => {
            let spec = campaign_spec(path, key, items);
            super::create_campaign(store, env, &spec)?;
            super::set_status(store, env, key, Status::Running)?;
            Ok(true)
        }
        Err(e) => Err(e.into()),
    }
}

/// The campaign an import creates: one equally weighted arm per item, click as the metric and
/// the bandit's reward, and the logging policy the folder names (`random`, `bts`).
fn campaign_spec(path: &Path, key: &str, items: &[i64]) -> CampaignSpec {
    let policy_dir = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let policy = match policy_dir.as_str() {
        "random" => PolicyKind::Uniform,
        _ => PolicyKind::Thompson,
    };
    CampaignSpec {
        key: key.to_string(),
        name: format!("Open Bandit Dataset {}", source_tag(path)),
        kind: CampaignKind::Bandit,
        arms: items
            .iter()
            .map(|i| ArmSpec {
                key: arm_key(*i),
                weight: 1.0,
                offer: Offer::None,
            })
            .collect(),
        control: None,
        traffic: 1.0,
        metric: "click".into(),
        guardrails: vec![],
        custom_kinds: vec![],
        // Derived from the key, so the same import makes the same campaign.
        seed: key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }),
        settings: ReportSettings::default(),
        bandit: Some(BanditConfig {
            policy,
            reward: Some(RewardKind::Click),
            ..BanditConfig::default()
        }),
    }
}

/// Applies a batch of rows: their assignments (with the rows that did not parse, so those are
/// rejected by line), then the events of the rows whose assignment was stored or already there.
fn apply_rows(
    ingestor: &mut Ingestor<'_>,
    ids: &UnitIds,
    key: &str,
    tag: &str,
    batch: &mut Vec<(u64, String, std::result::Result<ObdRow, LineError>)>,
    summary: &mut ImportSummary,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let rows = std::mem::take(batch);
    summary.rows += rows.len() as u64;
    let unit = |r: &ObdRow| ids.stored(&format!("{tag}-{}", r.index)).into_owned();
    let mut assignments = Vec::with_capacity(rows.len());
    for (line, raw, parsed) in &rows {
        let parsed = match parsed {
            Err(e) => Err(e.clone()),
            // The unit is already the stored id; only the context is left to map.
            Ok(r) => assignment(key, &unit(r), r).map(|mut a| {
                ids.map_context(&mut a.context);
                Record::Assignment(a)
            }),
        };
        assignments.push(IngestItem {
            line: *line,
            // A row's user features are context: kept out of the rejects table when rules
            // keep them out of contexts.
            raw: if ids.redacts() {
                WITHHELD_LINE
            } else {
                raw.as_str()
            },
            parsed,
        });
    }
    let outcome = ingestor.apply(assignments)?;
    summary.imported += outcome.accepted;
    summary.duplicates += outcome.duplicates;
    let mut rejected: HashSet<u64> = HashSet::with_capacity(outcome.rejected.len());
    for (line, e) in outcome.rejected {
        rejected.insert(line);
        summary.rejected += 1;
        if summary.samples.len() < SAMPLE_REJECTS {
            summary.samples.push((line, e));
        }
    }
    let mut events = Vec::new();
    for (line, _, parsed) in &rows {
        let Ok(r) = parsed else { continue };
        if rejected.contains(line) {
            continue;
        }
        let unit = unit(r);
        let kinds: &[&str] = if r.click {
            &["exposure", "click"]
        } else {
            &["exposure"]
        };
        for kind in kinds {
            events.push(IngestItem {
                line: *line,
                raw: "",
                parsed: Ok(Record::Event(EventRecord {
                    event_id: format!("{key}:{unit}:{kind}"),
                    campaign: key.to_string(),
                    unit: unit.clone(),
                    kind: (*kind).to_string(),
                    value: 0.0,
                    cost: 0.0,
                    ts: r.ts,
                })),
            });
        }
    }
    let outcome = ingestor.apply(events)?;
    summary.events += outcome.accepted;
    for (line, e) in outcome.rejected {
        // Only reachable if the store refuses an event of a stored assignment; still counted.
        summary.rejected += 1;
        if summary.samples.len() < SAMPLE_REJECTS {
            summary.samples.push((line, e));
        }
    }
    Ok(())
}

fn assignment(
    key: &str,
    unit: &str,
    r: &ObdRow,
) -> std::result::Result<AssignmentRecord, LineError> {
    let mut context = serde_json::Map::new();
    context.insert("position".into(), r.position.into());
    for (name, value) in &r.user_features {
        context.insert(name.clone(), value.clone().into());
    }
    check_context(&context)?;
    Ok(AssignmentRecord {
        campaign: key.to_string(),
        unit: unit.to_string(),
        arm: arm_key(r.item),
        propensity: r.propensity,
        context,
        ts: r.ts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_units_come_from_the_folders() {
        let p = Path::new("/data/obd/men/random/men.csv");
        assert_eq!(default_key(p), "obd-men-random");
        assert_eq!(source_tag(p), "men-random");
        assert_eq!(default_key(Path::new("men.csv")), "obd-men");
        assert_eq!(default_key(Path::new("a b/x.csv")), "obd-a-b");
        assert_eq!(item_of_arm(&arm_key(33)), Some(33));
        assert_eq!(item_of_arm("control"), None);
    }
}
