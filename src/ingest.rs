//! Line formats: parsing JSON lines and CSV rows into records, and writing records back out.
//!
//! Pure: no database, no clock. Shape checks happen here (malformed line, missing or mistyped
//! field, bad timestamp, negative value...); checks that need the store (unknown campaign, arm,
//! unassigned unit, unknown kind) happen in `store::ingest` and share the `RejectReason` codes.

use crate::clock::{format_rfc3339, parse_rfc3339};
use crate::domain::{AssignmentRecord, CampaignDefinition, EventRecord, Micros, Record};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// Why a line was rejected. The code is stable (stored in the rejects table, matched by tests);
/// the detail names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    Malformed,
    MissingField,
    WrongType,
    UnknownType,
    BadTimestamp,
    NegativeValue,
    NonFiniteValue,
    BadPropensity,
    UnknownCampaign,
    UnknownArm,
    UnassignedUnit,
    UnknownKind,
    CampaignNotStarted,
    ConflictingAssignment,
    CampaignMismatch,
    BadCampaign,
}

impl RejectReason {
    pub fn code(self) -> &'static str {
        use RejectReason::*;
        match self {
            Malformed => "malformed",
            MissingField => "missing_field",
            WrongType => "wrong_type",
            UnknownType => "unknown_type",
            BadTimestamp => "bad_timestamp",
            NegativeValue => "negative_value",
            NonFiniteValue => "non_finite_value",
            BadPropensity => "bad_propensity",
            UnknownCampaign => "unknown_campaign",
            UnknownArm => "unknown_arm",
            UnassignedUnit => "unassigned_unit",
            UnknownKind => "unknown_kind",
            CampaignNotStarted => "campaign_not_started",
            ConflictingAssignment => "conflicting_assignment",
            CampaignMismatch => "campaign_mismatch",
            BadCampaign => "bad_campaign",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineError {
    pub reason: RejectReason,
    pub detail: String,
}

impl LineError {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> LineError {
        LineError {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.detail, self.reason.code())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

/// The fast path: a typed, borrowing view of a line. Numbers that arrive as the wrong JSON type
/// make this fail, and `explain_json` then names the field.
#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    campaign: Option<Cow<'a, str>>,
    #[serde(borrow)]
    unit: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arm: Option<Cow<'a, str>>,
    propensity: Option<f64>,
    context: Option<Map<String, Value>>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    value: Option<f64>,
    cost: Option<f64>,
    #[serde(borrow)]
    ts: Option<Cow<'a, str>>,
}

/// Parses one JSON line.
pub fn parse_json_line(line: &str) -> Result<Record, LineError> {
    let trimmed = line.trim();
    match serde_json::from_str::<RawLine<'_>>(trimmed) {
        // Campaign lines are rare (one per export) and carry nested arms: parse them whole.
        Ok(raw) if raw.ty.as_deref() == Some("campaign") => match serde_json::from_str(trimmed) {
            Ok(v) => parse_campaign(v),
            Err(e) => Err(LineError::new(
                RejectReason::Malformed,
                format!("malformed JSON: {e}"),
            )),
        },
        Ok(raw) => from_fields(Fields {
            ty: raw.ty,
            event_id: raw.event_id,
            campaign: raw.campaign,
            unit: raw.unit,
            arm: raw.arm,
            propensity: raw.propensity,
            context: raw.context,
            kind: raw.kind,
            value: raw.value,
            cost: raw.cost,
            ts: raw.ts,
        }),
        Err(_) => Err(explain_json(trimmed)),
    }
}

fn parse_campaign(v: Value) -> Result<Record, LineError> {
    let def: CampaignDefinition = serde_json::from_value(v).map_err(|e| {
        LineError::new(
            RejectReason::BadCampaign,
            format!("campaign line is not a valid definition: {e}"),
        )
    })?;
    def.spec
        .validate()
        .map_err(|e| LineError::new(RejectReason::BadCampaign, e))?;
    Ok(Record::Campaign(Box::new(def)))
}

/// The slow path for lines the typed view refused: say exactly what is wrong.
fn explain_json(line: &str) -> LineError {
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return LineError::new(RejectReason::Malformed, format!("malformed JSON: {e}"));
        }
    };
    if value.get("type").and_then(Value::as_str) == Some("campaign") {
        return match parse_campaign(value) {
            Err(e) => e,
            Ok(_) => LineError::new(RejectReason::BadCampaign, "campaign line could not be read"),
        };
    }
    let Value::Object(obj) = value else {
        return LineError::new(RejectReason::Malformed, "line is not a JSON object");
    };
    let strings = ["type", "event_id", "campaign", "unit", "arm", "kind", "ts"];
    let numbers = ["propensity", "value", "cost"];
    for (name, v) in &obj {
        let ok = if strings.contains(&name.as_str()) {
            v.is_string() || v.is_null()
        } else if numbers.contains(&name.as_str()) {
            v.is_number() || v.is_null()
        } else if name == "context" {
            v.is_object() || v.is_null()
        } else {
            true
        };
        if !ok {
            let expected = if name == "context" {
                "an object"
            } else if numbers.contains(&name.as_str()) {
                "a number"
            } else {
                "a string"
            };
            return LineError::new(
                RejectReason::WrongType,
                format!("field `{name}` must be {expected}, got {}", type_name(v)),
            );
        }
    }
    LineError::new(RejectReason::Malformed, "line could not be read")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Fields common to both formats, after the format-specific decoding.
struct Fields<'a> {
    ty: Option<Cow<'a, str>>,
    event_id: Option<Cow<'a, str>>,
    campaign: Option<Cow<'a, str>>,
    unit: Option<Cow<'a, str>>,
    arm: Option<Cow<'a, str>>,
    propensity: Option<f64>,
    context: Option<Map<String, Value>>,
    kind: Option<Cow<'a, str>>,
    value: Option<f64>,
    cost: Option<f64>,
    ts: Option<Cow<'a, str>>,
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
    Ok(x)
}

