use super::*;
use proptest::prelude::*;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn shop_spec() -> HashSpec {
    HashSpec {
        bits: 18,
        bias: true,
        text: vec!["device".into(), "segment".into(), "arm".into()],
        numeric: vec![
            NumericField {
                field: "pre_value".into(),
                scaling: Scaling::Standardise {
                    mean: 10.0,
                    sd: 4.0,
                },
            },
            NumericField {
                field: "orders".into(),
                scaling: Scaling::Log1p,
            },
            NumericField {
                field: "discount_depth".into(),
                scaling: Scaling::Raw,
            },
        ],
        crosses: vec![
            Cross {
                left: "segment".into(),
                right: "discount_depth".into(),
            },
            Cross {
                left: "device".into(),
                right: "arm".into(),
            },
        ],
    }
}

#[test]
fn hash_values_are_pinned_forever() {
    // Computed once by an independent Python implementation (fixtures/golden/ref_ftrl.py
    // holds the same two functions); a change here silently breaks every stored model.
    assert_eq!(key_hash(&[b"device=mobile"]), 0xaac5_be22_e44c_81c1);
    assert_eq!(key_hash(&[b"__bias__"]), 0xc61c_bf46_4224_583d);
    assert_eq!(
        key_hash(&[b"segment=returning\x1fdiscount_depth"]),
        0xc3e8_bd11_4dd5_6a9c
    );
    assert_eq!(
        key_hash(&[b"device=", b"mobile"]),
        key_hash(&[b"device=mobile"])
    );
    assert_eq!(bucket_and_sign(0xaac5_be22_e44c_81c1, 18), (33217, -1.0));
    assert_eq!(bucket_and_sign(0x7fff_ffff_ffff_ffff, 4), (15, 1.0));
    let spec = HashSpec {
        text: vec!["device".into()],
        ..HashSpec::default()
    };
    let row = spec.encode(&obj(json!({"device": "mobile"})));
    assert_eq!(row.indices, vec![22589, 33217]);
    assert_eq!(row.values, vec![-1.0, -1.0]);
}

#[test]
fn encodes_text_numbers_and_crosses() {
    let spec = shop_spec();
    let ctx = obj(
        json!({"device": "mobile", "segment": "returning", "pre_value": 18.0,
                         "orders": 3, "unused": "x"}),
    );
    let offer = obj(json!({"arm": "coupon", "discount_depth": 0.1}));
    let layered: [&Map<String, Value>; 2] = [&ctx, &offer];
    let named = spec.explain(&layered[..]);
    let names: Vec<&str> = named.iter().map(|n| n.0.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "__bias__",
            "device=mobile",
            "segment=returning",
            "arm=coupon",
            "pre_value",
            "orders",
            "discount_depth",
            "segment=returning x discount_depth",
            "device=mobile x arm=coupon",
        ]
    );
    let abs: Vec<f64> = named.iter().map(|n| n.2.abs()).collect();
    assert_eq!(abs[4], 2.0); // (18 - 10) / 4
    assert!((abs[5] - 4f64.ln()).abs() < 1e-15);
    assert_eq!(abs[7], 0.1);
    let row = spec.encode(&layered[..]);
    assert_eq!(row.len(), 9);
    assert!(row.indices.windows(2).all(|w| w[0] < w[1]));
    // Missing fields emit nothing; a missing side drops the cross; never NaN.
    let bare = spec.encode(&obj(json!({"device": "tablet", "pre_value": "n/a"})));
    assert_eq!(bare.len(), 2);
    assert!(bare.values.iter().all(|v| v.is_finite()));
}

#[test]
fn standardised_numbers_are_clipped() {
    let s = Scaling::Standardise { mean: 0.0, sd: 1.0 };
    assert_eq!(s.apply(1e9), CLIP_SD);
    assert_eq!(s.apply(-1e9), -CLIP_SD);
    assert_eq!(Scaling::Log1p.apply(-3.0), 0.0);
}

#[test]
fn unit_scalings_keep_zero_at_zero_and_need_a_positive_scale() {
    let s = Scaling::Scaled { scale: 20.0 };
    assert_eq!(
        (s.apply(0.0), s.apply(10.0), s.apply(-20.0)),
        (0.0, 0.5, -1.0)
    );
    assert_eq!(s.apply(1e9), CLIP_SD);
    let l = Scaling::Log1pScaled {
        scale: 365f64.ln_1p(),
    };
    assert_eq!((l.apply(0.0), l.apply(-4.0)), (0.0, 0.0));
    assert!((l.apply(365.0) - 1.0).abs() < 1e-15);
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        for scaling in [
            Scaling::Scaled { scale: bad },
            Scaling::Log1pScaled { scale: bad },
        ] {
            let spec = HashSpec {
                numeric: vec![NumericField {
                    field: "n".into(),
                    scaling,
                }],
                ..HashSpec::default()
            };
            assert!(spec.check().is_err(), "{scaling:?}");
        }
    }
}

