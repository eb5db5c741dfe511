//! Rotation, and following a file another process rotated.

use std::fs;

use tracing::Level;

use crate::logging::{LogConfig, LogFile, LogFormat};

#[test]
fn a_file_rotated_by_another_process_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        path: dir.path().join("shared.log"),
        max_bytes: 100,
        backups: 3,
        format: LogFormat::Text,
        level: Level::INFO,
    };
    // Two children writing the same file, each with its own LogFile.
    let (a, b) = (
        LogFile::open(&config).unwrap(),
        LogFile::open(&config).unwrap(),
    );
    let mut written = Vec::new();
    for i in 0..40 {
        let (who, log) = if i % 3 == 0 { ("b", &b) } else { ("a", &a) };
        let line = format!("{who} line {i:02} {}", "p".repeat(i % 7 * 5));
        log.write_line(&line).unwrap();
        log.flush().unwrap();
        written.push(line);
        // Whoever wrote last wrote to the file the path names now.
        let current = fs::read_to_string(&config.path).unwrap();
        assert!(
            current.ends_with(&format!("{}\n", written.last().unwrap())),
            "{i}"
        );
    }
    let mut found = String::new();
    for n in ["", ".1", ".2", ".3"] {
        let mut path = config.path.clone().into_os_string();
        path.push(n);
        found.push_str(&fs::read_to_string(path).unwrap_or_default());
    }
    // Three backups of about 100 bytes keep the last dozen lines, each exactly once.
    for line in written.iter().rev().take(10) {
        assert_eq!(found.matches(&format!("{line}\n")).count(), 1, "{line}");
    }
}
