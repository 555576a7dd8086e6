//! The fields both formats share, after format-specific decoding, and the checks on them:
//! required fields, timestamps, amounts within bounds, the covariate in a context, and a
//! timestamp against the ingest clock.

use super::{LineError, RejectReason};
use crate::clock::{format_rfc3339, parse_rfc3339};
use crate::domain::{AssignmentRecord, CampaignDefinition, EventRecord, Micros, Record};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The largest `value` or `cost` an event may carry, and the largest `|pre_value|` a context
/// may: 1e12 (a trillion in any currency). Bounding every input is what keeps the rollups
/// finite: a rollup sum is at most (events x MAX_AMOUNT)^2 <= (2^63 x 1e12)^2 ~ 1e62, far below
/// f64's 1.8e308, so no sequence of accepted lines can overflow one (`value_out_of_range`,
/// `bad_covariate` otherwise).
pub const MAX_AMOUNT: f64 = 1e12;

/// How `MAX_AMOUNT` is written in messages and the README.
const MAX_AMOUNT_TEXT: &str = "1e12";

/// A line ready for the store: like `Record`, but an assignment keeps its context as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestRecord {
    Campaign(Box<CampaignDefinition>),
    Assignment(AssignmentLine),
    Event(EventRecord),
}

/// An assignment line as ingest stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentLine {
    pub campaign: String,
    pub unit: String,
    pub arm: String,
    /// `None` when the line omits it: allowed only for an observational campaign, which ingest
    /// checks once it knows the campaign (the line format does not).
    pub propensity: Option<f64>,
    /// A JSON object: the line's own text where that reads the same as the parsed object
    /// (see `context_text`), else the object re-serialised.
    pub context: String,
    /// `AssignmentRecord::pre_value` of the same context.
    pub pre_value: Option<f64>,
    pub ts: Micros,
}

impl From<Record> for IngestRecord {
    fn from(r: Record) -> IngestRecord {
        match r {
            Record::Campaign(c) => IngestRecord::Campaign(c),
            Record::Event(e) => IngestRecord::Event(e),
            Record::Assignment(a) => {
                let pre_value = a.pre_value();
                IngestRecord::Assignment(AssignmentLine {
                    campaign: a.campaign,
                    unit: a.unit,
                    arm: a.arm,
                    propensity: Some(a.propensity),
                    context: Value::Object(a.context).to_string(),
                    pre_value,
                    ts: a.ts,
                })
            }
        }
    }
}

impl From<IngestRecord> for Record {
    fn from(r: IngestRecord) -> Record {
        match r {
            IngestRecord::Campaign(c) => Record::Campaign(c),
            IngestRecord::Event(e) => Record::Event(e),
            IngestRecord::Assignment(a) => Record::Assignment(AssignmentRecord {
                campaign: a.campaign,
                unit: a.unit,
                arm: a.arm,
                // What ingest stores for an observational line without one (see the README).
                propensity: a.propensity.unwrap_or(1.0),
                // `context_text` only lets through text that parses as an object.
                context: serde_json::from_str(&a.context).unwrap_or_default(),
                ts: a.ts,
            }),
        }
    }
}

/// Fields common to both formats, after the format-specific decoding.
pub(super) struct Fields<'a> {
    pub ty: Option<Cow<'a, str>>,
    pub event_id: Option<Cow<'a, str>>,
    pub campaign: Option<Cow<'a, str>>,
    pub unit: Option<Cow<'a, str>>,
    pub arm: Option<Cow<'a, str>>,
    pub propensity: Option<f64>,
    /// Text to store and the `pre_value` read from it (or why it is not a covariate).
    pub context: Option<(String, Result<Option<f64>, LineError>)>,
    pub kind: Option<Cow<'a, str>>,
    pub value: Option<f64>,
    pub cost: Option<f64>,
    pub ts: Option<Cow<'a, str>>,
}

fn required<'a>(v: Option<Cow<'a, str>>, name: &str) -> Result<Cow<'a, str>, LineError> {
    match v {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(LineError::new(
            RejectReason::MissingField,
            format!("missing field `{name}`"),
        )),
    }
}

fn timestamp(v: Option<Cow<'_, str>>) -> Result<Micros, LineError> {
    let s = required(v, "ts")?;
    parse_rfc3339(&s).ok_or_else(|| {
        LineError::new(
            RejectReason::BadTimestamp,
            format!("field `ts`: `{s}` is not an RFC 3339 timestamp (e.g. 2026-11-01T12:00:00Z)"),
        )
    })
}