#[test]
fn colliding_keys_get_independent_signs_and_can_cancel() {
    // With 4 bits (16 buckets), many keys collide: within a bucket signs must be mixed.
    let keys: Vec<String> = (0..4000).map(|i| format!("user={i}")).collect();
    let mut per_bucket = [(0u32, 0u32); 16];
    for k in &keys {
        let (b, s) = bucket_and_sign(key_hash(&[k.as_bytes()]), 4);
        if s > 0.0 {
            per_bucket[b as usize].0 += 1;
        } else {
            per_bucket[b as usize].1 += 1;
        }
    }
    for (plus, minus) in per_bucket {
        let n = f64::from(plus + minus);
        // 250 expected per bucket, half of each sign: far outside ±5 sd would be a bug.
        assert!(
            (f64::from(plus) - n / 2.0).abs() < 5.0 * (n / 4.0).sqrt(),
            "{plus} {minus}"
        );
    }
    // Two keys in one bucket with opposite signs cancel exactly in one row.
    let (a, b) = find_opposite_pair(&keys);
    let spec = HashSpec {
        bits: 4,
        bias: false,
        text: vec!["p".into(), "q".into()],
        ..HashSpec::default()
    };
    let row = spec.encode(&obj(json!({"p": a, "q": b})));
    assert!(row.is_empty(), "{row:?}");
}

fn find_opposite_pair(keys: &[String]) -> (String, String) {
    // Keys are "p=<v>" and "q=<v>" as the spec will build them.
    let p: Vec<(u32, f64, &str)> = keys
        .iter()
        .map(|k| {
            let (b, s) = bucket_and_sign(key_hash(&[format!("p={k}").as_bytes()]), 4);
            (b, s, k.as_str())
        })
        .collect();
    for k in keys {
        let (b, s) = bucket_and_sign(key_hash(&[format!("q={k}").as_bytes()]), 4);
        if let Some(hit) = p.iter().find(|x| x.0 == b && x.1 == -s) {
            return (hit.2.to_string(), k.clone());
        }
    }
    (String::new(), String::new())
}

#[test]
fn same_input_same_row_and_buffers_reused() {
    let spec = shop_spec();
    let ctx = obj(json!({"device": "mobile", "segment": "new", "discount_depth": 0.2}));
    let a = spec.encode(&ctx);
    let mut b = SparseRow {
        indices: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        values: vec![9.0; 10],
    };
    spec.encode_into(&ctx, &mut b);
    assert_eq!(a, b);
}

