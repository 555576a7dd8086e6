//! Line formats: JSON lines and CSV rows in, validated records out, and records written back
//! as lines.
//!
//! Pure: no database, no clock, no reading. Shape checks happen here (malformed line, missing or
//! mistyped field, bad timestamp, value out of range, bad covariate, a timestamp ahead of a
//! clock the caller passes in...); checks that need the store (unknown campaign, arm,
//! unassigned unit, unknown kind) happen where a batch is applied (`store::batch`) and share
//! the `RejectReason` codes. Reading bytes into lines (UTF-8, length limits) is the use case's
//! job (`app::feed`); the reasons it reports live here too.

mod csv_rows;
mod fields;
mod json;
mod write;

pub use csv_rows::{CsvLayout, CSV_HEADER};
pub use fields::{
    check_context, check_not_future, covariate, AssignmentLine, IngestRecord, MAX_AMOUNT,
};
pub use json::{parse_json_line, read_json_line};
pub use write::{to_csv_fields, to_json_line};

use crate::domain::Micros;
use std::fmt;
use std::str::FromStr;

/// Longest line ingest reads by default (bytes, newline excluded); longer lines are rejected
/// as `line_too_long` without being held in memory whole.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// How far ahead of the ingest clock a line's `ts` may be by default: 24 hours.
pub const DEFAULT_MAX_FUTURE: Micros = 24 * 3_600 * 1_000_000;

/// Declares the reasons once: the enum, `ALL` in the README table's order, and the codes.
macro_rules! reject_reasons {
    ($( $name:ident => $code:literal, )*) => {
        /// Why a line was rejected. The code is stable (stored in the rejects table, matched by
        /// tests); the detail names the field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RejectReason {
            $( $name, )*
        }

        impl RejectReason {
            /// Every reason, in the order the README's table lists them.
            pub const ALL: &'static [RejectReason] = &[ $( RejectReason::$name, )* ];

            pub fn code(self) -> &'static str {
                match self {
                    $( RejectReason::$name => $code, )*
                }
            }
        }
    };
}

reject_reasons! {
    Malformed => "malformed",
    MissingField => "missing_field",
    WrongType => "wrong_type",
    UnknownType => "unknown_type",
    BadTimestamp => "bad_timestamp",
    NegativeValue => "negative_value",
    NonFiniteValue => "non_finite_value",
    ValueOutOfRange => "value_out_of_range",
    BadPropensity => "bad_propensity",
    BadCovariate => "bad_covariate",
    FutureTimestamp => "future_timestamp",
    InvalidUtf8 => "invalid_utf8",
    LineTooLong => "line_too_long",
    UnknownCampaign => "unknown_campaign",
    UnknownArm => "unknown_arm",
    UnassignedUnit => "unassigned_unit",
    UnknownKind => "unknown_kind",
    CampaignNotStarted => "campaign_not_started",
    ConflictingAssignment => "conflicting_assignment",
    CampaignMismatch => "campaign_mismatch",
    BadCampaign => "bad_campaign",
    Pruned => "pruned",
}

impl RejectReason {
    /// The reason with this code (`rejects --reason`).
    pub fn from_code(code: &str) -> Option<RejectReason> {
        Self::ALL.iter().copied().find(|r| r.code() == code)
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

    /// A line whose bytes are not UTF-8; `valid_up_to` is where the first bad byte is.
    pub fn invalid_utf8(valid_up_to: usize) -> LineError {
        LineError::new(
            RejectReason::InvalidUtf8,
            format!(
                "the line is not valid UTF-8 (first bad byte at offset {valid_up_to}); \
                 re-encode the feed as UTF-8"
            ),
        )
    }

    /// A line longer than the limit; `bytes` is its full length.
    pub fn line_too_long(bytes: u64, max: usize) -> LineError {
        LineError::new(
            RejectReason::LineTooLong,
            format!(
                "the line is {bytes} bytes, longer than the limit of {max} \
                 (raise it with --max-line-bytes)"
            ),
        )
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.detail, self.reason.code())
    }
}

/// The two line formats. Parsed from `jsonl` / `csv` (the CLI wraps this in its own argument
/// type; this module knows nothing of clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    pub const NAMES: [&'static str; 2] = ["jsonl", "csv"];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "jsonl" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            other => Err(format!("unknown format `{other}` (jsonl or csv)")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
