//! Signed feature hashing: one row of named fields (the unit's context, the arm and its offer
//! parameters) becomes a sparse vector over `2^bits` buckets, with no vocabulary to learn, so
//! an unseen device or a new offer scores without retraining the encoding.
//!
//! Every feature has a *key* (bytes) and a *value*:
//! - text field `f` with value `v`: key `f=v`, value 1 (booleans are `true`/`false`, numbers
//!   in a text field their JSON text, e.g. `position=3`);
//! - numeric field `f`: key `f`, value the scaled number (see [`Scaling`]); a missing or
//!   non-numeric value emits nothing, which for a standardised field is its training mean;
//! - cross of fields `a` and `b`: key `<key of a>` 0x1F `<key of b>`, value the product of
//!   the two values (so text x text is an indicator, text x number is the number, per text
//!   value); emitted only when both sides are present;
//! - the bias, when on: key `__bias__`, value 1.
//!
//! The key is hashed with a function written out here, never `std`'s `DefaultHasher` (which
//! may change between Rust releases), because a model trained today must hash identically
//! when it scores next year: `h = fmix64(fnv1a64(key))`, the same pair as `allocation.rs`.
//! The bucket is the low `bits` bits of `h`; the sign is its top bit (1 means -1), which is
//! independent of the bucket, so two keys colliding in one bucket add with independent signs
//! and cancel in expectation instead of always inflating each other. The hash depends on the
//! key only: neither on the spec's field order nor on its other fields.
//!
//! Entries landing in the same bucket within one row are summed, and the row is sorted by
//! bucket, so learners see each coordinate at most once per row.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;

mod encoder;
pub use encoder::{ByName, Encoder, FieldRef, FieldSource};

/// 2^18 buckets unless the spec says otherwise.
pub const DEFAULT_BITS: u32 = 18;
/// Buckets are `u32`; above 2^30 the learners' dense state would not fit sensibly anyway.
pub const MAX_BITS: u32 = 30;
/// Standardised numbers are clipped here so one wholesale buyer cannot dominate a gradient.
pub const CLIP_SD: f64 = 5.0;
/// Separates the two keys of a cross (ASCII unit separator).
const CROSS_SEPARATOR: u8 = 0x1f;
pub const BIAS_KEY: &str = "__bias__";

/// The pinned 64-bit hash of a feature key given as parts (concatenated).
/// The same pinned FNV-1a + MurmurHash3 fmix64 as unit assignment (`allocation`): FNV alone
/// mixes the last bytes of similar keys (`segment=a`, `segment=b`) poorly into the high bits,
/// and the sign lives there.
pub fn key_hash(parts: &[&[u8]]) -> u64 {
    crate::allocation::pinned_hash(parts)
}

/// Bucket and sign of a key under `bits` bucket bits.
pub fn bucket_and_sign(h: u64, bits: u32) -> (u32, f64) {
    let bits = bits.clamp(1, MAX_BITS);
    let bucket = (h & ((1u64 << bits) - 1)) as u32;
    let sign = if h >> 63 == 1 { -1.0 } else { 1.0 };
    (bucket, sign)
}

/// How a numeric field becomes a feature value.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scaling {
    /// `(x - mean) / sd`, clipped at ±[`CLIP_SD`]; `sd <= 0` gives 0.
    Standardise { mean: f64, sd: f64 },
    /// `ln(1 + max(x, 0))`: for counts and money, whose tails are long.
    Log1p,
    /// The number as it is (already on a unit scale, e.g. a discount depth of 0.1).
    Raw,
    /// `x / scale`, clipped at ±[`CLIP_SD`]: zero stays zero, so an offer parameter that a
    /// row lacks (no feature) and one that is 0 (no discount) mean the same.
    Scaled { scale: f64 },
    /// `ln(1 + max(x, 0)) / scale`: counts, money and days on a unit scale, zero at zero.
    Log1pScaled { scale: f64 },
}

