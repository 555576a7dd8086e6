//! Time: an injectable clock (the real one, or a virtual one for replays and the demo) and the
//! RFC 3339 <-> integer-microsecond conversions used at every edge.

use crate::domain::Micros;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Where "now" comes from. Replays and the demo drive a virtual clock; everything else uses the
/// system clock. Cloning shares the same virtual time.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    Virtual(Arc<AtomicI64>),
}

impl Clock {
    pub fn virtual_at(start: Micros) -> Clock {
        Clock::Virtual(Arc::new(AtomicI64::new(start)))
    }

    pub fn now(&self) -> Micros {
        match self {
            Clock::System => {
                let now = OffsetDateTime::now_utc();
                (now.unix_timestamp_nanos() / 1_000) as Micros
            }
            Clock::Virtual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Moves a virtual clock forward; the system clock ignores it.
    pub fn advance(&self, micros: Micros) {
        if let Clock::Virtual(t) = self {
            t.fetch_add(micros, Ordering::SeqCst);
        }
    }
}

/// Parses an RFC 3339 timestamp (any offset) into UTC microseconds.
pub fn parse_rfc3339(s: &str) -> Option<Micros> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000) as Micros)
}

/// Formats UTC microseconds as RFC 3339 with a `Z` suffix (microsecond precision when needed).
pub fn format_rfc3339(us: Micros) -> String {
    let secs = us.div_euclid(1_000_000);
    let sub = us.rem_euclid(1_000_000);
    let Ok(t) = OffsetDateTime::from_unix_timestamp(secs) else {
        return format!("@{us}us");
    };
    let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
    let (h, mi, s) = (t.hour(), t.minute(), t.second());
    if sub == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{sub:06}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_at_microsecond_precision() {
        for s in [
            "2026-11-01T12:00:00Z",
            "2026-11-01T12:03:10.250000Z",
            "1999-12-31T23:59:59.999999Z",
        ] {
            let us = parse_rfc3339(s).expect("valid");
            assert_eq!(format_rfc3339(us), s);
        }
        assert_eq!(
            parse_rfc3339("2026-11-01T13:00:00+01:00"),
            parse_rfc3339("2026-11-01T12:00:00Z")
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn virtual_clock_moves_only_when_told() {
        let c = Clock::virtual_at(1_000);
        let shared = c.clone();
        c.advance(500);
        assert_eq!(shared.now(), 1_500);
    }
}
