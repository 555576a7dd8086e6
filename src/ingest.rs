//! Line formats: parsing JSON lines and CSV rows into records, and writing records back out.
//!
//! Pure: no database, no clock. Shape checks happen here (malformed line, missing or mistyped
//! field, bad timestamp, negative value...); checks that need the store (unknown campaign, arm,
//! unassigned unit, unknown kind) happen in `store::ingest` and share the `RejectReason` codes.

use crate::clock::{format_rfc3339, parse_rfc3339};
use crate::domain::{AssignmentRecord, CampaignDefinition, EventRecord, Micros, Record};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
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
    /// Kept as text: ingest stores it verbatim and only needs `pre_value` out of it.
    #[serde(borrow)]
    context: Option<&'a RawValue>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    value: Option<f64>,
    cost: Option<f64>,
    #[serde(borrow)]
    ts: Option<Cow<'a, str>>,
}

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
    pub propensity: f64,
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
                    propensity: a.propensity,
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
                propensity: a.propensity,
                // `context_text` only lets through text that parses as an object.
                context: serde_json::from_str(&a.context).unwrap_or_default(),
                ts: a.ts,
            }),
        }
    }
}

/// Parses one JSON line.
pub fn parse_json_line(line: &str) -> Result<Record, LineError> {
    read_json_line(line).map(Record::from)
}

/// Parses one JSON line for ingest: the context stays text.
pub fn read_json_line(line: &str) -> Result<IngestRecord, LineError> {
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
            context: match raw.context {
                None => None,
                Some(text) => match context_text(text.get()) {
                    Some(c) => Some(c),
                    // Not an object, or not one serde_json reads: let the slow path say which.
                    None => return Err(explain_json(trimmed)),
                },
            },
            ty: raw.ty,
            event_id: raw.event_id,
            campaign: raw.campaign,
            unit: raw.unit,
            arm: raw.arm,
            propensity: raw.propensity,
            kind: raw.kind,
            value: raw.value,
            cost: raw.cost,
            ts: raw.ts,
        }),
        Err(_) => Err(explain_json(trimmed)),
    }
}

fn parse_campaign(v: Value) -> Result<IngestRecord, LineError> {
    let def: CampaignDefinition = serde_json::from_value(v).map_err(|e| {
        LineError::new(
            RejectReason::BadCampaign,
            format!("campaign line is not a valid definition: {e}"),
        )
    })?;
    def.spec
        .validate()
        .map_err(|e| LineError::new(RejectReason::BadCampaign, e))?;
    Ok(IngestRecord::Campaign(Box::new(def)))
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
    /// Text to store and the `pre_value` read from it.
    context: Option<(String, Option<f64>)>,
    kind: Option<Cow<'a, str>>,
    value: Option<f64>,
    cost: Option<f64>,
    ts: Option<Cow<'a, str>>,
}

/// Checks that `text` is one JSON object that serde_json reads (the same checks, number
/// ranges included, as parsing it into a `Map`) and returns the text to store with its
/// `pre_value`, without building the map. The text is stored verbatim unless a key repeats in
/// some object or is escaped: then a `Map` would keep the last duplicate while SQLite's
/// `json_extract` (used by reports and `verify`) reads the first, so such a context is stored
/// re-serialised from the `Map`, exactly as before.
fn context_text(text: &str) -> Option<(String, Option<f64>)> {
    let mut de = serde_json::Deserializer::from_str(text);
    let probe = de.deserialize_map(ContextVisitor).ok()?;
    de.end().ok()?;
    if probe.canonical {
        let map: Map<String, Value> = serde_json::from_str(text).ok()?;
        let pre_value = pre_value_of(map.get("pre_value"));
        return Some((Value::Object(map).to_string(), pre_value));
    }
    Some((text.to_owned(), probe.pre_value))
}

/// `AssignmentRecord::pre_value`, on one value.
fn pre_value_of(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).filter(|x| x.is_finite())
}

struct ContextProbe {
    pre_value: Option<f64>,
    /// Store the re-serialised map, not the text (a repeated or escaped key somewhere).
    canonical: bool,
}

/// The keys of one object, to spot repeats without allocating; past `KEYS` keys the object
/// counts as canonical-only (correct, just slower).
const KEYS: usize = 16;

#[derive(Default)]
struct KeySet<'de> {
    keys: [&'de str; KEYS],
    len: usize,
}

impl<'de> KeySet<'de> {
    /// False when the key repeats, is escaped (`None`), or does not fit.
    fn insert(&mut self, key: Option<&'de str>) -> bool {
        let Some(key) = key else { return false };
        if self.len == KEYS || self.keys[..self.len].contains(&key) {
            return false;
        }
        self.keys[self.len] = key;
        self.len += 1;
        true
    }
}