impl Scaling {
    pub fn apply(&self, x: f64) -> f64 {
        match *self {
            Scaling::Standardise { mean, sd } => {
                if sd > 0.0 {
                    ((x - mean) / sd).clamp(-CLIP_SD, CLIP_SD)
                } else {
                    0.0
                }
            }
            Scaling::Log1p => x.max(0.0).ln_1p(),
            Scaling::Raw => x,
            Scaling::Scaled { scale } => (x / scale).clamp(-CLIP_SD, CLIP_SD),
            Scaling::Log1pScaled { scale } => (x.max(0.0).ln_1p() / scale).min(CLIP_SD),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NumericField {
    pub field: String,
    pub scaling: Scaling,
}

/// A cross of two fields: the personalised part (user field x offer parameter).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cross {
    pub left: String,
    pub right: String,
}

fn default_bits() -> u32 {
    DEFAULT_BITS
}

fn yes() -> bool {
    true
}

/// What to hash and how; stored with each model version so scoring hashes as training did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HashSpec {
    /// log2 of the number of buckets.
    #[serde(default = "default_bits")]
    pub bits: u32,
    /// Emit the constant bias feature.
    #[serde(default = "yes")]
    pub bias: bool,
    /// Fields one-hot encoded by the hash of `field=value`.
    #[serde(default)]
    pub text: Vec<String>,
    #[serde(default)]
    pub numeric: Vec<NumericField>,
    /// Each side is a numeric field if listed in `numeric`, otherwise text.
    #[serde(default)]
    pub crosses: Vec<Cross>,
}

impl Default for HashSpec {
    fn default() -> Self {
        HashSpec {
            bits: DEFAULT_BITS,
            bias: true,
            text: Vec::new(),
            numeric: Vec::new(),
            crosses: Vec::new(),
        }
    }
}

/// A row's hashed features: strictly increasing buckets, non-zero values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseRow {
    pub indices: Vec<u32>,
    pub values: Vec<f64>,
}

impl SparseRow {
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (u32, f64)> + '_ {
        self.indices
            .iter()
            .copied()
            .zip(self.values.iter().copied())
    }
}

/// Where the hasher looks fields up: one map, or several layered maps (context, then the
/// arm's offer parameters), the first holding a field winning, so callers need not merge.
pub trait Fields {
    fn field(&self, name: &str) -> Option<&Value>;
}

impl Fields for Map<String, Value> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Fields for [&Map<String, Value>] {
    fn field(&self, name: &str) -> Option<&Value> {
        self.iter().find_map(|m| m.get(name))
    }
}

/// A field's text as the key uses it, borrowed where the row already holds it.
fn text_of(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Bool(true) => Some(Cow::Borrowed("true")),
        Value::Bool(false) => Some(Cow::Borrowed("false")),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// One field's contribution: its key as up to three byte parts (`name`, `=`, `text`) and
/// its value. Keys are never concatenated: the hash streams over the parts.
struct FieldKey<'a> {
    name: &'a str,
    text: Option<Cow<'a, str>>,
    value: f64,
}

impl FieldKey<'_> {
    fn parts(&self) -> [&[u8]; 3] {
        match &self.text {
            Some(t) => [self.name.as_bytes(), b"=", t.as_bytes()],
            None => [self.name.as_bytes(), b"", b""],
        }
    }
}

impl HashSpec {
    /// The number of buckets, `2^bits` (bits clamped to 1..=[`MAX_BITS`]).
    pub fn buckets(&self) -> usize {
        1usize << self.bits.clamp(1, MAX_BITS)
    }

