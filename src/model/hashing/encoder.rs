//! The spec compiled for one kind of row: every field the spec mentions is resolved once
//! (text or numeric, which scaling, where the row keeps it) and the hash of its `name=`
//! prefix is computed once, so hashing a row streams only the value bytes. The keys, hashes,
//! buckets and values are exactly those of the module's description (the pinned tests and
//! the reference walk in the tests check it); only the work per row is less.

use serde_json::{Number, Value};
use std::fmt::Write as _;

use super::{
    bucket_and_sign, Fields, HashSpec, Scaling, SparseRow, BIAS_KEY, CROSS_SEPARATOR, MAX_BITS,
};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, continuing from state `h` (the first half of the pinned hash,
/// `allocation::pinned_hash`, written so a prefix's state can be kept and resumed).
fn feed(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// MurmurHash3 fmix64, the second half of the pinned hash.
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The pinned hash of a key given as parts, by the streaming functions above.
pub(super) fn streamed_hash(parts: &[&[u8]]) -> u64 {
    finish(parts.iter().fold(FNV_OFFSET, |h, p| feed(h, p)))
}

/// A field's value as a row holds it: JSON from a map, or the row's own typed fields, which
/// need no `Value` built per row. Each reads exactly as the JSON value it stands for would
/// (`Uint(3)` as `3`, `Float(x)` as the number `x`, a non-finite `Float` as `null`).
#[derive(Debug, Clone, Copy)]
pub enum FieldRef<'a> {
    Json(&'a Value),
    Text(&'a str),
    Uint(u64),
    Float(f64),
}

impl FieldRef<'_> {
    /// The number a numeric field reads, as `Value::as_f64` would (finite only).
    fn number(self) -> Option<f64> {
        let x = match self {
            FieldRef::Json(v) => v.as_f64()?,
            FieldRef::Text(_) => return None,
            FieldRef::Uint(u) => u as f64,
            FieldRef::Float(x) => x,
        };
        x.is_finite().then_some(x)
    }

    /// Appends the text a text field reads (the JSON text of numbers, `true`/`false`);
    /// false when the value has none (null, arrays, objects).
    fn write_text(self, out: &mut String) -> bool {
        match self {
            FieldRef::Json(Value::String(s)) => out.push_str(s),
            FieldRef::Text(s) => out.push_str(s),
            FieldRef::Json(Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
            // Writing into a String cannot fail.
            FieldRef::Json(Value::Number(n)) => drop(write!(out, "{n}")),
            FieldRef::Uint(u) => drop(write!(out, "{u}")),
            FieldRef::Float(x) => match Number::from_f64(x) {
                Some(n) => drop(write!(out, "{n}")),
                None => return false,
            },
            FieldRef::Json(_) => return false,
        }
        true
    }
}

/// A row the encoder can read: `resolve` says once per spec field where the row keeps it,
/// `get` reads it per row.
pub trait FieldSource {
    type Key: Copy;
    fn resolve(name: &str) -> Self::Key;
    fn get(&self, key: Self::Key, name: &str) -> Option<FieldRef<'_>>;
}

/// Any [`Fields`] (one map, layered maps) read by name.
pub struct ByName<'a, F: ?Sized>(pub &'a F);

impl<F: Fields + ?Sized> FieldSource for ByName<'_, F> {
    type Key = ();
    fn resolve(_: &str) {}
    fn get(&self, _: (), name: &str) -> Option<FieldRef<'_>> {
        self.0.field(name).map(FieldRef::Json)
    }
}

/// One field in one reading (text, or numeric with its scaling).
struct Slot<'s, K> {
    name: &'s str,
    key: K,
    scaling: Option<Scaling>,
    /// FNV state after `name=` (text) or `name` (numeric).
    prefix: u64,
}

/// A slot's reading for the current row: the FNV state after its whole key, its value and
/// where its text sits in the row's text buffer (empty for numbers).
#[derive(Clone, Copy)]
struct Read {
    state: u64,
    value: f64,
    text: (usize, usize),
}

/// A [`HashSpec`] compiled for rows of type `S`; holds its scratch buffers, so one encoder
/// per thread hashes any number of rows without allocating beyond the output.
pub struct Encoder<'s, S: FieldSource> {
    bits: u32,
    bias: Option<(u32, f64)>,
    slots: Vec<Slot<'s, S::Key>>,
    /// Slot of each text field, then of each numeric field, in spec order.
    singles: Vec<usize>,
    crosses: Vec<(usize, usize)>,
    reads: Vec<Option<Read>>,
    text: String,
    pairs: Vec<(u32, f64)>,
    row: SparseRow,
}

