//! Every scripted fixture under fixtures/replays/ runs headlessly; every expectation must hold,
//! `snapshot` screens match the stored insta snapshots, and a second run gives the same screens.

use crate::common::*;
use liftdeck::replay::Replay;

fn run(text: &str) -> Replay {
    let mut replay = Replay::new((100, 30), false).expect("replay");
    replay.run(text).expect("fixture runs");
    replay
}

#[test]
fn every_replay_fixture_passes_and_is_deterministic() {
    let mut files: Vec<_> = std::fs::read_dir(fixture("replays"))
        .expect("replays dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let name = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("read");
        let first = run(&text);
        assert!(!first.checks.is_empty(), "{name} checks nothing");
        for c in &first.checks {
            assert!(c.passed, "{name} line {}: {}", c.line, c.message);
        }
        let second = run(&text);
        assert_eq!(
            first.snapshots(),
            second.snapshots(),
            "{name}: same file, same screens"
        );
        for (line, screen) in first.snapshots() {
            insta::assert_snapshot!(format!("{name}_line{line}"), screen);
        }
    }
}

#[test]
fn a_failing_expectation_is_reported_not_hidden() {
    let replay = run(r#"{"op":"create","key":"k","arms":"a:1,b:1"}
{"op":"expect_screen","contains":"no such text anywhere"}"#);
    assert_eq!(replay.checks.len(), 1);
    assert!(!replay.checks[0].passed);
    assert!(replay.checks[0].message.starts_with("FAILED"));
}

#[test]
fn a_malformed_operation_names_its_line() {
    let mut replay = Replay::new((80, 24), false).expect("replay");
    let err = replay
        .run("{\"op\":\"create\",\"key\":\"k\",\"arms\":\"a:1,b:1\"}\n{\"op\":\"warp\"}")
        .expect_err("unknown op");
    assert_eq!(err.line, 2);
    assert!(err.message.contains("unknown op `warp`"));
}
