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

/// Children of one daemon rotating the file they share at the same moment: each rotation must
/// happen once, so no rename puts one generation over another and no line is lost. Without a
/// lock between them, two rotations interleave (a second child renames the fresh file over the
/// generation the first one just made) and whole files of lines disappear.
#[test]
fn writers_rotating_the_same_file_at_once_lose_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        path: dir.path().join("shared.log"),
        max_bytes: 2_000,
        // Enough generations for every line written, so any missing line was lost by a
        // rotation, not aged out.
        backups: 400,
        format: LogFormat::Text,
        level: Level::INFO,
    };
    let (writers, lines) = (4, 1_500);
    let line = |w: usize, i: usize| format!("writer {w} line {i:05} {}", "x".repeat(i % 50));
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(writers));
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (config, barrier) = (config.clone(), std::sync::Arc::clone(&barrier));
            std::thread::spawn(move || {
                // Each its own LogFile, as each child process has.
                let log = LogFile::open(&config).unwrap();
                barrier.wait();
                for i in 0..lines {
                    log.write_line(&line(w, i)).unwrap();
                    log.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let mut found = std::collections::HashMap::new();
    let mut generations = 0;
    for entry in fs::read_dir(dir.path()).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        generations += 1;
        for line in text.lines() {
            *found.entry(line.to_owned()).or_insert(0) += 1;
        }
    }
    assert!(generations > 100, "the file rotated ({generations} files)");
    assert!(
        generations <= 401,
        "at most the backups and the file ({generations} files)"
    );
    let mut missing = 0;
    for w in 0..writers {
        for i in 0..lines {
            let line = line(w, i);
            match found.get(&line) {
                Some(1) => {}
                Some(n) => panic!("{line:?} is in the files {n} times"),
                None => missing += 1,
            }
        }
    }
    assert_eq!(missing, 0, "lines lost of {}", writers * lines);
    assert_eq!(found.len(), writers * lines, "nothing else in the files");
}
