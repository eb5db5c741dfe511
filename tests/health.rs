//! `record_processor health` as the container's HEALTHCHECK runs it: where it finds the state
//! directory when none is given, and that it answers 0 or 1 only (Docker reserves 2), whatever
//! goes wrong.

mod common;

use common::binary;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `health` in `cwd` with only PATH and `env` in its environment; returns (status, stdout).
fn health(cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> (i32, String) {
    let mut cmd = Command::new(binary());
    cmd.arg("health")
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let code = out.status.code().expect("exited, not killed");
    assert!(
        code == 0 || code == 1,
        "health must exit 0 or 1, never {code}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (code, String::from_utf8(out.stdout).unwrap())
}

/// A state directory whose daemon.pid names a live process (this test).
fn live_state(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("daemon.pid"), format!("{}\n", std::process::id())).unwrap();
    dir.to_owned()
}

/// A state directory whose daemon.pid names a process that is gone.
fn dead_state(dir: &Path) -> PathBuf {
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("daemon.pid"), format!("{pid}\n")).unwrap();
    dir.to_owned()
}

/// Dates a state directory and everything in it, as if its worker last wrote then.
fn set_mtime(dir: &Path, date: &str) {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.push(dir.to_owned());
    let ok = Command::new("touch")
        .args(["-d", date])
        .args(&paths)
        .status()
        .unwrap()
        .success();
    assert!(ok, "touch -d {date} {paths:?}");
}

#[test]
fn the_state_dir_comes_from_record_processor_state_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let state = live_state(&tmp.path().join("elsewhere"));
    let (code, out) = health(tmp.path(), &[], &[("RECORD_PROCESSOR_STATE_DIR", &state)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("daemon: running (pid "), "{out}");
    // Given, so nothing to explain.
    assert!(!out.contains("state directory:"), "{out}");
}

#[test]
fn without_it_the_state_dir_is_derived_like_run_sh_does() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs-here");
    live_state(&logs.join("state"));
    let (code, out) = health(tmp.path(), &[], &[("LOG_DIR", &logs)]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "state directory: {}/state ($LOG_DIR/state",
            logs.display()
        )),
        "{out}"
    );

    let app = tmp.path().join("app");
    live_state(&app.join("logs/state"));
    let (code, out) = health(tmp.path(), &[], &[("APP_HOME", &app)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("($APP_HOME/logs/state"), "{out}");

    // LOG_DIR wins over APP_HOME, as in run.sh.
    let (code, out) = health(tmp.path(), &[], &[("APP_HOME", &app), ("LOG_DIR", &logs)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("($LOG_DIR/state"), "{out}");
}

#[test]
fn in_a_checkout_the_most_recently_changed_run_is_checked() {
    let checkout = tempfile::tempdir().unwrap();
    // An old `run.sh` run in the checkout, long over...
    let old = dead_state(&checkout.path().join("logs/state"));
    set_mtime(&old, "2001-01-01");
    // ...and the scripts/local-run.sh run going on now.
    let runs = checkout.path().join(".local/runs");
    let earlier = dead_state(&runs.join("20010101-000000/logs/state"));
    set_mtime(&earlier, "2001-01-02");
    let now = live_state(&runs.join("20990101-000000/logs/state"));
    let (code, out) = health(checkout.path(), &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("state directory: {} (", now.display())),
        "{out}"
    );

    // The old run.sh run changed last (a heartbeat file counts, not only the directory): it is
    // the one checked, and its daemon is gone.
    set_mtime(&now, "2000-01-01");
    // Rewriting a file in place leaves the directory's own time alone.
    let pid_file = old.join("daemon.pid");
    std::fs::write(&pid_file, std::fs::read(&pid_file).unwrap()).unwrap();
    let (code, out) = health(checkout.path(), &[], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("state directory: {} (", old.display())),
        "{out}"
    );
    assert!(out.contains("UNHEALTHY daemon: not running"), "{out}");

    // LOCAL_STACK_HOME moves the local runs, as in scripts/local-run.sh.
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = live_state(&elsewhere.path().join("runs/20990101-000000/logs/state"));
    let (code, out) = health(
        checkout.path(),
        &[],
        &[("LOCAL_STACK_HOME", elsewhere.path())],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("state directory: {} (", moved.display())),
        "{out}"
    );
}

#[test]
fn no_state_dir_anywhere_is_unhealthy_and_says_where_it_looked() {
    if Path::new("/app/logs/state").exists() {
        eprintln!("skipped: /app/logs/state exists on this machine, so a state directory is found");
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let (code, out) = health(empty.path(), &[], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("UNHEALTHY no state directory: none of ")
            && out.contains(&format!("{}/logs/state", empty.path().display()))
            && out.contains("/app/logs/state")
            && out.contains("--state-dir"),
        "{out}"
    );
}

#[test]
fn a_missing_or_unreadable_state_dir_is_unhealthy_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let (code, out) = health(tmp.path(), &["--state-dir", missing.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "UNHEALTHY cannot read the state directory {}: No such file or directory",
            missing.display()
        )),
        "{out}"
    );

    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let (code, out) = health(tmp.path(), &[], &[("RECORD_PROCESSOR_STATE_DIR", &file)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Not a directory"), "{out}");
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    // The reason on stdout, in health's own words, as for every other unhealthy answer.
    let (code, out) = health(tmp.path(), &["--no-such-option"], &[]);
    assert_eq!(code, 1);
    assert!(out.starts_with("UNHEALTHY bad option: "), "{out}");
    assert!(out.contains("--no-such-option"), "{out}");
    assert_eq!(out.lines().count(), 1, "one line: {out}");
    let (code, out) = health(tmp.path(), &["--stall-seconds", "soon"], &[]);
    assert_eq!(code, 1);
    assert!(out.starts_with("UNHEALTHY bad option: "), "{out}");
    assert!(out.contains("soon"), "{out}");
    let (code, out) = health(tmp.path(), &["--help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("--state-dir"), "{out}");
    // Other commands keep clap's status 2 for a usage error.
    let out = Command::new(binary())
        .args(["check-properties", "--no-such-option"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
