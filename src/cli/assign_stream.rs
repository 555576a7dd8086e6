//! `assign KEY --batch`: the storefront's pipe. Units arrive on stdin, one per line; each line
//! gets one decision line back, in order. Lines are gathered into a batch until it is full or
//! the input has been quiet for a moment, so a busy pipe is decided a thousand units to one
//! transaction and a quiet one still answers within milliseconds.

use super::{Session, EXIT_REJECTS};
use anyhow::Result;
use liftdeck::app::assign_batch::{assign_batch, AssignRequest};
use liftdeck::app::{Assignment, Env};
use liftdeck::lines::DEFAULT_MAX_LINE_BYTES;
use liftdeck::text::escape_control;
use std::io::{BufRead, Read, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// Units per batch at most: one look-up and one write transaction each.
const BATCH: usize = 1_000;
/// How long the input may pause before a partial batch is decided.
const QUIET: Duration = Duration::from_millis(5);

/// One line of input as the reader thread hands it on.
#[derive(Debug, Clone, PartialEq)]
enum Line {
    Text(String),
    /// Not UTF-8, or longer than the limit: answered with an error line like any bad line.
    Bad(String),
    End,
}

/// The next line of `input` without its newline, holding at most `max` bytes of it in memory
/// (the rest of a longer line is skipped); `None` at the end of the input.
fn read_line(input: &mut impl BufRead, max: usize) -> std::io::Result<Option<Line>> {
    let mut buf = Vec::new();
    let n = input
        .by_ref()
        .take(max as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > max {
        // Skip to the end of the over-long line, a buffer at a time.
        loop {
            let chunk = input.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    input.consume(i + 1);
                    break;
                }
                None => {
                    let len = chunk.len();
                    input.consume(len);
                }
            }
        }
        return Ok(Some(Line::Bad(format!("line longer than {max} bytes"))));
    }
    Ok(Some(match String::from_utf8(buf) {
        Ok(text) => Line::Text(text),
        Err(_) => Line::Bad("line is not UTF-8".into()),
    }))
}

/// One input line as a request, or why it is not one.
fn parse(line: &str) -> std::result::Result<AssignRequest, String> {
    let line = line.trim();
    if line.is_empty() {
        return Err("empty line: expected a unit id".into());
    }
    if !line.starts_with('{') {
        return Ok(AssignRequest {
            unit: line.to_string(),
            context: Default::default(),
        });
    }
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("JSON: {e}"))?;
    let unit = v
        .get("unit")
        .and_then(|u| u.as_str())
        .ok_or("field `unit`: expected a string")?;
    let context = match v.get("context") {
        None | Some(serde_json::Value::Null) => Default::default(),
        Some(serde_json::Value::Object(m)) => m.clone(),
        Some(_) => return Err("field `context`: expected a JSON object".into()),
    };
    Ok(AssignRequest {
        unit: unit.to_string(),
        context,
    })
}

/// One decision line: `UNIT<TAB>ARM`, `UNIT<TAB>-` when excluded, or JSON with --json.
fn render(
    n: u64,
    unit: Option<&str>,
    result: &std::result::Result<Assignment, String>,
    json: bool,
) -> String {
    match (result, json) {
        (
            Ok(Assignment::Arm {
                arm,
                propensity,
                new,
            }),
            true,
        ) => serde_json::json!({
            "line": n, "unit": unit, "arm": arm, "propensity": propensity, "new": new,
        })
        .to_string(),
        (Ok(Assignment::Excluded), true) => {
            serde_json::json!({ "line": n, "unit": unit, "arm": null, "excluded": true })
                .to_string()
        }
        (Err(e), true) => serde_json::json!({ "line": n, "unit": unit, "error": e }).to_string(),
        (Ok(Assignment::Arm { arm, .. }), false) => {
            format!("{}\t{arm}", escape_control(unit.unwrap_or("")))
        }
        (Ok(Assignment::Excluded), false) => format!("{}\t-", escape_control(unit.unwrap_or(""))),
        (Err(_), false) => format!("{}\t!", escape_control(unit.unwrap_or(""))),
    }
}

pub fn assign_stream(session: &Session, env: &Env, key: &str, json: bool) -> Result<ExitCode> {
    let mut store = session.open_to_write()?;
    let ids = session.unit_ids(&mut store, env)?;
    // Fails early (unknown or stopped campaign) before any input is read.
    store.campaign(key)?;
    let (send, lines) = mpsc::sync_channel::<std::io::Result<Line>>(4 * BATCH);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let line = read_line(&mut stdin, DEFAULT_MAX_LINE_BYTES);
            let end = matches!(line, Ok(None) | Err(_));
            if send.send(line.map(|l| l.unwrap_or(Line::End))).is_err() || end {
                return;
            }
        }
    });
    let mut stdout = std::io::stdout().lock();
    let (mut n, mut bad) = (0u64, 0u64);
    let mut open = true;
    while open {
        let first = match lines.recv() {
            Ok(line) => line?,
            Err(_) => break,
        };
        if first == Line::End {
            break;
        }
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match lines.recv_timeout(QUIET) {
                Ok(line) => match line? {
                    Line::End => {
                        open = false;
                        break;
                    }
                    line => batch.push(line),
                },
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let parsed: Vec<_> = batch
            .iter()
            .map(|l| match l {
                Line::Text(t) => parse(t),
                Line::Bad(why) => Err(why.clone()),
                Line::End => Err("end of input".into()),
            })
            .collect();
        let requests: Vec<AssignRequest> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
        let mut decided = assign_batch(&mut store, env, &ids, key, requests)?.into_iter();
        let mut text = String::new();
        for p in &parsed {
            n += 1;
            let (unit, result) = match p {
                Ok(r) => (
                    Some(r.unit.as_str()),
                    decided.next().unwrap_or_else(|| Err("no decision".into())),
                ),
                Err(e) => (None, Err(e.clone())),
            };
            if let Err(e) = &result {
                bad += 1;
                eprintln!("line {n}: {}", escape_control(e));
            }
            text.push_str(&render(n, unit, &result, json));
            text.push('\n');
        }
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
    }
    Ok(if bad > 0 {
        ExitCode::from(EXIT_REJECTS)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_bounded_and_bad_bytes_become_bad_lines() {
        let mut input = std::io::Cursor::new(b"u1\n\xff\xfe\nabcdefghij\nu2".to_vec());
        let mut got = Vec::new();
        while let Some(line) = read_line(&mut input, 5).expect("read") {
            got.push(line);
        }
        assert_eq!(
            got,
            vec![
                Line::Text("u1".into()),
                Line::Bad("line is not UTF-8".into()),
                Line::Bad("line longer than 5 bytes".into()),
                Line::Text("u2".into()),
            ]
        );
    }

    #[test]
    fn a_line_is_an_id_or_a_json_request_and_anything_else_says_why() {
        assert_eq!(parse("  u1 \n").map(|r| r.unit), Ok("u1".to_string()));
        let r = parse(r#"{"unit":"u2","context":{"device":"mobile"}}"#).expect("json");
        assert_eq!(
            (r.unit.as_str(), r.context["device"].as_str()),
            ("u2", Some("mobile"))
        );
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse(r#"{"unit":3}"#).unwrap_err().contains("`unit`"));
        assert!(parse(r#"{"unit":"u","context":[1]}"#)
            .unwrap_err()
            .contains("`context`"));
        assert!(parse("{not json").unwrap_err().contains("JSON"));
    }
}