fn from_fields(f: Fields<'_>) -> Result<Record, LineError> {
    let ty = required(f.ty, "type")?;
    match ty.as_ref() {
        "assignment" => {
            let campaign = required(f.campaign, "campaign")?.into_owned();
            let unit = required(f.unit, "unit")?.into_owned();
            let arm = required(f.arm, "arm")?.into_owned();
            let propensity = f.propensity.ok_or_else(|| {
                LineError::new(RejectReason::MissingField, "missing field `propensity`")
            })?;
            if !(propensity.is_finite() && propensity > 0.0 && propensity <= 1.0) {
                return Err(LineError::new(
                    RejectReason::BadPropensity,
                    format!("field `propensity` must be in (0, 1], got {propensity}"),
                ));
            }
            let ts = timestamp(f.ts)?;
            Ok(Record::Assignment(AssignmentRecord {
                campaign,
                unit,
                arm,
                propensity,
                context: f.context.unwrap_or_default(),
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
            Ok(Record::Event(EventRecord {
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

/// The CSV header liftdeck writes and reads (extra columns are ignored; missing ones are
/// treated as empty). `context` and `definition` hold JSON objects.
pub const CSV_HEADER: [&str; 12] = [
    "type",
    "event_id",
    "campaign",
    "unit",
    "arm",
    "propensity",
    "context",
    "kind",
    "value",
    "cost",
    "ts",
    "definition",
];

/// Maps a CSV header to field positions once per file.
pub struct CsvLayout {
    index: [Option<usize>; CSV_HEADER.len()],
}

impl CsvLayout {
    pub fn from_header(header: &csv::StringRecord) -> Result<CsvLayout, LineError> {
        let mut index = [None; CSV_HEADER.len()];
        for (pos, name) in header.iter().enumerate() {
            if let Some(slot) = CSV_HEADER.iter().position(|h| *h == name.trim()) {
                index[slot] = Some(pos);
            }
        }
        if index[0].is_none() {
            return Err(LineError::new(
                RejectReason::MissingField,
                "CSV header has no `type` column",
            ));
        }
        Ok(CsvLayout { index })
    }

    fn get<'r>(&self, rec: &'r csv::StringRecord, name: &str) -> Option<&'r str> {
        let slot = CSV_HEADER.iter().position(|h| *h == name)?;
        let s = rec.get(self.index[slot]?)?.trim();
        (!s.is_empty()).then_some(s)
    }

    fn number(&self, rec: &csv::StringRecord, name: &str) -> Result<Option<f64>, LineError> {
        match self.get(rec, name) {
            None => Ok(None),
            Some(s) => s.parse::<f64>().map(Some).map_err(|_| {
                LineError::new(
                    RejectReason::WrongType,
                    format!("field `{name}` must be a number, got `{s}`"),
                )
            }),
        }
    }

    /// Parses one CSV record.
    pub fn parse(&self, rec: &csv::StringRecord) -> Result<Record, LineError> {
        if self.get(rec, "type") == Some("campaign") {
            let def = self.get(rec, "definition").ok_or_else(|| {
                LineError::new(RejectReason::MissingField, "missing field `definition`")
            })?;
            let v: Value = serde_json::from_str(def).map_err(|e| {
                LineError::new(
                    RejectReason::Malformed,
                    format!("field `definition` is not JSON: {e}"),
                )
            })?;
            return parse_campaign(v);
        }
        let context = match self.get(rec, "context") {
            None => None,
            Some(s) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => Some(m),
                _ => {
                    return Err(LineError::new(
                        RejectReason::WrongType,
                        "field `context` must be a JSON object",
                    ))
                }
            },
        };
        let s = |name: &str| self.get(rec, name).map(Cow::Borrowed);
        from_fields(Fields {
            ty: s("type"),
            event_id: s("event_id"),
            campaign: s("campaign"),
            unit: s("unit"),
            arm: s("arm"),
            propensity: self.number(rec, "propensity")?,
            context,
            kind: s("kind"),
            value: self.number(rec, "value")?,
            cost: self.number(rec, "cost")?,
            ts: s("ts"),
        })
    }
}

/// One record as a JSON line (no trailing newline).
pub fn to_json_line(record: &Record) -> String {
    let v = match record {
        Record::Campaign(def) => {
            let mut v = serde_json::to_value(def.as_ref()).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("type".into(), Value::from("campaign"));
            }
            v
        }
        Record::Assignment(a) => serde_json::json!({
            "type": "assignment", "campaign": a.campaign, "unit": a.unit, "arm": a.arm,
            "propensity": a.propensity, "context": a.context, "ts": format_rfc3339(a.ts),
        }),
        Record::Event(e) => serde_json::json!({
            "type": "event", "event_id": e.event_id, "campaign": e.campaign, "unit": e.unit,
            "kind": e.kind, "value": e.value, "cost": e.cost, "ts": format_rfc3339(e.ts),
        }),
    };
    v.to_string()
}

/// One record as CSV fields in `CSV_HEADER` order.
pub fn to_csv_fields(record: &Record) -> [String; CSV_HEADER.len()] {
    let mut out: [String; CSV_HEADER.len()] = Default::default();
    match record {
        Record::Campaign(def) => {
            out[0] = "campaign".into();
            out[2] = def.spec.key.clone();
            out[11] = serde_json::to_string(def.as_ref()).unwrap_or_default();
        }
        Record::Assignment(a) => {
            out[0] = "assignment".into();
            out[2] = a.campaign.clone();
            out[3] = a.unit.clone();
            out[4] = a.arm.clone();
            out[5] = a.propensity.to_string();
            out[6] = Value::Object(a.context.clone()).to_string();
            out[10] = format_rfc3339(a.ts);
        }
        Record::Event(e) => {
            out[0] = "event".into();
            out[1] = e.event_id.clone();
            out[2] = e.campaign.clone();
            out[3] = e.unit.clone();
            out[7] = e.kind.clone();
            out[8] = e.value.to_string();
            out[9] = e.cost.to_string();
            out[10] = format_rfc3339(e.ts);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(line: &str) -> RejectReason {
        parse_json_line(line).expect_err("should reject").reason
    }

    #[test]
    fn reads_the_design_examples() {
        let a = parse_json_line(
            r#"{"type":"assignment","campaign":"coupon-10","unit":"u-42","arm":"coupon","propensity":0.5,
 "context":{"device":"mobile","segment":"returning","pre_value":12.5},"ts":"2026-11-01T12:00:00Z"}"#,
        )
        .expect("valid");
        match a {
            Record::Assignment(a) => {
                assert_eq!(a.pre_value(), Some(12.5));
                assert_eq!(a.arm, "coupon");
            }
            other => panic!("{other:?}"),
        }
        let e = parse_json_line(
            r#"{"type":"event","event_id":"e-981","campaign":"coupon-10","unit":"u-42","kind":"purchase","value":35.5,"cost":3.0,"ts":"2026-11-01T12:03:10Z"}"#,
        )
        .expect("valid");
        assert!(matches!(e, Record::Event(ref e) if e.value == 35.5 && e.cost == 3.0));
        assert_eq!(parse_json_line(&to_json_line(&e)), Ok(e));
    }

    #[test]
    fn names_the_reason_and_field() {
        assert_eq!(reason("{not json"), RejectReason::Malformed);
        assert_eq!(reason("[1,2]"), RejectReason::Malformed);
        let e = parse_json_line(r#"{"type":"event","event_id":"e","campaign":"c","kind":"click","ts":"2026-11-01T12:00:00Z"}"#)
            .expect_err("no unit");
        assert_eq!(e.reason, RejectReason::MissingField);
        assert_eq!(e.detail, "missing field `unit`");
        let e = parse_json_line(r#"{"type":"event","event_id":"e","campaign":"c","unit":"u","kind":"click","value":"12","ts":"2026-11-01T12:00:00Z"}"#)
            .expect_err("string value");
        assert_eq!(e.reason, RejectReason::WrongType);
        assert!(e.detail.contains("`value`"), "{}", e.detail);
        assert_eq!(
            reason(
                r#"{"type":"event","event_id":"e","campaign":"c","unit":"u","kind":"click","value":-1,"ts":"2026-11-01T12:00:00Z"}"#
            ),
            RejectReason::NegativeValue
        );
        assert_eq!(
            reason(
                r#"{"type":"event","event_id":"e","campaign":"c","unit":"u","kind":"click","ts":"yesterday"}"#
            ),
            RejectReason::BadTimestamp
        );
        assert_eq!(
            reason(
                r#"{"type":"assignment","campaign":"c","unit":"u","arm":"a","propensity":1.5,"ts":"2026-11-01T12:00:00Z"}"#
            ),
            RejectReason::BadPropensity
        );
        assert_eq!(reason(r#"{"type":"refund"}"#), RejectReason::UnknownType);
    }
}