    /// Says what is wrong with a spec read from elsewhere, in the operator's words.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_BITS).contains(&self.bits) {
            return Err(format!(
                "bucket bits {} outside 1..={MAX_BITS} (18 means 2^18 buckets)",
                self.bits
            ));
        }
        for f in &self.numeric {
            if self.text.contains(&f.field) {
                return Err(format!("field {:?} is both text and numeric", f.field));
            }
            if let Scaling::Scaled { scale } | Scaling::Log1pScaled { scale } = f.scaling {
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(format!(
                        "field {:?}: scaling needs a finite positive scale",
                        f.field
                    ));
                }
            }
            if let Scaling::Standardise { mean, sd } = f.scaling {
                if !mean.is_finite() || !sd.is_finite() || sd <= 0.0 {
                    return Err(format!(
                        "field {:?}: standardising needs a finite mean and a positive sd",
                        f.field
                    ));
                }
            }
        }
        Ok(())
    }

    fn numeric_scaling(&self, field: &str) -> Option<Scaling> {
        self.numeric
            .iter()
            .find(|f| f.field == field)
            .map(|f| f.scaling)
    }

    /// The feature a single field contributes on its own or to a cross.
    fn field_key<'a, F: Fields + ?Sized>(
        &self,
        fields: &'a F,
        name: &'a str,
    ) -> Option<FieldKey<'a>> {
        let v = fields.field(name)?;
        match self.numeric_scaling(name) {
            Some(scaling) => {
                let x = v.as_f64().filter(|x| x.is_finite())?;
                let value = scaling.apply(x);
                value.is_finite().then_some(FieldKey {
                    name,
                    text: None,
                    value,
                })
            }
            None => Some(FieldKey {
                name,
                text: Some(text_of(v)?),
                value: 1.0,
            }),
        }
    }

    /// Calls `emit(key parts, value)` for every feature of the row, in spec order: bias,
    /// text fields, numeric fields, crosses. Explaining uses it (it needs the names); the
    /// [`Encoder`] computes the same features without building keys, and the tests hold the
    /// two equal.
    fn walk<'a, F: Fields + ?Sized>(&'a self, fields: &'a F, mut emit: impl FnMut(&[&[u8]], f64)) {
        if self.bias {
            emit(&[BIAS_KEY.as_bytes()], 1.0);
        }
        for name in &self.text {
            // A text field keeps its text reading even if a cross also mentions it.
            if let Some(t) = fields.field(name).and_then(text_of) {
                emit(&[name.as_bytes(), b"=", t.as_bytes()], 1.0);
            }
        }
        for f in &self.numeric {
            if let Some(k) = self.field_key(fields, &f.field) {
                emit(&k.parts(), k.value);
            }
        }
        for c in &self.crosses {
            if let (Some(a), Some(b)) = (
                self.field_key(fields, &c.left),
                self.field_key(fields, &c.right),
            ) {
                let [a0, a1, a2] = a.parts();
                let [b0, b1, b2] = b.parts();
                emit(
                    &[a0, a1, a2, &[CROSS_SEPARATOR], b0, b1, b2],
                    a.value * b.value,
                );
            }
        }
    }

    /// The spec compiled for rows of type `S` (see [`Encoder`]): compile once, hash many.
    pub fn encoder<S: FieldSource>(&self) -> Encoder<'_, S> {
        Encoder::new(self)
    }

    /// Hashes one row into `out` (cleared first; its buffers are reused).
    pub fn encode_into<F: Fields + ?Sized>(&self, fields: &F, out: &mut SparseRow) {
        self.encoder::<ByName<F>>()
            .encode_into(&ByName(fields), out);
    }

    /// Hashes one row.
    pub fn encode<F: Fields + ?Sized>(&self, fields: &F) -> SparseRow {
        self.encoder::<ByName<F>>().encode(&ByName(fields))
    }

    /// The row's features by name, with bucket and signed value, in spec order: what the
    /// Models panel shows as a model's top features and crosses (cross keys use ` x `).
    pub fn explain<F: Fields + ?Sized>(&self, fields: &F) -> Vec<(String, u32, f64)> {
        let mut out = Vec::new();
        self.walk(fields, |parts, value| {
            let (bucket, sign) = bucket_and_sign(key_hash(parts), self.bits);
            let key = parts.concat();
            let name = String::from_utf8_lossy(&key).replace('\u{1f}', " x ");
            out.push((name, bucket, sign * value));
        });
        out
    }
}

#[cfg(test)]
mod tests;
