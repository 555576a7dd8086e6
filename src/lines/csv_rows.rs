//! CSV rows: the header liftdeck writes and reads, and a row mapped onto the shared fields.

use super::fields::{from_fields, Fields, IngestRecord};
use super::json::{context_text, parse_campaign};
use super::{LineError, RejectReason};
use crate::domain::Record;
use serde_json::Value;
use std::borrow::Cow;

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
