//! `record_processor check-properties` run as a process on property files in a temporary
//! directory, against fake jar directories of both KCL generations, and on the repository's
//! own template as set_properties.sh renders it.

mod common;

use common::binary;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary directory with `jars2/` (KCL 2.5.8) and `jars3/` (KCL 3.5.3) holding an empty
/// multilang jar each: the checker only reads the name.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (sub, version) in [("jars2", "2.5.8"), ("jars3", "3.5.3")] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            let jar = format!("amazon-kinesis-client-multilang-{version}.jar");
            std::fs::write(dir.path().join(sub).join(jar), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("nojars")).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs check-properties on `text` with the jars of `jars` ("jars2", "jars3", "nojars" or
    /// "" for no --jars-dir).
    fn check(&self, text: &str, jars: &str) -> Outcome {
        let file = self.write("app.properties", text);
        self.check_file(&file, jars, &[])
    }

    fn check_file(&self, file: &Path, jars: &str, extra: &[&str]) -> Outcome {
        let mut cmd = Command::new(binary());
        cmd.arg("check-properties")
            .env_remove("JARS_DIR")
            .env_remove("STOP_TIMEOUT_MS");
        if !jars.is_empty() {
            cmd.arg("--jars-dir").arg(self.path(jars));
        }
        let out = cmd.args(extra).arg(file).output().unwrap();
        Outcome {
            code: out.status.code().unwrap(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn errors(&self) -> Vec<&str> {
        self.lines("check-properties: ERROR: ")
    }

    fn warnings(&self) -> Vec<&str> {
        self.lines("check-properties: WARNING: ")
    }

    fn lines(&self, prefix: &str) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    fn has_error(&self, needle: &str) -> bool {
        self.errors().iter().any(|l| l.contains(needle))
    }

    fn has_warning(&self, needle: &str) -> bool {
        self.warnings().iter().any(|l| l.contains(needle))
    }
}

/// A valid KCL 3.x file, with `/bin/sh` standing in for the processor.
const GOOD_V3: &str = "\
# comment
executableName = /bin/sh -c true
streamName = s
applicationName = a
regionName = us-east-1
AwsCredentialsProvider = DefaultCredentialsProvider
retrievalMode = FANOUT
shutdownGraceMillis = 25000
";

/// The same for KCL 2.x credentials.
fn good_v2() -> String {
    GOOD_V3.replace(
        "AwsCredentialsProvider = DefaultCredentialsProvider",
        "AWSCredentialsProvider = DefaultAWSCredentialsProviderChain",
    )
}

#[test]
fn clean_files_exit_0_with_a_summary() {
    let fx = Fixture::new();
    for (text, jars) in [(GOOD_V3.to_owned(), "jars3"), (good_v2(), "jars2")] {
        let out = fx.check(&text, jars);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.is_empty(), "stdout must stay clean: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        assert!(out.stderr.contains("0 error(s), 0 warning(s)"), "{out:?}");
    }
    let out = fx.check(GOOD_V3, "jars3");
    assert!(out.stderr.contains("KCL 3.5.3"), "{out:?}");
}

#[test]
fn unreadable_file_exits_2() {
    let fx = Fixture::new();
    let out = fx.check_file(&fx.path("missing.properties"), "jars3", &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.has_error("cannot read"), "{out:?}");
}

#[test]
fn missing_required_keys_are_errors() {
    let fx = Fixture::new();
    let out = fx.check("# nothing\n", "jars3");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.has_error("executableName is missing"), "{out:?}");
    assert!(out.has_error("applicationName"), "{out:?}");
    assert!(out.has_error("neither streamName nor streamArn"), "{out:?}");
    assert!(out.has_error("no credentials provider"), "{out:?}");
    let file = fx.path("app.properties").display().to_string();
    assert!(
        out.errors()
            .iter()
            .all(|l| l.starts_with(&format!("check-properties: ERROR: {file}: "))),
        "whole-file findings carry no line: {out:?}"
    );
    // streamArn instead of streamName is fine.
    let text = GOOD_V3.replace(
        "streamName = s",
        "streamArn = arn:aws:kinesis:us-east-1:123456789012:stream/s",
    );
    assert_eq!(fx.check(&text, "jars3").code, 0);
}

#[test]
fn executable_name_must_be_an_absolute_executable() {
    let fx = Fixture::new();
    let plain = fx.write("not-executable", "#!/bin/sh\n");
    let directory = fx.path("jars3");
    let cases = [
        ("/no/such/processor --x", "does not exist"),
        ("relative/processor", "relative path"),
        ("no-such-command-anywhere", "not found in PATH"),
        (directory.to_str().unwrap(), "not a regular file"),
    ];
    for (exe, needle) in cases {
        let out = fx.check(&GOOD_V3.replace("/bin/sh -c true", exe), "jars3");
        assert_eq!(out.code, 1, "{exe}: {out:?}");
        assert!(out.has_error(needle), "{exe}: {out:?}");
        assert!(
            out.has_error(":2: executableName"),
            "the line is given: {out:?}"
        );
    }
    // access(X_OK) needs at least one x bit even for root, so this holds for every user.
    let out = fx.check(
        &GOOD_V3.replace("/bin/sh -c true", plain.to_str().unwrap()),
        "jars3",
    );
    assert!(out.has_error("not executable"), "{out:?}");
    // A bare name found in PATH works, but depends on PATH: a warning.
    let out = fx.check(&GOOD_V3.replace("/bin/sh", "sh"), "jars3");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.has_warning("bare name"), "{out:?}");
}

#[test]
fn unknown_keys_get_the_closest_known_one() {
    let fx = Fixture::new();
    let text = format!(
        "{GOOD_V3}RetrievalMode = FANOUT\ncloudWatchEndpoint = http://localhost:4566\n\
         consumerName = c\nmaxLeasesForWorkr = 3\nStreamName = s\nquiteUnrelatedThing = 1\n\
         fanoutConfig.consumerName = fine\ncloudWatchClient.endpointOverride = http://localhost:4566\n"
    );
    let out = fx.check(&text, "jars3");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.has_warning(
            ":9: RetrievalMode is not a KCL property and is silently ignored: use retrievalMode"
        ),
        "{out:?}"
    );
    assert!(out.has_warning(":10: cloudWatchEndpoint is not a KCL property and is silently ignored: use cloudWatchClient.endpointOverride"), "{out:?}");
    assert!(out.has_warning(":11: consumerName is not a KCL property and is silently ignored: use fanoutConfig.consumerName"), "{out:?}");
    assert!(out.has_warning(":12: unknown key maxLeasesForWorkr is silently ignored: did you mean maxLeasesForWorker?"), "{out:?}");
    assert!(out.has_warning(":13: unknown key StreamName is silently ignored: keys are case-sensitive, did you mean streamName?"), "{out:?}");
    assert!(
        out.has_warning(":14: unknown key quiteUnrelatedThing"),
        "{out:?}"
    );
    assert_eq!(out.warnings().len(), 6, "{out:?}");
    assert!(out.stderr.contains("0 error(s), 6 warning(s)"), "{out:?}");
}

