//! A dropped SSH connection or a `kill` must leave the operator's terminal usable: the
//! console restores it (leaves the alternate screen, shows the cursor, ends raw mode) and
//! exits with 128 + the signal. The console runs on a pseudo-terminal here, since CI has none.

use nix::pty::{openpty, Winsize};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// Starts the console on a fresh (empty, created here: the console never creates one)
/// database in an 80x24 pty, waits until it has drawn, sends
/// `sig`, and returns the exit code and everything it wrote.
fn console_killed_by(sig: Signal) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("sig.db");
    drop(liftdeck::store::Store::open(&db).expect("create the database"));
    let size = Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&size), None).expect("openpty");
    let slave = |_| Stdio::from(pty.slave.try_clone().expect("dup pty"));
    let mut child = Command::new(crate::common::bin())
        .args(["--db", db.to_str().expect("path")])
        .env("LIFTDECK_ACTOR", "signal-test")
        .stdin(slave(0))
        .stdout(slave(1))
        .stderr(slave(2))
        .spawn()
        .expect("spawn console");
    drop(pty.slave);
    let output = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let output = output.clone();
        let mut master = std::fs::File::from(pty.master);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child has exited and the slave side is closed.
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                output.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        })
    };
    // Wait (no deadline: a hang is a failure CI reports) for the first frame.
    loop {
        let seen = String::from_utf8_lossy(&output.lock().expect("lock")).into_owned();
        if seen.contains("Campaigns") && seen.contains("quit") {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("console exited early with {status}: {seen}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let before = output.lock().expect("lock").len();
    kill(Pid::from_raw(child.id() as i32), sig).expect("signal");
    let status = child.wait().expect("wait");
    let _ = reader.join();
    let all = output.lock().expect("lock").clone();
    (
        status.code(),
        String::from_utf8_lossy(&all[before..]).into_owned(),
    )
}

#[test]
fn sigterm_restores_the_terminal_and_exits_143() {
    let (code, after) = console_killed_by(Signal::SIGTERM);
    assert_eq!(code, Some(143), "output after the signal: {after:?}");
    assert!(
        after.contains("\x1b[?1049l"),
        "left the alternate screen: {after:?}"
    );
    assert!(
        after.contains("\x1b[?25h"),
        "showed the cursor again: {after:?}"
    );
}

#[test]
fn sighup_from_a_dropped_connection_restores_and_exits_129() {
    let (code, after) = console_killed_by(Signal::SIGHUP);
    assert_eq!(code, Some(129), "output after the signal: {after:?}");
    assert!(
        after.contains("\x1b[?1049l"),
        "left the alternate screen: {after:?}"
    );
}