/// An object key: borrowed from the input, or `None` when it had escapes.
struct Key<'de>(Option<&'de str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Some(v)))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Key<'de>, E> {
                Ok(Key(None))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

struct ContextVisitor;

impl<'de> Visitor<'de> for ContextVisitor {
    type Value = ContextProbe;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ContextProbe, A::Error> {
        let mut keys = KeySet::default();
        let mut probe = ContextProbe {
            pre_value: None,
            canonical: false,
        };
        while let Some(Key(key)) = map.next_key()? {
            probe.canonical |= !keys.insert(key);
            if key == Some("pre_value") {
                probe.pre_value = pre_value_of(Some(&map.next_value::<Value>()?));
            } else {
                probe.canonical |= map.next_value::<Checked>()?.0;
            }
        }
        Ok(probe)
    }
}

/// Any JSON value, read in full (so serde_json checks it as `Value` would) but not kept;
/// `true` when an object inside has a repeated or escaped key.
struct Checked(bool);

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked(false))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked(false))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked(false))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked(false))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked(false))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked(false))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        let mut canonical = false;
        while let Some(Checked(c)) = seq.next_element()? {
            canonical |= c;
        }
        Ok(Checked(canonical))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let mut keys = KeySet::default();
        let mut canonical = false;
        while let Some(Key(key)) = map.next_key()? {
            canonical |= !keys.insert(key);
            canonical |= map.next_value::<Checked>()?.0;
        }
        Ok(Checked(canonical))
    }
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

fn from_fields(f: Fields<'_>) -> Result<IngestRecord, LineError> {
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
            let (context, pre_value) = f.context.unwrap_or_else(|| ("{}".to_owned(), None));
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
        self.read(rec).map(Record::from)
    }

    /// Parses one CSV record for ingest: the context stays text.
    pub fn read(&self, rec: &csv::StringRecord) -> Result<IngestRecord, LineError> {
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
            Some(s) => match context_text(s) {
                Some(c) => Some(c),
                None => {
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

    fn assignment(context: &str) -> Result<AssignmentLine, LineError> {
        let line = format!(
            r#"{{"type":"assignment","campaign":"c","unit":"u","arm":"a","propensity":0.5,"context":{context},"ts":"2026-11-01T12:00:00Z"}}"#
        );
        match read_json_line(&line)? {
            IngestRecord::Assignment(a) => Ok(a),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn context_is_kept_verbatim_with_the_same_pre_value_as_the_map() {
        let text = r#"{"segment":"new","pre_value":12.5,"tags":["a",{"b":1}],"device":"mobile"}"#;
        let a = assignment(text).expect("valid");
        assert_eq!(a.context, text);
        assert_eq!(a.pre_value, Some(12.5));
        for (context, x) in [
            (r#"{"pre_value":"12"}"#, None),
            (r#"{"pre_value":null}"#, None),
            (r#"{"pre_value":7}"#, Some(7.0)),
            (r#"{}"#, None),
            ("null", None),
        ] {
            let a = assignment(context).expect("valid");
            assert_eq!(a.pre_value, x, "{context}");
            let old: Record = IngestRecord::Assignment(a.clone()).into();
            let Record::Assignment(old) = old else {
                panic!("not an assignment")
            };
            assert_eq!(old.pre_value(), x, "{context}");
        }
        assert_eq!(assignment("null").expect("valid").context, "{}");
    }

    #[test]
    fn repeated_or_escaped_keys_store_the_map_as_before() {
        // A map keeps the last of repeated keys; storing the text would let SQLite read the
        // first.
        let a = assignment(r#"{"pre_value":1,"device":"x","pre_value":2}"#).expect("valid");
        assert_eq!(a.context, r#"{"device":"x","pre_value":2}"#);
        assert_eq!(a.pre_value, Some(2.0));
        let a = assignment(r#"{"n":{"k":1,"k":2}}"#).expect("valid");
        assert_eq!(a.context, r#"{"n":{"k":2}}"#);
        let a = assignment(r#"{"pre_\u0076alue":3}"#).expect("valid");
        assert_eq!(a.context, r#"{"pre_value":3}"#);
        assert_eq!(a.pre_value, Some(3.0));
    }

    #[test]
    fn a_bad_context_is_named_as_before() {
        let e = assignment(r#""mobile""#).expect_err("string context");
        assert_eq!(e.reason, RejectReason::WrongType);
        assert_eq!(e.detail, "field `context` must be an object, got a string");
        let e = assignment(r#"{"x":1e400}"#).expect_err("out of range");
        assert_eq!(e.reason, RejectReason::Malformed);
        assert!(e.detail.starts_with("malformed JSON"), "{}", e.detail);
    }
}
