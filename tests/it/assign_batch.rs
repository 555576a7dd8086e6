//! `assign KEY --batch`: one decision line per input line, in order; the same arms and logged
//! propensities as one `assign` per unit; a unit repeated in the input decided once; bad lines
//! named on stderr without stopping the rest (exit 3); a second run over the same units adds
//! nothing; the rollups stay equal to a recompute.

use crate::common::*;
use liftdeck::app::{self, Assignment};
use liftdeck::store::Store;
use std::io::Write;
use std::process::{Command, Stdio};

fn create(db: &std::path::Path, traffic: &str) {
    let out = run_cli(
        db,
        &[
            "campaign",
            "create",
            "--key",
            "c1",
            "--arms",
            "control:50,coupon:30,deep:20",
            "--seed",
            "777",
            "--traffic",
            traffic,
        ],
    );
    cli_ok(&out);
    cli_ok(&run_cli(db, &["campaign", "start", "c1"]));
}

fn piped(db: &std::path::Path, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("LIFTDECK_WAREHOUSE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let text = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("join").expect("write stdin");
    out
}

#[test]
fn a_batch_gives_each_line_the_arm_a_single_assign_gives_and_logs_it_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let (batch_db, single_db) = (dir.path().join("batch.db"), dir.path().join("single.db"));
    create(&batch_db, "0.8");
    create(&single_db, "0.8");
    let mut input = String::new();
    for i in 0..2_500 {
        input.push_str(&format!("u-{i}\n"));
    }
    input.push_str("u-7\n"); // a repeat in the same run
    input.push_str("{\"unit\":\"ctx-1\",\"context\":{\"device\":\"mobile\"}}\n");
    input.push('\n'); // an empty line
    input.push_str("{\"unit\":\n"); // broken JSON
    let out = piped(&batch_db, &["assign", "c1", "--batch", "--json"], &input);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2503: empty line"), "{err}");
    assert!(err.contains("line 2504: JSON"), "{err}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2_504, "one decision line per input line");

    let env = test_env();
    let mut single = Store::open(&single_db).expect("open");
    let mut excluded = 0;
    for (i, line) in lines.iter().take(2_500).enumerate() {
        assert_eq!(line["line"], i as u64 + 1);
        let unit = format!("u-{i}");
        assert_eq!(line["unit"], unit.as_str());
        match app::assign(&mut single, &env, "c1", &unit, Default::default()).expect("assign") {
            Assignment::Arm {
                arm, propensity, ..
            } => {
                assert_eq!(line["arm"], arm.as_str(), "{unit}");
                assert_eq!(line["propensity"].as_f64(), Some(propensity));
                assert_eq!(line["new"], true);
            }
            Assignment::Excluded => {
                excluded += 1;
                assert_eq!(line["excluded"], true, "{unit}");
            }
        }
    }
    assert!(
        excluded > 300 && excluded < 700,
        "80% traffic: {excluded} excluded"
    );
    assert_eq!(
        lines[2_500]["arm"], lines[7]["arm"],
        "a repeat keeps its arm"
    );
    // Not new a second time (or excluded both times: the hash decides u-7's traffic).
    assert!(lines[2_500]["new"] == false || lines[7]["excluded"] == true);
    assert!(lines[2_501]["arm"].is_string());
    assert!(lines[2_502]["error"].is_string() && lines[2_503]["error"].is_string());

    // What was logged is what one assign per unit logs.
    let batch = Store::open(&batch_db).expect("open");
    assert_rollups_consistent(&batch);
    assert_eq!(
        batch.unit_count("c1").expect("units"),
        single.unit_count("c1").expect("units") + 1 // ctx-1
    );
    let id = batch.campaign("c1").expect("c1").0.id;
    let units: Vec<String> = (0..2_500).map(|i| format!("u-{i}")).collect();
    let refs: Vec<&str> = units.iter().map(String::as_str).collect();
    let sid = single.campaign("c1").expect("c1").0.id;
    assert_eq!(
        batch.assignments_of(id, &refs).expect("stored"),
        single.assignments_of(sid, &refs).expect("stored")
    );
    drop(batch);

    // The same units again: every decision is the stored one, nothing new is written.
    let again = piped(&batch_db, &["assign", "c1", "--batch"], &input);
    assert_eq!(again.status.code(), Some(3));
    let text = String::from_utf8_lossy(&again.stdout);
    let plain: Vec<&str> = text.lines().collect();
    assert_eq!(plain.len(), 2_504);
    for (line, json) in plain.iter().zip(&lines).take(2_500) {
        let arm = json["arm"].as_str().unwrap_or("-");
        assert_eq!(
            *line,
            format!("{}\t{arm}", json["unit"].as_str().expect("unit"))
        );
    }
    let batch = Store::open(&batch_db).expect("open");
    assert_eq!(
        batch.unit_count("c1").expect("units"),
        single.unit_count("c1").expect("units") + 1
    );
}

#[test]
fn a_batch_on_a_campaign_that_is_not_running_is_refused_before_reading_input() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("paused.db");
    create(&db, "1");
    cli_ok(&run_cli(&db, &["campaign", "pause", "c1"]));
    let out = piped(&db, &["assign", "c1", "--batch"], "u-1\n");
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let no_unit = run_cli(&db, &["assign", "c1"]);
    assert_eq!(no_unit.status.code(), Some(64));
}
