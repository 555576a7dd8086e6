//! JSON lines: the fast typed view of a line, the slow path that names what is wrong, and the
//! context check that keeps an assignment's context as received text.

use super::fields::{covariate, from_fields, type_name, Fields, IngestRecord};
use super::{LineError, RejectReason};
use crate::domain::{CampaignDefinition, Record};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

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

pub(super) fn parse_campaign(v: Value) -> Result<IngestRecord, LineError> {
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

/// Checks that `text` is one JSON object that serde_json reads (the same checks, number
/// ranges included, as parsing it into a `Map`) and returns the text to store with its
/// `pre_value`, without building the map. The text is stored verbatim unless a key repeats in
/// some object or is escaped: then a `Map` would keep the last duplicate while SQLite's
/// `json_extract` (used by reports and `verify`) reads the first, so such a context is stored
/// re-serialised from the `Map`, exactly as before.
pub(super) fn context_text(text: &str) -> Option<(String, Result<Option<f64>, LineError>)> {
    let mut de = serde_json::Deserializer::from_str(text);
    let probe = de.deserialize_map(ContextVisitor).ok()?;
    de.end().ok()?;
    if probe.canonical {
        let map: Map<String, Value> = serde_json::from_str(text).ok()?;
        let pre_value = covariate(map.get("pre_value"));
        return Some((Value::Object(map).to_string(), pre_value));
    }
    Some((text.to_owned(), probe.pre_value))
}

struct ContextProbe {
    /// The covariate, or why `pre_value` is not one (the last one read, as a `Map` keeps).
    pre_value: Result<Option<f64>, LineError>,
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
            pre_value: Ok(None),
            canonical: false,
        };
        while let Some(Key(key)) = map.next_key()? {
            probe.canonical |= !keys.insert(key);
            if key == Some("pre_value") {
                probe.pre_value = covariate(Some(&map.next_value::<Value>()?));
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

#[cfg(test)]
mod tests {
    use super::super::{check_context, check_not_future, to_json_line, AssignmentLine};
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
            (r#"{"pre_value":null}"#, None),
            (r#"{"pre_value":7}"#, Some(7.0)),
            (r#"{"pre_value":-1e12}"#, Some(-1e12)),
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
    fn a_pre_value_that_is_not_a_number_is_a_bad_covariate() {
        for context in [
            r#"{"pre_value":"12"}"#,
            r#"{"pre_value":true}"#,
            r#"{"pre_value":[1]}"#,
            r#"{"pre_value":{"x":1}}"#,
            r#"{"pre_value":1e13}"#,
            r#"{"pre_value":1,"pre_value":"12"}"#,
        ] {
            let e = assignment(context).expect_err(context);
            assert_eq!(e.reason, RejectReason::BadCovariate, "{context}: {e}");
            assert!(e.detail.contains("`pre_value`"), "{}", e.detail);
            let map: Map<String, Value> = serde_json::from_str(context).expect("object");
            assert_eq!(
                check_context(&map).map_err(|e| e.reason),
                Err(RejectReason::BadCovariate),
                "{context}"
            );
        }
        // Repeated keys read as a `Map` does: the last one wins.
        assert_eq!(
            assignment(r#"{"pre_value":"12","pre_value":3}"#)
                .expect("last is a number")
                .pre_value,
            Some(3.0)
        );
        // A context on an event line is not read, so it cannot be a bad covariate.
        let e = read_json_line(
            r#"{"type":"event","event_id":"e","campaign":"c","unit":"u","kind":"click","context":{"pre_value":"x"},"ts":"2026-11-01T12:00:00Z"}"#,
        );
        assert!(e.is_ok(), "{e:?}");
    }

    #[test]
    fn amounts_above_the_bound_are_out_of_range() {
        let event = |value: &str| {
            read_json_line(&format!(
                r#"{{"type":"event","event_id":"e","campaign":"c","unit":"u","kind":"purchase","value":{value},"cost":1,"ts":"2026-11-01T12:00:00Z"}}"#
            ))
        };
        assert!(event("1e12").is_ok());
        for v in ["1.0000001e12", "1e308", "1.7976931348623157e308"] {
            let e = event(v).expect_err(v);
            assert_eq!(e.reason, RejectReason::ValueOutOfRange, "{v}");
            assert!(
                e.detail.contains("field `value` must be at most 1e12"),
                "{}",
                e.detail
            );
        }
        let e = read_json_line(
            r#"{"type":"event","event_id":"e","campaign":"c","unit":"u","kind":"purchase","cost":1e300,"ts":"2026-11-01T12:00:00Z"}"#,
        )
        .expect_err("cost");
        assert_eq!(e.reason, RejectReason::ValueOutOfRange);
        assert!(e.detail.contains("`cost`"), "{}", e.detail);
    }

    #[test]
    fn a_timestamp_ahead_of_the_clock_beyond_the_tolerance_is_refused() {
        let now = crate::clock::parse_rfc3339("2026-11-01T12:00:00Z").expect("ts");
        let hour = 3_600_000_000;
        let at = |ts: &str| {
            read_json_line(&format!(
                r#"{{"type":"assignment","campaign":"c","unit":"u","arm":"a","propensity":0.5,"ts":"{ts}"}}"#
            ))
            .expect("valid")
        };
        assert_eq!(
            check_not_future(&at("2026-11-02T12:00:00Z"), now, 24 * hour),
            Ok(())
        );
        let e = check_not_future(&at("2026-11-02T12:00:01Z"), now, 24 * hour)
            .expect_err("a second too far");
        assert_eq!(e.reason, RejectReason::FutureTimestamp);
        assert!(e.detail.contains("more than 24h ahead"), "{}", e.detail);
        let far = at("9999-12-31T23:59:59Z");
        assert!(check_not_future(&far, now, i64::MAX).is_ok(), "no overflow");
        assert!(check_not_future(&far, now, 0).is_err());
        // Old data is fine: only the future is bounded.
        assert_eq!(
            check_not_future(&at("1999-01-01T00:00:00Z"), now, 0),
            Ok(())
        );
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
