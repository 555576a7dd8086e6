//! Deterministic assignment of units to arms.
//!
//! The same (campaign seed, unit) must give the same arm in every process, on every machine,
//! forever, so the hash is written out here rather than taken from `std` (whose `DefaultHasher`
//! may change between Rust releases):
//!
//! 1. `h = fnv1a64(seed as 8 little-endian bytes ++ salt ++ unit as UTF-8)`;
//! 2. `h = fmix64(h)` (MurmurHash3's 64-bit finaliser), because FNV alone mixes the last bytes
//!    of similar keys (`u-1`, `u-2`, ...) poorly into the high bits;
//! 3. `u = (h >> 11) / 2^53`, a uniform number in [0, 1).
//!
//! Traffic uses salt `"traffic:"`: the unit enters the campaign iff `u < traffic`. The arm uses
//! salt `"arm:"`: arms are laid out on [0, 1) in definition order, each taking a slice as long
//! as its normalised weight, and the unit gets the arm whose slice holds `u`. Separate salts keep
//! the two draws independent, so changing `traffic` never reshuffles who gets which arm.

/// 64-bit FNV-1a.
fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// MurmurHash3 fmix64 finaliser: full avalanche of all input bits.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// `fmix64(fnv1a64(parts))`: the pinned hash of assignment, shared with feature hashing
/// (`model::hashing`), so one implementation carries the "never changes" guarantee.
pub(crate) fn pinned_hash(parts: &[&[u8]]) -> u64 {
    fmix64(fnv1a64(parts))
}

/// A uniform number in [0, 1) determined by (seed, salt, unit).
pub fn unit_uniform(seed: u64, salt: &str, unit: &str) -> f64 {
    let h = pinned_hash(&[&seed.to_le_bytes(), salt.as_bytes(), unit.as_bytes()]);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The outcome of bucketing one unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bucket {
    /// Outside the campaign's traffic fraction: no arm.
    Excluded,
    /// Index into the arms slice, and the probability that arm had (its normalised weight).
    Arm { index: usize, propensity: f64 },
}

/// Picks the arm for `unit` from `weights` (relative, non-negative, not all zero).
pub fn bucket(seed: u64, unit: &str, traffic: f64, weights: &[f64]) -> Bucket {
    if unit_uniform(seed, "traffic:", unit) >= traffic {
        return Bucket::Excluded;
    }
    let total: f64 = weights.iter().sum();
    if weights.is_empty() || total <= 0.0 || !total.is_finite() {
        return Bucket::Excluded;
    }
    let u = unit_uniform(seed, "arm:", unit) * total;
    let mut edge = 0.0;
    let mut last_positive = 0;
    for (index, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            last_positive = index;
        }
        edge += w;
        if u < edge && w > 0.0 {
            return Bucket::Arm {
                index,
                propensity: w / total,
            };
        }
    }
    // Floating-point rounding at the top edge: the last arm with weight takes it.
    Bucket::Arm {
        index: last_positive,
        propensity: weights[last_positive] / total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_values_are_pinned_forever() {
        // If these change, every running campaign would reshuffle its units: never update
        // them to make a test pass.
        assert_eq!(fnv1a64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        let u = unit_uniform(42, "arm:", "u-42");
        assert!((0.0..1.0).contains(&u));
        assert_eq!(
            bucket(7, "u-1", 1.0, &[50.0, 50.0]),
            bucket(7, "u-1", 1.0, &[50.0, 50.0])
        );
    }

    #[test]
    fn zero_weight_arms_never_get_units() {
        for i in 0..5000 {
            match bucket(3, &format!("u-{i}"), 1.0, &[1.0, 0.0, 1.0]) {
                Bucket::Arm { index, .. } => assert_ne!(index, 1),
                Bucket::Excluded => panic!("full traffic excludes nobody"),
            }
        }
    }

    #[test]
    fn traffic_fraction_is_respected_and_independent_of_arm() {
        let n = 20_000;
        let inside = (0..n)
            .filter(|i| bucket(9, &format!("u-{i}"), 0.3, &[1.0, 1.0]) != Bucket::Excluded)
            .count();
        let share = inside as f64 / n as f64;
        assert!((share - 0.3).abs() < 0.015, "share {share}");
        // Units kept at 30% traffic keep their arm at 100% traffic.
        for i in 0..2000 {
            let unit = format!("u-{i}");
            if let Bucket::Arm { index, .. } = bucket(9, &unit, 0.3, &[1.0, 1.0]) {
                assert_eq!(
                    bucket(9, &unit, 1.0, &[1.0, 1.0]),
                    Bucket::Arm {
                        index,
                        propensity: 0.5
                    }
                );
            }
        }
    }
}