#[test]
fn spec_round_trips_through_json_and_defaults_fill_in() {
    let spec = shop_spec();
    let text = serde_json::to_string(&spec).unwrap_or_default();
    let back: HashSpec = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(back, spec);
    let minimal: HashSpec = serde_json::from_str(r#"{"text":["device"]}"#).unwrap_or_default();
    assert_eq!(minimal.bits, DEFAULT_BITS);
    assert!(minimal.bias);
    assert_eq!(minimal.buckets(), 1 << 18);
    assert!(minimal.check().is_ok());
}

#[test]
fn check_names_what_is_wrong() {
    let mut spec = shop_spec();
    spec.bits = 40;
    assert!(spec.check().is_err_and(|e| e.contains("bucket bits 40")));
    let mut spec = shop_spec();
    spec.numeric[0].scaling = Scaling::Standardise { mean: 0.0, sd: 0.0 };
    assert!(spec.check().is_err_and(|e| e.contains("pre_value")));
}

proptest! {
    /// The hash depends on the feature only: the same fields listed in another order, or
    /// beside fields the row does not have, give the same row.
    #[test]
    fn specs_with_the_same_fields_hash_identically(
        values in proptest::collection::vec("[a-z]{1,6}", 4),
        x in -100.0f64..100.0,
        rotate in 0usize..4,
        bits in 8u32..=20,
    ) {
        let ctx = obj(json!({"a": values[0], "b": values[1], "c": values[2], "d": values[3],
                             "n": x}));
        let mut text = vec!["a".to_string(), "b".into(), "c".into(), "d".into()];
        let one = HashSpec {
            bits,
            text: text.clone(),
            numeric: vec![NumericField { field: "n".into(), scaling: Scaling::Raw }],
            crosses: vec![Cross { left: "a".into(), right: "n".into() }],
            ..HashSpec::default()
        };
        text.rotate_left(rotate);
        text.push("absent".into());
        let two = HashSpec {
            bits,
            text,
            numeric: vec![
                NumericField { field: "missing".into(), scaling: Scaling::Log1p },
                NumericField { field: "n".into(), scaling: Scaling::Raw },
            ],
            crosses: vec![
                Cross { left: "absent".into(), right: "b".into() },
                Cross { left: "a".into(), right: "n".into() },
            ],
            ..HashSpec::default()
        };
        prop_assert_eq!(one.encode(&ctx), two.encode(&ctx));
    }
}

/// The encoding as the module describes it, by the named walk: every key built out in
/// parts, hashed by `allocation`'s pinned hash, then sorted (stably), summed and zeros
/// dropped. The compiled [`Encoder`] must give exactly this.
fn reference_encode<F: Fields + ?Sized>(spec: &HashSpec, fields: &F) -> SparseRow {
    let mut pairs = Vec::new();
    spec.walk(fields, |parts, value| {
        let (bucket, sign) = bucket_and_sign(key_hash(parts), spec.bits);
        pairs.push((bucket, sign * value));
    });
    pairs.sort_by_key(|p| p.0);
    let mut out = SparseRow::default();
    for (i, v) in pairs {
        if out.indices.last() == Some(&i) {
            *out.values.last_mut().expect("a value per index") += v;
        } else {
            out.indices.push(i);
            out.values.push(v);
        }
    }
    let keep: Vec<(u32, f64)> = out.iter().filter(|p| p.1 != 0.0).collect();
    SparseRow {
        indices: keep.iter().map(|p| p.0).collect(),
        values: keep.iter().map(|p| p.1).collect(),
    }
}

fn bits_of(row: &SparseRow) -> Vec<(u32, u64)> {
    row.iter().map(|(i, v)| (i, v.to_bits())).collect()
}

const NAMES: [&str; 5] = ["a", "b", "pos", "n", "m"];

fn any_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        any::<bool>().prop_map(|b| Some(json!(b))),
        "[a-z=é]{0,5}".prop_map(|s| Some(json!(s))),
        (-5i64..1000).prop_map(|i| Some(json!(i))),
        (-50.0f64..500.0).prop_map(|x| Some(json!(x))),
        Just(Some(json!([1, 2]))),
    ]
}

fn any_scaling() -> impl Strategy<Value = Scaling> {
    prop_oneof![
        Just(Scaling::Raw),
        Just(Scaling::Log1p),
        (0.5f64..10.0).prop_map(|scale| Scaling::Scaled { scale }),
        (0.5f64..10.0).prop_map(|scale| Scaling::Log1pScaled { scale }),
        (-5.0f64..5.0, 0.0f64..3.0).prop_map(|(mean, sd)| Scaling::Standardise { mean, sd }),
    ]
}

fn any_spec() -> impl Strategy<Value = HashSpec> {
    let name = || (0usize..NAMES.len()).prop_map(|i| NAMES[i].to_string());
    (
        1u32..=12,
        any::<bool>(),
        proptest::collection::vec(name(), 0..4),
        proptest::collection::vec((name(), any_scaling()), 0..4),
        proptest::collection::vec((name(), name()), 0..5),
    )
        .prop_map(|(bits, bias, text, numeric, crosses)| HashSpec {
            bits,
            bias,
            text,
            numeric: numeric
                .into_iter()
                .map(|(field, scaling)| NumericField { field, scaling })
                .collect(),
            crosses: crosses
                .into_iter()
                .map(|(left, right)| Cross { left, right })
                .collect(),
        })
}

fn any_map() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec(any_value(), NAMES.len()).prop_map(|vs| {
        NAMES
            .iter()
            .zip(vs)
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect()
    })
}

proptest! {
    /// The compiled encoder gives exactly the reference's buckets and value bits, for any
    /// spec (fields repeated, in both lists, crossed with themselves, few bits so buckets
    /// collide) and any values (text, numbers, booleans, null, arrays, absent), one map or
    /// layered maps, and reused buffers.
    #[test]
    fn the_compiled_encoder_matches_the_reference_walk(
        spec in any_spec(),
        first in any_map(),
        second in any_map(),
    ) {
        prop_assert_eq!(bits_of(&spec.encode(&first)), bits_of(&reference_encode(&spec, &first)));
        let layered: [&Map<String, Value>; 2] = [&first, &second];
        let mut encoder = spec.encoder::<ByName<[&Map<String, Value>]>>();
        let mut out = SparseRow { indices: vec![7; 40], values: vec![1.0; 40] };
        for _ in 0..2 {
            encoder.encode_into(&ByName(&layered[..]), &mut out);
            prop_assert_eq!(bits_of(&out), bits_of(&reference_encode(&spec, &layered[..])));
        }
    }

    #[test]
    fn the_streamed_hash_is_the_pinned_hash(
        parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..5),
    ) {
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(encoder::streamed_hash(&parts), key_hash(&parts));
    }
}
