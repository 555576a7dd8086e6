//! The pipeline on a simulated shop whose coupon works for mobile users only.

use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

use super::*;

const HOUR_MICROS: i64 = 3_600_000_000;

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn row(device: &str, segment: &str, coupon: bool, at: i64, label: bool) -> TrainingRow {
    let (arm, value) = if coupon {
        ("coupon10", 10)
    } else {
        ("control", 0)
    };
    TrainingRow {
        context: map(json!({ "device": device, "segment": segment })),
        arm: arm.into(),
        offer: map(json!({ "coupon_value": value, "discount_pct": 0 })),
        assigned_at: at,
        position: None,
        rfm: None,
        label,
    }
}

/// logit p = base + 0.4·returning + (mobile and coupon ? uplift : 0): desktop users ignore
/// the coupon. Rows arrive in time order, a few minutes apart.
fn shop(n: usize, base: f64, uplift: f64, seed: u64) -> Vec<TrainingRow> {
    let mut rng = Prng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mobile = rng.random::<f64>() < 0.5;
            let returning = rng.random::<f64>() < 0.4;
            let coupon = rng.random::<f64>() < 0.5;
            let mut z = base + if returning { 0.4 } else { 0.0 };
            if mobile && coupon {
                z += uplift;
            }
            let label = rng.random::<f64>() < sigmoid(z);
            let device = if mobile { "mobile" } else { "desktop" };
            let segment = if returning { "returning" } else { "new" };
            row(device, segment, coupon, i as i64 * HOUR_MICROS / 7, label)
        })
        .collect()
}