impl<'s, S: FieldSource> Encoder<'s, S> {
    pub fn new(spec: &'s HashSpec) -> Self {
        let bits = spec.bits.clamp(1, MAX_BITS);
        let mut slots: Vec<Slot<'s, S::Key>> = Vec::new();
        let mut slot = |name: &'s str, scaling: Option<Scaling>| -> usize {
            let same =
                |s: &Slot<'s, S::Key>| s.name == name && s.scaling.is_some() == scaling.is_some();
            if let Some(i) = slots.iter().position(same) {
                return i;
            }
            let prefix = match scaling {
                Some(_) => feed(FNV_OFFSET, name.as_bytes()),
                None => feed(feed(FNV_OFFSET, name.as_bytes()), b"="),
            };
            slots.push(Slot {
                name,
                key: S::resolve(name),
                scaling,
                prefix,
            });
            slots.len() - 1
        };
        // A field is numeric in a cross (and in the numeric list) when the numeric list has
        // it, with the first listed scaling; a text field keeps its text reading regardless.
        let numeric_scaling = |name: &str| {
            spec.numeric
                .iter()
                .find(|f| f.field == name)
                .map(|f| f.scaling)
        };
        let mut singles = Vec::with_capacity(spec.text.len() + spec.numeric.len());
        for name in &spec.text {
            singles.push(slot(name, None));
        }
        for f in &spec.numeric {
            singles.push(slot(&f.field, numeric_scaling(&f.field)));
        }
        let crosses = spec
            .crosses
            .iter()
            .map(|c| {
                (
                    slot(&c.left, numeric_scaling(&c.left)),
                    slot(&c.right, numeric_scaling(&c.right)),
                )
            })
            .collect();
        let bias = spec
            .bias
            .then(|| bucket_and_sign(streamed_hash(&[BIAS_KEY.as_bytes()]), bits));
        let n = slots.len();
        Encoder {
            bits,
            bias,
            slots,
            singles,
            crosses,
            reads: vec![None; n],
            text: String::new(),
            pairs: Vec::new(),
            row: SparseRow::default(),
        }
    }

    /// Reads every slot of `row` once.
    fn read(&mut self, row: &S) {
        self.text.clear();
        for (slot, read) in self.slots.iter().zip(self.reads.iter_mut()) {
            *read = row
                .get(slot.key, slot.name)
                .and_then(|v| match slot.scaling {
                    Some(scaling) => {
                        let value = scaling.apply(v.number()?);
                        value.is_finite().then_some(Read {
                            state: slot.prefix,
                            value,
                            text: (0, 0),
                        })
                    }
                    None => {
                        let start = self.text.len();
                        if !v.write_text(&mut self.text) {
                            return None;
                        }
                        let end = self.text.len();
                        Some(Read {
                            state: feed(slot.prefix, &self.text.as_bytes()[start..end]),
                            value: 1.0,
                            text: (start, end),
                        })
                    }
                });
        }
    }

    /// Hashes one row into `out` (cleared first; its buffers are reused).
    pub fn encode_into(&mut self, row: &S, out: &mut SparseRow) {
        self.read(row);
        let bits = self.bits;
        let pairs = &mut self.pairs;
        pairs.clear();
        if let Some((bucket, sign)) = self.bias {
            pairs.push((bucket, sign));
        }
        let mut push = |h: u64, value: f64| {
            let (bucket, sign) = bucket_and_sign(finish(h), bits);
            pairs.push((bucket, sign * value));
        };
        for &s in &self.singles {
            if let Some(r) = self.reads[s] {
                push(r.state, r.value);
            }
        }
        for &(a, b) in &self.crosses {
            if let (Some(ra), Some(rb)) = (self.reads[a], self.reads[b]) {
                let right = &self.slots[b];
                let mut h = feed(ra.state, &[CROSS_SEPARATOR]);
                h = feed(h, right.name.as_bytes());
                if right.scaling.is_none() {
                    h = feed(h, b"=");
                    h = feed(h, &self.text.as_bytes()[rb.text.0..rb.text.1]);
                }
                push(h, ra.value * rb.value);
            }
        }
        // Stable: entries sharing a bucket are summed in spec order.
        self.pairs.sort_by_key(|p| p.0);
        out.indices.clear();
        out.values.clear();
        for &(i, v) in &self.pairs {
            if out.indices.last() == Some(&i) {
                if let Some(last) = out.values.last_mut() {
                    *last += v;
                }
            } else {
                out.indices.push(i);
                out.values.push(v);
            }
        }
        // Opposite signs that cancelled, and zero values (a number at its mean), carry nothing.
        let mut k = 0;
        for j in 0..out.indices.len() {
            if out.values[j] != 0.0 {
                out.indices[k] = out.indices[j];
                out.values[k] = out.values[j];
                k += 1;
            }
        }
        out.indices.truncate(k);
        out.values.truncate(k);
    }

    /// Hashes one row into a new row of exactly its length (no spare capacity: a million
    /// stored rows cost their features, not the growth slack).
    pub fn encode(&mut self, row: &S) -> SparseRow {
        let mut tmp = std::mem::take(&mut self.row);
        self.encode_into(row, &mut tmp);
        let out = SparseRow {
            indices: tmp.indices.as_slice().to_vec(),
            values: tmp.values.as_slice().to_vec(),
        };
        self.row = tmp;
        out
    }
}
