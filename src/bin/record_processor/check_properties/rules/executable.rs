//! The `executableName` check: the processor the daemon will start must be there and
//! runnable by this user.

use std::path::Path;

use super::super::parse::Entry;
use super::Report;

/// The processor's command: the daemon splits executableName on spaces (no shell, no quoting)
/// and hands the words to ProcessBuilder, which looks a bare name up in PATH.
pub(super) fn check_executable(
    entry: &Entry,
    path_env: Option<&std::ffi::OsStr>,
    report: &mut Report,
) {
    let line = Some(entry.line);
    // Java's split(" +") keeps a leading empty word when the value starts with a space.
    let first = entry.value.split(' ').next().unwrap_or("");
    if entry.value.trim().is_empty() {
        report.error(line, "executableName is empty".to_owned());
        return;
    }
    if first.is_empty() {
        report.error(
            line,
            "executableName starts with a space: the daemon would run an empty command".to_owned(),
        );
        return;
    }
    if !first.contains('/') {
        match find_in_path(first, path_env) {
            Some(found) => report.warn(
                line,
                format!(
                    "executableName runs \"{first}\", a bare name the daemon looks up in PATH (here: {}); an absolute path does not depend on PATH",
                    found.display()
                ),
            ),
            None => report.error(
                line,
                format!(
                    "executableName runs \"{first}\", which is not an absolute path and is not found in PATH: use the absolute path of the processor"
                ),
            ),
        }
        return;
    }
    if !first.starts_with('/') {
        report.error(
            line,
            format!(
                "executableName runs \"{first}\", a relative path, resolved against the daemon's working directory: use an absolute path"
            ),
        );
        return;
    }
    if let Err(why) = executable_file(Path::new(first)) {
        report.error(line, format!("executableName runs {first}, which {why}"));
    }
}

/// Ok if `path` is a regular file (after symlinks) that this user may execute.
pub(super) fn executable_file(path: &Path) -> Result<(), &'static str> {
    let meta = std::fs::metadata(path).map_err(|_| "does not exist")?;
    if !meta.is_file() {
        return Err("is not a regular file");
    }
    if !may_execute(path) {
        return Err("is not executable (chmod +x)");
    }
    Ok(())
}

/// access(2) with X_OK: the checker runs as the same user as the daemon (run.sh starts both),
/// so this answers for the daemon too, root and ACLs included — mode bits alone would not.
pub(super) fn may_execute(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::X_OK) == 0 }
}

pub(super) fn find_in_path(
    name: &str,
    path_env: Option<&std::ffi::OsStr>,
) -> Option<std::path::PathBuf> {
    std::env::split_paths(path_env?)
        .map(|dir| dir.join(name))
        .find(|candidate| executable_file(candidate).is_ok())
}
