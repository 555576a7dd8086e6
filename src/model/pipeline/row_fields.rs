//! A training row read by the hashing [`Encoder`] straight from its struct: arm, hour,
//! weekday, position and RFM without a `Map` built per row, the context and offer maps by
//! name. It reads exactly as the layered maps `[derived, context, offer]` do (the row's own
//! fields first; an absent position or RFM falls through to the maps), which the tests check.

use super::{hour_and_weekday, TrainingRow, ARM, FREQUENCY, HOUR, MONETARY, POSITION, RECENCY};
use super::{WEEKDAY, WEEKDAYS};
use crate::model::hashing::{FieldRef, FieldSource};

/// Where a spec field lives in a [`TrainingRow`], resolved once per spec.
#[derive(Debug, Clone, Copy)]
pub enum RowField {
    Arm,
    Hour,
    Weekday,
    Position,
    Recency,
    Frequency,
    Monetary,
    /// The context, then the offer.
    Maps,
}

impl FieldSource for TrainingRow {
    type Key = RowField;

    fn resolve(name: &str) -> RowField {
        match name {
            ARM => RowField::Arm,
            HOUR => RowField::Hour,
            WEEKDAY => RowField::Weekday,
            POSITION => RowField::Position,
            RECENCY => RowField::Recency,
            FREQUENCY => RowField::Frequency,
            MONETARY => RowField::Monetary,
            _ => RowField::Maps,
        }
    }

    fn get(&self, key: RowField, name: &str) -> Option<FieldRef<'_>> {
        let own = match key {
            RowField::Arm => Some(FieldRef::Text(&self.arm)),
            RowField::Hour => Some(FieldRef::Uint(hour_and_weekday(self.assigned_at).0.into())),
            RowField::Weekday => Some(FieldRef::Text(
                WEEKDAYS[hour_and_weekday(self.assigned_at).1],
            )),
            RowField::Position => self.position.map(|p| FieldRef::Uint(p.into())),
            RowField::Recency => self.rfm.map(|r| FieldRef::Float(r.recency_days)),
            RowField::Frequency => self.rfm.map(|r| FieldRef::Float(r.frequency)),
            RowField::Monetary => self.rfm.map(|r| FieldRef::Float(r.monetary)),
            RowField::Maps => None,
        };
        own.or_else(|| {
            self.context
                .get(name)
                .or_else(|| self.offer.get(name))
                .map(FieldRef::Json)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{default_spec, Rfm};
    use super::*;
    use crate::model::hashing::{Cross, HashSpec, NumericField, Scaling, SparseRow};
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    fn bits_of(row: &SparseRow) -> Vec<(u32, u64)> {
        row.iter().map(|(i, v)| (i, v.to_bits())).collect()
    }

    fn any_value() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            "[a-z]{1,4}".prop_map(|s| Some(json!(s))),
            (0u32..30).prop_map(|i| Some(json!(i))),
            (-5.0f64..50.0).prop_map(|x| Some(json!(x))),
        ]
    }

    /// Maps that may also carry the row's own field names (`arm`, `position`, an RFM name).
    fn any_map(names: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::vec(any_value(), names.len()).prop_map(move |vs| {
            names
                .iter()
                .zip(vs)
                .filter_map(|(k, v)| Some((k.to_string(), v?)))
                .collect()
        })
    }

    fn any_rfm() -> impl Strategy<Value = Option<Rfm>> {
        let x = || prop_oneof![Just(f64::NAN), Just(f64::INFINITY), -2.0f64..400.0];
        proptest::option::of(
            (x(), x(), x()).prop_map(|(recency_days, frequency, monetary)| Rfm {
                recency_days,
                frequency,
                monetary,
            }),
        )
    }

    fn any_row() -> impl Strategy<Value = TrainingRow> {
        (
            any_map(&["device", "arm", "position", "rfm_frequency", "n"]),
            "[a-c]{1,2}",
            any_map(&["discount", "position", "rfm_monetary"]),
            -10_000_000_000_000i64..10_000_000_000_000,
            proptest::option::of(0u32..12),
            any_rfm(),
            any::<bool>(),
        )
            .prop_map(|(context, arm, offer, assigned_at, position, rfm, label)| {
                TrainingRow {
                    context,
                    arm,
                    offer,
                    assigned_at,
                    position,
                    rfm,
                    label,
                }
            })
    }

    proptest! {
        /// Hashing from the struct gives exactly what hashing the layered maps
        /// `[derived, context, offer]` gives (the reference), for the default spec of the rows
        /// and for one that reads the row's own fields as text, as numbers and in crosses.
        #[test]
        fn the_struct_reads_as_the_layered_maps(
            rows in proptest::collection::vec(any_row(), 1..6),
            bits in 4u32..=18,
        ) {
            let mut wide = default_spec(&rows, bits, true);
            wide.text.extend(["rfm_recency_days", "rfm_monetary", "n"].map(String::from));
            wide.numeric.push(NumericField { field: "hour".into(), scaling: Scaling::Raw });
            wide.numeric.push(NumericField { field: "position".into(), scaling: Scaling::Log1p });
            for (left, right) in [("hour", "weekday"), ("position", "arm"), ("rfm_frequency", "n")] {
                wide.crosses.push(Cross { left: left.into(), right: right.into() });
            }
            for spec in [default_spec(&rows, bits, true), wide, HashSpec::default()] {
                let mut encoder = spec.encoder::<TrainingRow>();
                for row in &rows {
                    let derived = row.derived();
                    let maps: [&Map<String, Value>; 3] = [&derived, &row.context, &row.offer];
                    let reference = bits_of(&spec.encode(&maps[..]));
                    prop_assert_eq!(&bits_of(&row.encode(&spec)), &reference);
                    prop_assert_eq!(&bits_of(&encoder.encode(row)), &reference);
                }
            }
        }
    }
}