#[test]
fn polling_keys_with_fanout_or_default() {
    let fx = Fixture::new();
    let with_polling = format!("{GOOD_V3}maxRecords = 500\nidleTimeBetweenReadsInMillis = 700\n");
    let out = fx.check(&with_polling, "jars3");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.has_warning(
            ":9: maxRecords is a polling setting and is ignored: retrievalMode = FANOUT"
        ),
        "{out:?}"
    );
    assert!(
        out.has_warning(":10: idleTimeBetweenReadsInMillis is a polling setting and is ignored"),
        "{out:?}"
    );

    let out = fx.check(
        &with_polling.replace("retrievalMode = FANOUT", "retrievalMode = DEFAULT"),
        "jars3",
    );
    assert!(
        out.has_warning("maxRecords silently switches retrievalMode DEFAULT to POLLING"),
        "{out:?}"
    );
    let out = fx.check(
        &with_polling.replace("retrievalMode = FANOUT\n", ""),
        "jars3",
    );
    assert!(
        out.has_warning("silently switches retrievalMode (unset, so DEFAULT) to POLLING"),
        "{out:?}"
    );
    let out = fx.check(&with_polling.replace("FANOUT", "POLLING"), "jars3");
    assert_eq!(out.warnings().len(), 0, "{out:?}");
    let out = fx.check(&GOOD_V3.replace("FANOUT", "FANOUT_PLEASE"), "jars3");
    assert!(
        out.has_error("retrievalMode = \"FANOUT_PLEASE\" is not one of"),
        "{out:?}"
    );
}

