//! `liftdeck bench causal` runs end to end without Python and reports every stage; the
//! generated data set is seeded and the liftdeck estimates recover its true effect.

use super::common::bin;
use liftdeck::app::bench::{bench_causal, synthetic_units};
use std::process::Command;

#[test]
fn bench_causal_prints_every_stage_without_python() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["bench", "causal", "--units", "2000", "--repeats", "1"])
        .args(["--python", "none", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for label in [
        "propensity fit + IPW + AIPW",
        "T-learner fit (70%)",
        "X-learner fit (70%)",
        "T: score 30% + Qini/AUUC/deciles",
        "X: score 30% + Qini/AUUC/deciles",
        "of which the propensity fit alone",
        "total",
        "aipw_ate",
        "qini_x",
    ] {
        assert!(text.contains(label), "missing {label} in\n{text}");
    }
    // `--python none` writes no CSV for a comparison that does not run.
    assert!(!dir.path().join("causal_units.csv").exists());
}

#[test]
fn bench_causal_data_is_seeded_and_estimates_find_the_effect() {
    let a = synthetic_units(500, 3);
    let b = synthetic_units(500, 3);
    assert_eq!(a.x, b.x);
    assert_eq!(a.converted, b.converted);
    assert_ne!(synthetic_units(500, 4).x, a.x);
    let dir = tempfile::tempdir().unwrap();
    let r = bench_causal(20_000, 1, 1, dir.path(), None).unwrap();
    let est = |k: &str| r.liftdeck.estimates[k].unwrap();
    // Confounding biases the naive difference; AIPW is within a few SEs (SE about 0.005).
    assert!((est("aipw_ate") - r.true_ate).abs() < 0.02, "{r}");
    assert!((est("naive") - r.true_ate).abs() > (est("aipw_ate") - r.true_ate).abs());
    assert!(est("qini_t") > 0.0 && est("qini_x") > 0.0, "{r}");
    assert_eq!(r.liftdeck.stages.len(), 6);
}