fn amount(v: Option<f64>, name: &str) -> Result<f64, LineError> {
    let x = v.unwrap_or(0.0);
    if !x.is_finite() {
        return Err(LineError::new(
            RejectReason::NonFiniteValue,
            format!("field `{name}` must be finite"),
        ));
    }
    if x < 0.0 {
        return Err(LineError::new(
            RejectReason::NegativeValue,
            format!("field `{name}` must not be negative, got {x}"),
        ));
    }
    if x > MAX_AMOUNT {
        return Err(LineError::new(
            RejectReason::ValueOutOfRange,
            format!("field `{name}` must be at most {MAX_AMOUNT_TEXT}, got {x:e}"),
        ));
    }
    Ok(x)
}

pub(super) fn from_fields(f: Fields<'_>) -> Result<IngestRecord, LineError> {
    let ty = required(f.ty, "type")?;
    match ty.as_ref() {
        "assignment" => {
            let campaign = required(f.campaign, "campaign")?.into_owned();
            let unit = required(f.unit, "unit")?.into_owned();
            let arm = required(f.arm, "arm")?.into_owned();
            // Optional here: whether it is required depends on the campaign's kind, which
            // ingest knows (`store::batch`); a value given must still be a probability.
            let propensity = f.propensity;
            if let Some(p) = propensity.filter(|p| !(p.is_finite() && *p > 0.0 && *p <= 1.0)) {
                return Err(LineError::new(
                    RejectReason::BadPropensity,
                    format!("field `propensity` must be in (0, 1], got {p}"),
                ));
            }
            let ts = timestamp(f.ts)?;
            let (context, pre_value) = match f.context {
                None => ("{}".to_owned(), None),
                Some((text, covariate)) => (text, covariate?),
            };
            Ok(IngestRecord::Assignment(AssignmentLine {
                campaign,
                unit,
                arm,
                propensity,
                context,
                pre_value,
                ts,
            }))
        }
        "event" => {
            let event_id = required(f.event_id, "event_id")?.into_owned();
            let campaign = required(f.campaign, "campaign")?.into_owned();
            let unit = required(f.unit, "unit")?.into_owned();
            let kind = required(f.kind, "kind")?.into_owned();
            let value = amount(f.value, "value")?;
            let cost = amount(f.cost, "cost")?;
            let ts = timestamp(f.ts)?;
            Ok(IngestRecord::Event(EventRecord {
                event_id,
                campaign,
                unit,
                kind,
                value,
                cost,
                ts,
            }))
        }
        other => Err(LineError::new(
            RejectReason::UnknownType,
            format!("field `type`: `{other}` is not assignment, event or campaign"),
        )),
    }
}

/// The CUPED covariate of a context: its `pre_value`, which must be a number within
/// `MAX_AMOUNT` when present (`null` counts as absent). A string, boolean, array or object is
/// refused rather than silently dropped, because `verify`'s SQL would count it.
pub fn covariate(v: Option<&Value>) -> Result<Option<f64>, LineError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() && x.abs() <= MAX_AMOUNT => Ok(Some(x)),
            _ => Err(LineError::new(
                RejectReason::BadCovariate,
                format!("context field `pre_value` must be within ±{MAX_AMOUNT_TEXT}, got {n}"),
            )),
        },
        Some(other) => Err(LineError::new(
            RejectReason::BadCovariate,
            format!(
                "context field `pre_value` must be a number, got {}",
                type_name(other)
            ),
        )),
    }
}

/// Checks a whole context the way ingest does (`assign --context` calls this); returns its
/// covariate.
pub fn check_context(context: &Map<String, Value>) -> Result<Option<f64>, LineError> {
    covariate(context.get("pre_value"))
}

/// Refuses an assignment or event stamped more than `tolerance` after `now` (the ingest
/// clock): one line from year 9999 would otherwise make every campaign look fresh forever.
pub fn check_not_future(
    record: &IngestRecord,
    now: Micros,
    tolerance: Micros,
) -> Result<(), LineError> {
    let ts = match record {
        IngestRecord::Assignment(a) => a.ts,
        IngestRecord::Event(e) => e.ts,
        IngestRecord::Campaign(_) => return Ok(()),
    };
    if ts > now.saturating_add(tolerance) {
        return Err(LineError::new(
            RejectReason::FutureTimestamp,
            format!(
                "field `ts`: {} is more than {} ahead of the ingest clock ({}); \
                 fix the sender's clock or raise --max-future",
                format_rfc3339(ts),
                duration_text(tolerance),
                format_rfc3339(now)
            ),
        ));
    }
    Ok(())
}

/// `24h`, `90m`, `45s` or `1500us`: the largest unit that divides the duration.
fn duration_text(us: Micros) -> String {
    const S: Micros = 1_000_000;
    if us % (3_600 * S) == 0 {
        format!("{}h", us / (3_600 * S))
    } else if us % (60 * S) == 0 {
        format!("{}m", us / (60 * S))
    } else if us % S == 0 {
        format!("{}s", us / S)
    } else {
        format!("{us}us")
    }
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