#[test]
fn shutdown_grace_against_the_stop_timeout() {
    let fx = Fixture::new();
    let out = fx.check(&GOOD_V3.replace("25000", "45000"), "jars3");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.has_error(":8: shutdownGraceMillis = 45000 is not below the stop timeout (30000 ms"),
        "{out:?}"
    );
    // A longer stop timeout (ECS stopTimeout up to 120 s) allows it.
    let file = fx.write("long.properties", &GOOD_V3.replace("25000", "45000"));
    let out = fx.check_file(&file, "jars3", &["--stop-timeout-ms", "60000"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = fx.check(&GOOD_V3.replace("25000", "0"), "jars3");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.has_warning("shutdownGraceMillis = 0"), "{out:?}");
    let out = fx.check(
        &GOOD_V3.replace("shutdownGraceMillis = 25000\n", ""),
        "jars3",
    );
    assert!(out.has_warning("shutdownGraceMillis is not set"), "{out:?}");
}

#[test]
fn credentials_follow_the_kcl_version_of_the_jars() {
    let fx = Fixture::new();
    // KCL 3.x rejects the SDK v1 name.
    let v1_value = GOOD_V3.replace(
        "DefaultCredentialsProvider",
        "DefaultAWSCredentialsProviderChain",
    );
    let out = fx.check(&v1_value, "jars3");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.has_error(":6: AwsCredentialsProvider: DefaultAWSCredentialsProviderChain is an AWS SDK v1 class name, which KCL 3.5.3 cannot load"), "{out:?}");
    // KCL 2.5.8 reads only AWSCredentialsProvider, with SDK v1 names.
    let out = fx.check(GOOD_V3, "jars2");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.has_error(":6: AwsCredentialsProvider is ignored by KCL 2.5.8"),
        "{out:?}"
    );
    let out = fx.check(
        &good_v2().replace(
            "DefaultAWSCredentialsProviderChain",
            "DefaultCredentialsProvider",
        ),
        "jars2",
    );
    assert!(
        out.has_error(
            "DefaultCredentialsProvider is an AWS SDK v2 class name, which KCL 2.5.8 cannot load"
        ),
        "{out:?}"
    );
    // KCL 3.x accepts the 2.x key spelling (its key is case-insensitive) with a v2 name.
    let out = fx.check(
        &good_v2().replace(
            "DefaultAWSCredentialsProviderChain",
            "DefaultCredentialsProvider",
        ),
        "jars3",
    );
    assert_eq!(out.code, 0, "{out:?}");
    // Version unknown: a mismatch is only a warning.
    for jars in ["nojars", ""] {
        let out = fx.check(&v1_value, jars);
        assert_eq!(out.code, 0, "{jars}: {out:?}");
        assert!(
            out.has_warning("DefaultAWSCredentialsProviderChain"),
            "{jars}: {out:?}"
        );
        assert!(
            out.stderr.contains("KCL version unknown"),
            "{jars}: {out:?}"
        );
    }
}

