//! The ingest benchmark's baseline: the sqlite3 shell's plain CSV `.import`, run as a child
//! process so its wall time includes what a user of the shell would wait for.

use super::procfs::waited_children_cpu_seconds;
use super::remove_db;
use crate::store::shell_baseline;
use anyhow::{bail, ensure, Context};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What the shell loads: the events CSV alone (the first baseline, kept so old figures
/// compare), or the assignments CSV too (the same records liftdeck ingests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Baseline {
    EventsOnly,
    AssignmentsAndEvents,
}

/// The baseline: the sqlite3 shell loading CSV into plain tables (no indexes, no validation,
/// no rollups), with the same journal settings liftdeck uses. Returns the child's wall time
/// (process start and final checkpoint included) and, where /proc tells, its CPU time.
pub(super) fn sqlite_import(
    sqlite3: &Path,
    db: &Path,
    files: &super::input::TrafficFiles,
    events: u64,
    what: Baseline,
) -> anyhow::Result<(f64, Option<f64>)> {
    remove_db(db)?;
    let mut imports = vec![(&files.csv, "events", shell_baseline::COUNT_EVENTS, events)];
    if what == Baseline::AssignmentsAndEvents {
        imports.insert(
            0,
            (
                &files.assignments_csv,
                "assignments",
                shell_baseline::COUNT_ASSIGNMENTS,
                files.assignments,
            ),
        );
    }
    // The SQL is the store's; the dot-commands are the shell's own.
    let mut script = format!("{}.mode csv\n", shell_baseline::IMPORT_PRELUDE);
    for (csv, table, _, _) in &imports {
        let csv_text = csv.to_str().context("CSV path is not UTF-8")?;
        ensure!(
            !csv_text.contains(['"', '\n', '\\']),
            "CSV path {csv_text} cannot be quoted for the sqlite3 shell"
        );
        script.push_str(&format!(".import --skip 1 \"{csv_text}\" {table}\n"));
    }
    let children_cpu = waited_children_cpu_seconds();
    let started = Instant::now();
    let mut child = Command::new(sqlite3)
        .arg("-bail")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", sqlite3.display()))?;
    child
        .stdin
        .take()
        .context("sqlite3 stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = match (children_cpu, waited_children_cpu_seconds()) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    if !out.status.success() || !out.stderr.is_empty() {
        bail!(
            "sqlite3 .import failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (_, table, sql, expected) in imports {
        let count = Command::new(sqlite3).arg(db).arg(sql).output()?;
        let count: u64 = String::from_utf8_lossy(&count.stdout)
            .trim()
            .parse()
            .context("counting imported rows")?;
        ensure!(
            count == expected,
            "sqlite3 imported {count} of {expected} {table} rows"
        );
    }
    Ok((seconds, cpu))
}