fn quick(learner: Learner) -> TrainConfig {
    TrainConfig {
        learner,
        bits: 14,
        max_epochs: 8,
        patience: 2,
        eval: EvalOptions {
            resamples: 100,
            ..EvalOptions::default()
        },
        ..TrainConfig::default()
    }
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// The coupon's effect on a new user's logit.
fn logit_uplift(model: &TrainedModel, device: &str) -> f64 {
    logit(model.predict(&row(device, "new", true, 0, false)))
        - logit(model.predict(&row(device, "new", false, 0, false)))
}

fn uplift(model: &TrainedModel, device: &str) -> f64 {
    let on = model.predict(&row(device, "new", true, 0, false));
    let off = model.predict(&row(device, "new", false, 0, false));
    on - off
}

#[test]
fn hour_and_weekday_are_utc_from_the_epoch() {
    assert_eq!(hour_and_weekday(0), (0, 3)); // Thursday 1970-01-01 00:00
    assert_eq!(hour_and_weekday(-1), (23, 2)); // a microsecond earlier: Wednesday 23h
    assert_eq!(
        hour_and_weekday(4 * 24 * HOUR_MICROS + 13 * HOUR_MICROS),
        (13, 0)
    );
}

#[test]
fn default_spec_learns_scalings_and_crosses_user_fields_with_the_offer() {
    let rows = shop(200, -1.0, 1.0, 1);
    let spec = default_spec(&rows, 18, true);
    assert_eq!(spec.bits, 18);
    assert!(spec.text.iter().any(|f| f == "device") && spec.text.iter().any(|f| f == "arm"));
    let coupon = spec.numeric.iter().find(|f| f.field == "coupon_value");
    // Over its largest value, so 0 (no coupon) stays 0 and the 10 coupon is 1.
    assert_eq!(
        coupon.map(|f| f.scaling),
        Some(Scaling::Scaled { scale: 10.0 })
    );
    // discount_pct is always 0: kept raw (there is no scale to divide by).
    let discount = spec.numeric.iter().find(|f| f.field == "discount_pct");
    assert_eq!(discount.map(|f| f.scaling), Some(Scaling::Raw));
    let has = |l: &str, r: &str| spec.crosses.iter().any(|c| c.left == l && c.right == r);
    assert!(has("device", "arm") && has("device", "coupon_value") && has("segment", "arm"));
    assert!(spec.check().is_ok());
    assert!(default_spec(&rows, 18, false).crosses.is_empty());
}

#[test]
fn time_split_puts_every_validation_row_after_every_training_row() {
    // Shuffled times with many ties, so the cut must step past a tied timestamp.
    let mut rng = Prng::seed_from_u64(5);
    let rows: Vec<TrainingRow> = (0..500)
        .map(|_| {
            row(
                "mobile",
                "new",
                true,
                rng.random_range(0..40) * HOUR_MICROS,
                false,
            )
        })
        .collect();
    let (train, val) = split_by_time(&rows, 0.2);
    assert_eq!(train.len() + val.len(), rows.len());
    assert!(val.len() > 50 && val.len() < 150, "{}", val.len());
    let last_train = train.iter().map(|&i| rows[i].assigned_at).max();
    let first_val = val.iter().map(|&i| rows[i].assigned_at).min();
    assert!(last_train < first_val, "{last_train:?} !< {first_val:?}");
}

#[test]
fn trained_windows_follow_the_split() {
    let mut rows = shop(1000, -1.0, 1.0, 2);
    rows.reverse(); // input order must not matter, only time
    let m = train(&rows, &quick(Learner::logistic(Optimizer::Adam))).expect("trains");
    assert!(m.train_window.1 < m.validation_window.0);
    assert_eq!(m.train_rows + m.validation_rows, 1000);
    assert_eq!(m.validation_rows, 200);
}

#[test]
fn same_seed_gives_the_same_model_bit_for_bit() {
    let rows = shop(1500, -1.0, 1.0, 3);
    for learner in [
        Learner::logistic(Optimizer::Adam),
        Learner::Ftrl(FtrlParams::default()),
        Learner::Mlp(MlpOptions {
            hidden: 8,
            ..MlpOptions::default()
        }),
    ] {
        let cfg = TrainConfig {
            negative_rate: Some(0.5),
            dense_bits: 5,
            max_epochs: 3,
            ..quick(learner)
        };
        let a = train(&rows, &cfg).expect("trains");
        let b = train(&rows, &cfg).expect("trains");
        let (ja, jb) = (serde_json::to_string(&a), serde_json::to_string(&b));
        assert!(ja.is_ok());
        assert_eq!(ja.ok(), jb.ok(), "{}", learner.name());
        let other = train(&rows, &TrainConfig { seed: 2, ..cfg }).expect("trains");
        assert_ne!(
            serde_json::to_string(&other).ok(),
            serde_json::to_string(&a).ok(),
            "another seed draws another sample and order ({})",
            learner.name()
        );
    }
}

#[test]
fn a_stored_model_scores_as_the_trained_one() {
    let rows = shop(1000, -1.0, 1.0, 4);
    let m = train(&rows, &quick(Learner::Ftrl(FtrlParams::default()))).expect("trains");
    let text = serde_json::to_string(&m).expect("serialises");
    let back: TrainedModel = serde_json::from_str(&text).expect("reads back");
    // Bit for bit: serde_json's `float_roundtrip` (Cargo.toml) reads every weight back exactly;
    // its default parser could move one by an ulp.
    for r in &rows[..50] {
        assert_eq!(m.predict(r).to_bits(), back.predict(r).to_bits());
    }
    assert_eq!(back.spec, m.spec);
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    // A high constant rate on little data: validation loss bottoms out, then rises.
    let rows = shop(600, -1.0, 1.0, 6);
    let cfg = TrainConfig {
        max_epochs: 40,
        patience: 3,
        bits: 18,
        ..quick(Learner::Logistic {
            optimizer: Optimizer::Adam,
            l2: 0.0,
            learning_rate: 0.5,
            batch: 8,
        })
    };
    let m = train(&rows, &cfg).expect("trains");
    let losses = &m.validation_losses;
    let (argmin, min) =
        losses.iter().enumerate().fold(
            (0, f64::INFINITY),
            |b, (i, &l)| if l < b.1 { (i, l) } else { b },
        );
    assert_eq!(m.best_epoch, argmin + 1, "{losses:?}");
    assert!(losses.len() < 40, "patience should stop it: {losses:?}");
    assert_eq!(
        losses.len(),
        m.best_epoch + 3,
        "stops `patience` epochs after the best"
    );
    assert!(losses.last() > Some(&min));
    // The kept state is the best epoch's: its validation loss is the minimum.
    assert_eq!(m.metrics.log_loss.to_bits(), min.to_bits());
}

#[test]
fn cancelling_returns_no_model() {
    let rows = shop(300, -1.0, 1.0, 7);
    let mut seen = 0;
    let r = train_with(&rows, &quick(Learner::logistic(Optimizer::Sgd)), &mut |e| {
        seen = e.epoch;
        false
    });
    assert_eq!(r.err(), Some(TrainError::Cancelled));
    assert_eq!(seen, 1);
}

#[test]
fn bad_configs_and_too_few_rows_are_refused() {
    let rows = shop(300, -1.0, 1.0, 8);
    let base = quick(Learner::logistic(Optimizer::Adam));
    for cfg in [
        TrainConfig {
            negative_rate: Some(0.0),
            ..base.clone()
        },
        TrainConfig {
            validation_share: 1.0,
            ..base.clone()
        },
        TrainConfig {
            max_epochs: 0,
            ..base.clone()
        },
    ] {
        assert!(matches!(train(&rows, &cfg), Err(TrainError::BadConfig(_))));
    }
    assert_eq!(
        train(&rows[..1], &base).err(),
        Some(TrainError::TooFewRows(1))
    );
}

#[test]
fn down_sampling_with_the_correction_keeps_the_base_rate() {
    let rows = shop(8000, -3.0, 0.5, 9);
    let cfg = TrainConfig {
        negative_rate: Some(0.1),
        ..quick(Learner::logistic(Optimizer::Adam))
    };
    let m = train(&rows, &cfg).expect("trains");
    assert!(m.sampled_train_rows < m.train_rows / 5);
    let (_, val) = split_by_time(&rows, 0.2);
    let n = val.len() as f64;
    let mean = |f: &dyn Fn(&TrainingRow) -> f64| val.iter().map(|&i| f(&rows[i])).sum::<f64>() / n;
    let base = mean(&|r| f64::from(u8::from(r.label)));
    let corrected = mean(&|r| m.predict(r));
    let raw = mean(&|r| m.predict_uncorrected(r));
    assert!(
        (corrected - base).abs() < 0.3 * base,
        "corrected {corrected} vs base {base}"
    );
    assert!(raw > 3.0 * base, "uncorrected {raw} vs base {base}");
    assert!((m.metrics.base_rate - base).abs() < 1e-12);
}

/// The personalised data set: the coupon lifts mobile users' logit by 1.5, desktop's by 0.
fn personal() -> Vec<TrainingRow> {
    shop(20_000, -1.5, 1.5, 10)
}

#[test]
fn crossed_model_recovers_the_interaction_and_beats_the_uncrossed_one() {
    let rows = personal();
    let cfg = TrainConfig {
        max_epochs: 20,
        ..quick(Learner::logistic(Optimizer::Adam))
    };
    let crossed = train(&rows, &cfg).expect("trains");
    let plain = train(
        &rows,
        &TrainConfig {
            personalised: false,
            ..cfg.clone()
        },
    )
    .expect("trains");
    eprintln!(
        "crossed: best epoch {} log loss {} uplift mobile {} desktop {} (logit {} {}); \
         uncrossed: log loss {} logit uplift {} {}",
        crossed.best_epoch,
        crossed.metrics.log_loss,
        uplift(&crossed, "mobile"),
        uplift(&crossed, "desktop"),
        logit_uplift(&crossed, "mobile"),
        logit_uplift(&crossed, "desktop"),
        plain.metrics.log_loss,
        logit_uplift(&plain, "mobile"),
        logit_uplift(&plain, "desktop"),
    );
    let (mobile, desktop) = (uplift(&crossed, "mobile"), uplift(&crossed, "desktop"));
    // The true uplift for a new mobile user is sigmoid(0) - sigmoid(-1.5) = 0.32.
    assert!(mobile > 0.2, "mobile uplift {mobile}");
    assert!(desktop.abs() < 0.05, "desktop uplift {desktop}");
    // On the logit scale: about 1.5 for mobile, about 0 for desktop.
    let (lm, ld) = (
        logit_uplift(&crossed, "mobile"),
        logit_uplift(&crossed, "desktop"),
    );
    assert!(
        lm > 1.0 && ld.abs() < 0.3,
        "crossed logit uplift: {lm} vs {ld}"
    );
    // Without crosses the coupon moves every user's logit by the same (average) amount.
    let (pm, pd) = (
        logit_uplift(&plain, "mobile"),
        logit_uplift(&plain, "desktop"),
    );
    assert!((pm - pd).abs() < 0.05, "uncrossed: {pm} vs {pd}");
    assert!(
        crossed.metrics.log_loss < plain.metrics.log_loss - 0.005,
        "crossed {} vs uncrossed {}",
        crossed.metrics.log_loss,
        plain.metrics.log_loss
    );
}

#[test]
fn every_learner_trains_and_beats_the_base_rate_on_the_personalised_shop() {
    let rows = personal();
    for learner in [
        Learner::logistic(Optimizer::Adam),
        Learner::logistic(Optimizer::Sgd),
        Learner::Ftrl(FtrlParams {
            alpha: 0.3,
            ..FtrlParams::default()
        }),
        Learner::Mlp(MlpOptions {
            hidden: 16,
            ..MlpOptions::default()
        }),
    ] {
        let cfg = TrainConfig {
            dense_bits: 6,
            ..quick(learner)
        };
        let m = train(&rows, &cfg).expect("trains");
        eprintln!(
            "{}: best epoch {} log loss {} NE {} AUC {:?} uplift mobile {} desktop {}",
            learner.name(),
            m.best_epoch,
            m.metrics.log_loss,
            m.metrics.normalised_entropy,
            m.metrics.auc,
            uplift(&m, "mobile"),
            uplift(&m, "desktop")
        );
        assert!(
            m.metrics.normalised_entropy < 0.97,
            "{}: NE {} log loss {}",
            learner.name(),
            m.metrics.normalised_entropy,
            m.metrics.log_loss
        );
        assert!(
            uplift(&m, "mobile") > uplift(&m, "desktop") + 0.1,
            "{}",
            learner.name()
        );
    }
}

#[test]
fn the_default_spec_learns_its_scalings_from_the_training_part_only() {
    let mut rows = shop(1000, -1.0, 1.0, 11);
    // The newest rows (the validation part) carry a coupon value never seen in training.
    for r in rows.iter_mut().skip(800) {
        r.offer.insert("coupon_value".into(), Value::from(1000));
    }
    let m = train(&rows, &quick(Learner::logistic(Optimizer::Adam))).expect("trains");
    let coupon = m.spec.numeric.iter().find(|f| f.field == "coupon_value");
    // Scaled by the training part's largest value, not the validation part's 1000.
    assert_eq!(
        coupon.map(|f| f.scaling),
        Some(Scaling::Scaled { scale: 10.0 })
    );
}

#[test]
fn numeric_context_fields_are_numbers_on_a_unit_scale_and_text_stays_text() {
    let mut rows = shop(50, -1.0, 1.0, 3);
    for (i, r) in rows.iter_mut().enumerate() {
        r.context
            .insert("recency_days".into(), Value::from(i as f64));
        r.context
            .insert("delta".into(), Value::from(i as f64 - 20.0));
        // A field that is a number in some rows and text in others stays text.
        let mixed = if i % 2 == 0 {
            Value::from(1)
        } else {
            Value::from("x")
        };
        r.context.insert("mixed".into(), mixed);
    }
    let spec = default_spec(&rows, 14, false);
    let scaling = |f: &str| {
        spec.numeric
            .iter()
            .find(|n| n.field == f)
            .map(|n| n.scaling)
    };
    assert_eq!(
        scaling("recency_days"),
        Some(Scaling::Log1pScaled {
            scale: 49f64.ln_1p()
        })
    );
    assert_eq!(scaling("delta"), Some(Scaling::Scaled { scale: 29.0 }));
    assert!(spec.text.iter().any(|f| f == "mixed") && scaling("mixed").is_none());
    assert!(spec.text.iter().any(|f| f == "device"));
    assert!(spec.check().is_ok());
    // Each scaled number lies in [-1, 1] on the rows it was learned from.
    for r in &rows {
        for n in &spec.numeric {
            if let Some(x) = r.context.get(&n.field).and_then(Value::as_f64) {
                let v = n.scaling.apply(x);
                assert!((-1.0..=1.0).contains(&v), "{} {x} -> {v}", n.field);
            }
        }
    }
}

#[test]
fn the_time_split_never_leaves_nothing_to_validate_on() {
    // Ties at the cut stay in training when later rows remain ...
    let (train, val) = split_times(&[1, 2, 3, 3, 3, 4, 5, 6, 7, 8], 0.2);
    assert_eq!((train.len(), val.len()), (8, 2));
    let (train, val) = split_times(&[1, 2, 3, 4, 5, 6, 7, 8, 8, 8], 0.2);
    // ... and go to validation when the tie runs to the end.
    assert_eq!((train, val), ((0..7).collect(), vec![7, 8, 9]));
    // One time for every row: cut in input order.
    let (train, val) = split_times(&[5; 10], 0.2);
    assert_eq!((train, val), ((0..8).collect(), vec![8, 9]));
    // Every validation row is strictly later than every training row whenever times differ.
    let times = [4, 1, 3, 3, 2, 9, 9, 9, 9, 9, 7];
    let (train, val) = split_times(&times, 0.3);
    let latest_train = train.iter().map(|&i| times[i]).max();
    assert!(val.iter().all(|&i| Some(times[i]) > latest_train));
    assert!(!train.is_empty() && !val.is_empty());
}

#[test]
fn top_weights_name_the_interaction_the_crossed_model_learned() {
    // The coupon works for mobile users only: in the named cross weights, the coupon's
    // log-odds effect (its arm and its value, which always come together, less the control
    // arm) is larger for mobile than for desktop users.
    let rows = shop(6_000, -1.5, 1.5, 12);
    let m = train(&rows, &quick(Learner::logistic(Optimizer::Adam))).expect("trains");
    let top = m.top_weights(rows.iter(), 50);
    assert!(!top.features.is_empty());
    assert!(top.features.iter().all(|w| !w.name.contains(" x ")));
    assert!(top
        .features
        .iter()
        .all(|w| w.name != crate::model::hashing::BIAS_KEY));
    let w = |name: &str| {
        top.crosses
            .iter()
            .find(|c| c.name == name)
            .map_or(0.0, |c| c.weight)
    };
    let effect = |device: &str| {
        w(&format!("device={device} x arm=coupon10"))
            + w(&format!("device={device} x coupon_value"))
            - w(&format!("device={device} x arm=control"))
    };
    assert!(
        effect("mobile") > effect("desktop") + 0.5,
        "mobile {} desktop {}: {:?}",
        effect("mobile"),
        effect("desktop"),
        top.crosses
    );
    // Collinear names share their weight with one sign (a zero value names nothing).
    assert!(
        (w("device=mobile x arm=coupon10") - w("device=mobile x coupon_value")).abs() < 1e-9,
        "{:?}",
        top.crosses
    );
    // Sorted by |weight|.
    assert!(top
        .crosses
        .windows(2)
        .all(|w| w[0].weight.abs() >= w[1].weight.abs()));
    let mlp = train(&rows, &quick(Learner::Mlp(MlpOptions::default()))).expect("trains");
    assert_eq!(mlp.top_weights(rows.iter(), 5), TopWeights::default());
}