#[test]
fn jars_dir_comes_from_the_environment_too() {
    let fx = Fixture::new();
    let file = fx.write("env.properties", GOOD_V3);
    let out = Command::new(binary())
        .args(["check-properties"])
        .arg(&file)
        .env("JARS_DIR", fx.path("jars2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("KCL 2.5.8"), "{stderr}");
}

#[test]
fn quoted_values_and_file_syntax() {
    let fx = Fixture::new();
    let text = format!(
        "{GOOD_V3}initialPositionInStream = \"LATEST\"\ntableName : 'leases'\n\
         metricsEnabledDimensions = Operation,\\\n    ShardId\n! a comment\nfailoverTimeMillis\t10000\n"
    );
    let out = fx.check(&text, "jars3");
    assert!(
        out.has_warning(":9: the value of initialPositionInStream is in quotes"),
        "{out:?}"
    );
    assert!(
        out.has_warning(":10: the value of tableName is in quotes"),
        "{out:?}"
    );
    // The quoted enum is also refused by the daemon.
    assert!(
        out.has_error(":9: initialPositionInStream = \"\"LATEST\"\" is not one of"),
        "{out:?}"
    );
    assert_eq!(out.warnings().len(), 2, "{out:?}");
    assert_eq!(out.errors().len(), 1, "{out:?}");
    // A malformed \u escape makes the daemon's Properties.load throw.
    let out = fx.check(&format!("{GOOD_V3}tableName = \\uXYZW\n"), "jars3");
    assert!(out.has_error(":9: malformed \\uXXXX escape"), "{out:?}");
}

/// set_properties.sh renders the repository's template; the result has no errors.
#[test]
fn the_rendered_template_has_no_errors() {
    let fx = Fixture::new();
    for jars in ["jars3", "jars2"] {
        let rendered = fx.path(&format!("rendered-{jars}.properties"));
        let out = Command::new(repo().join("set_properties.sh"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("REGION", "us-east-1")
            .env("STREAM_NAME", "s")
            .env("APPLICATION_NAME", "a")
            .env("APP_HOME", repo())
            .env("PROPERTIES_FILE", &rendered)
            .env("JARS_DIR", fx.path(jars))
            .env("RECORD_PROCESSOR_BIN", binary())
            .env("LOG_DIR", fx.path("logs"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "set_properties.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = fx.check_file(&rendered, jars, &[]);
        assert_eq!(out.code, 0, "{jars}: {out:?}");
        assert!(out.errors().is_empty(), "{jars}: {out:?}");
        assert!(
            out.warnings().is_empty(),
            "{jars}: the template should be clean: {out:?}"
        );
    }
}

/// The template itself, checked by mistake: the answer is "render it first", not a complaint
/// about `@EXECUTABLE_NAME@` as a path.
#[test]
fn the_unrendered_template_is_named_as_such_with_how_to_render_it() {
    let fx = Fixture::new();
    let template = repo().join("properties/record_processor.properties");
    let out = fx.check_file(&template, "jars3", &[]);
    assert_eq!(out.code, 1, "{out:?}");
    let errors = out.errors();
    assert!(
        errors[0].contains("this is the unrendered template")
            && errors[0].contains("./set_properties.sh")
            && errors[0].contains("PROPERTIES_FILE="),
        "the first finding says how to render: {out:?}"
    );
    for (key, from) in [
        ("executableName", "RECORD_PROCESSOR_BIN and LOG_DIR"),
        ("streamName", "STREAM_NAME"),
        ("applicationName", "APPLICATION_NAME"),
        ("regionName", "REGION"),
    ] {
        assert!(
            errors.iter().any(|e| e.contains(&format!("{key} = @"))
                && e.contains(&format!("set_properties.sh fills it from {from})"))),
            "{key}: {out:?}"
        );
    }
    assert_eq!(errors.len(), 5, "{out:?}");
    assert!(
        !out.stderr.contains("PATH") && !out.stderr.contains("absolute path"),
        "the placeholder is not judged as a path: {out:?}"
    );
}
