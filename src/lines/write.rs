//! Records written back out as lines: what `export` produces and `ingest` reads.

use super::CSV_HEADER;
use crate::clock::format_rfc3339;
use crate::domain::Record;
use serde_json::Value;

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
