//! Tests of the checks, over parsed property files.

use super::*;
use crate::check_properties::parse::parse;

fn run(text: &str, kcl: Detected) -> Vec<Finding> {
    let ctx = Context {
        kcl,
        stop_timeout_ms: 30_000,
        path_env: Some("/usr/bin:/bin".into()),
    };
    check(&parse(text.as_bytes()), &ctx)
}

const GOOD_V3: &str = "executableName = /bin/sh\nstreamName = s\napplicationName = a\n\
    AwsCredentialsProvider = DefaultCredentialsProvider\nretrievalMode = FANOUT\n\
    shutdownGraceMillis = 25000\n";
const GOOD_V2: &str = "executableName = /bin/sh\nstreamName = s\napplicationName = a\n\
    AWSCredentialsProvider = DefaultAWSCredentialsProviderChain\nretrievalMode = FANOUT\n\
    shutdownGraceMillis = 25000\n";

fn v3() -> Detected {
    Detected::Version(KclVersion::new(3, 5, 3))
}

fn v2() -> Detected {
    Detected::Version(KclVersion::new(2, 5, 8))
}

fn errors(f: &[Finding]) -> Vec<&str> {
    f.iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.message.as_str())
        .collect()
}

fn warnings(f: &[Finding]) -> Vec<&str> {
    f.iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| f.message.as_str())
        .collect()
}

fn has(list: &[&str], needle: &str) -> bool {
    list.iter().any(|m| m.contains(needle))
}

#[test]
fn good_files_are_clean() {
    assert_eq!(run(GOOD_V3, v3()), vec![]);
    assert_eq!(run(GOOD_V2, v2()), vec![]);
    // The 2.7 line already reads the 3.x-style credentials.
    assert_eq!(
        run(GOOD_V3, Detected::Version(KclVersion::new(2, 7, 3))),
        vec![]
    );
}

#[test]
fn missing_required_keys() {
    let f = run("", v3());
    let e = errors(&f);
    assert!(has(&e, "executableName is missing"));
    assert!(has(&e, "applicationName"));
    assert!(has(&e, "streamName nor streamArn"));
    assert!(has(&e, "no credentials provider"));
    // streamArn alone is enough.
    let text = GOOD_V3.replace(
        "streamName = s",
        "streamArn = arn:aws:kinesis:us-east-1:123456789012:stream/s",
    );
    assert_eq!(run(&text, v3()), vec![]);
    let text = GOOD_V3.replace("streamName = s", "streamArn = s");
    assert!(has(&errors(&run(&text, v3())), "not a Kinesis stream ARN"));
}

#[test]
fn placeholders_are_found_where_set_properties_puts_them() {
    assert_eq!(placeholder("@EXECUTABLE_NAME@"), Some("@EXECUTABLE_NAME@"));
    assert_eq!(placeholder("x @REGION@ y"), Some("@REGION@"));
    assert_eq!(placeholder("a@b.c @@ @lower@ @A"), None);
    assert_eq!(placeholder("me@example.com @X_Y@"), Some("@X_Y@"));
}

#[test]
fn the_unrendered_template_is_called_so_and_not_a_bad_path() {
    let text = GOOD_V3
        .replace("/bin/sh", "@EXECUTABLE_NAME@")
        .replace("streamName = s", "streamName = @STREAM_NAME@")
        + "regionName = @REGION@\nstreamArn = @STREAM_ARN@\n";
    let f = run(&text, v3());
    let e = errors(&f);
    assert!(has(&e, "executableName = @EXECUTABLE_NAME@: @EXECUTABLE_NAME@ is an unrendered placeholder (set_properties.sh fills it from RECORD_PROCESSOR_BIN and LOG_DIR)"), "{e:?}");
    assert!(has(
        &e,
        "@STREAM_NAME@ is an unrendered placeholder (set_properties.sh fills it from STREAM_NAME)"
    ));
    assert!(has(
        &e,
        "@REGION@ is an unrendered placeholder (set_properties.sh fills it from REGION)"
    ));
    assert!(has(
        &e,
        "@STREAM_ARN@ is an unrendered placeholder (set_properties.sh fills it from nothing"
    ));
    assert!(has(&e, "this is the unrendered template"));
    assert!(has(&e, "./set_properties.sh"));
    assert!(
        !has(&e, "PATH"),
        "no complaint about the placeholder as a path: {e:?}"
    );
    assert!(!has(&e, "not a Kinesis stream ARN"), "{e:?}");
    assert_eq!(e.len(), 5, "{e:?}");
    assert_eq!(
        f[0].line, None,
        "the how-to-render finding comes first: {f:?}"
    );
}

#[test]
fn executable_rules() {
    let with = |exe: &str| run(&GOOD_V3.replace("/bin/sh", exe), v3());
    assert_eq!(with("/bin/sh --flag x"), vec![]);
    assert!(has(&errors(&with("/no/such/file")), "does not exist"));
    assert!(has(&errors(&with("/")), "not a regular file"));
    assert!(has(&errors(&with("bin/sh")), "relative path"));
    assert!(has(
        &errors(&with("no-such-command-xyz")),
        "not found in PATH"
    ));
    assert!(has(&warnings(&with("sh x.sh")), "bare name"));
    assert!(has(&errors(&with("\\ /bin/sh")), "starts with a space"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "").unwrap();
    // access(X_OK) wants at least one x bit, for root too.
    assert!(has(
        &errors(&with(file.to_str().unwrap())),
        "not executable"
    ));
}

#[test]
fn unknown_keys_and_mappings() {
    let f = run(
        &format!(
            "{GOOD_V3}RetrievalMode = POLLING\ncloudWatchEndpoint = http://x\nconsumerName = c\n\
             StreamName = x\nmaxLeasesForWorkr = 3\nsomethingElse = 1\nkinesisClient.endpointOverride = http://y\n\
             fanoutConfig.consumerName = c\n"
        ),
        v3(),
    );
    assert!(errors(&f).is_empty(), "{f:?}");
    let w = warnings(&f);
    assert!(has(
        &w,
        "RetrievalMode is not a KCL property and is silently ignored: use retrievalMode"
    ));
    assert!(has(&w, "use cloudWatchClient.endpointOverride"));
    assert!(has(&w, "use fanoutConfig.consumerName"));
    assert!(has(&w, "case-sensitive, did you mean streamName?"));
    assert!(has(&w, "did you mean maxLeasesForWorker?"));
    assert!(has(&w, "unknown key somethingElse"));
    assert_eq!(w.len(), 6, "{w:?}");
    let lines: Vec<_> = f.iter().map(|f| f.line).collect();
    assert_eq!(
        lines,
        vec![Some(7), Some(8), Some(9), Some(10), Some(11), Some(12)]
    );
}

#[test]
fn version_specific_keys() {
    let text = format!("{GOOD_V2}clientVersionConfig = CLIENT_VERSION_CONFIG_3X\n");
    assert!(has(&warnings(&run(&text, v2())), "not read by KCL 2.5.8"));
    let text = format!("{GOOD_V3}clientVersionConfig = CLIENT_VERSION_CONFIG_3X\n");
    assert_eq!(run(&text, v3()), vec![]);
}

#[test]
fn polling_keys_and_modes() {
    let text =
        format!("{GOOD_V3}maxRecords = 100\npollingConfig.idleTimeBetweenReadsInMillis = 500\n");
    let f = run(&text, v3());
    let w = warnings(&f);
    assert!(has(&w, "maxRecords is a polling setting and is ignored"));
    assert!(has(
        &w,
        "pollingConfig.idleTimeBetweenReadsInMillis is a polling setting"
    ));
    let text = text.replace("retrievalMode = FANOUT", "retrievalMode = default");
    assert!(has(
        &warnings(&run(&text, v3())),
        "silently switches retrievalMode DEFAULT to POLLING"
    ));
    let text = text.replace("retrievalMode = default\n", "");
    assert!(has(
        &warnings(&run(&text, v3())),
        "(unset, so DEFAULT) to POLLING"
    ));
    let text = format!("{GOOD_V3}maxRecords = 100\n").replace("FANOUT", "Polling");
    assert_eq!(run(&text, v3()), vec![]);
    // Zero counts as unset for the KCL.
    let text = format!("{GOOD_V3}maxRecords = 0\n");
    assert_eq!(run(&text, v3()), vec![]);
    let text = GOOD_V3.replace("FANOUT", "FANOUT ");
    assert!(has(
        &errors(&run(&text, v3())),
        "retrievalMode = \"FANOUT \" is not one of"
    ));
}

#[test]
fn shutdown_grace() {
    let with = |v: &str| run(&GOOD_V3.replace("25000", v), v3());
    assert!(has(&warnings(&with("0")), "shutdownGraceMillis = 0"));
    assert!(has(&errors(&with("30000")), "not below the stop timeout"));
    assert!(has(&errors(&with("60000")), "not below the stop timeout"));
    assert!(has(&errors(&with("soon")), "not a whole number"));
    assert_eq!(with("29000"), vec![]);
    let unset = run(&GOOD_V3.replace("shutdownGraceMillis = 25000\n", ""), v3());
    assert!(has(&warnings(&unset), "shutdownGraceMillis is not set"));
}

#[test]
fn credentials_v3() {
    let with = |line: &str| {
        run(
            &GOOD_V3.replace("AwsCredentialsProvider = DefaultCredentialsProvider", line),
            v3(),
        )
    };
    let f = with("AwsCredentialsProvider = DefaultAWSCredentialsProviderChain");
    assert!(has(
        &errors(&f),
        "DefaultAWSCredentialsProviderChain is an AWS SDK v1 class name"
    ));
    // Any case of the key works in 3.x.
    assert_eq!(
        with("AWSCredentialsProvider = DefaultCredentialsProvider"),
        vec![]
    );
    assert_eq!(
        with("awscredentialsprovider = ProfileCredentialsProvider"),
        vec![]
    );
    // One bad name among good ones only warns.
    let f = with("AwsCredentialsProvider = DefaultAWSCredentialsProviderChain,EnvironmentVariableCredentialsProvider");
    assert!(errors(&f).is_empty());
    assert!(has(&warnings(&f), "still work"));
    let f = with("AwsCredentialsProvider = NoSuchProvider");
    assert!(has(
        &warnings(&f),
        "not a credentials provider this check knows"
    ));
    let f = with("AwsCredentialsProviderDynamodb = DefaultCredentialsProvider");
    assert!(has(&errors(&f), "no main credentials provider"));
    assert!(has(
        &warnings(&f),
        "did you mean AwsCredentialsProviderDynamoDB"
    ));
    let f =
        with("AwsCredentialsProvider = StsAssumeRoleCredentialsProvider|arn:aws:iam::1:role/r|s");
    assert_eq!(f, vec![]);
}

#[test]
fn credentials_v2() {
    let with = |line: &str| {
        run(
            &GOOD_V2.replace(
                "AWSCredentialsProvider = DefaultAWSCredentialsProviderChain",
                line,
            ),
            v2(),
        )
    };
    let f = with("AwsCredentialsProvider = DefaultCredentialsProvider");
    assert!(has(
        &errors(&f),
        "AwsCredentialsProvider is ignored by KCL 2.5.8"
    ));
    assert_eq!(errors(&f).len(), 1, "{f:?}");
    let f = with("AWSCredentialsProviderDynamoDB = DefaultAWSCredentialsProviderChain");
    assert!(has(&errors(&f), "no main credentials provider"));
    let f = with("AWSCredentialsProvider = DefaultCredentialsProvider");
    assert!(has(
        &errors(&f),
        "DefaultCredentialsProvider is an AWS SDK v2 class name"
    ));
    assert_eq!(
        with("AWSCredentialsProvider = EnvironmentVariableCredentialsProvider"),
        vec![]
    );
}

#[test]
fn credentials_unknown_version_only_warns() {
    let unknown = Detected::Unknown("no jars".into());
    assert_eq!(run(GOOD_V3, unknown.clone()), vec![]);
    assert_eq!(run(GOOD_V2, unknown.clone()), vec![]);
    let f = run(
        &GOOD_V3.replace(
            "DefaultCredentialsProvider",
            "DefaultAWSCredentialsProviderChain",
        ),
        unknown.clone(),
    );
    // Key of one generation, value of the other: fits neither, but only a guess.
    assert!(errors(&f).is_empty(), "{f:?}");
    assert!(!warnings(&f).is_empty());
    let f = run(
        &GOOD_V3.replace("AwsCredentialsProvider = DefaultCredentialsProvider\n", ""),
        unknown,
    );
    assert!(has(&errors(&f), "no credentials provider"));
}

#[test]
fn value_text_warnings() {
    let text = format!("{GOOD_V3}metricsLevel = \"SUMMARY\"\ntableName = t \n");
    let f = run(&text, v3());
    assert!(has(&warnings(&f), "in quotes"));
    assert!(has(&warnings(&f), "ends with whitespace"));
    // The quoted enum value is also refused by the daemon.
    assert!(has(&errors(&f), "metricsLevel"));
    let f = run(&format!("{GOOD_V3}tableName = tä\n"), v3());
    assert!(has(&warnings(&f), "ISO-8859-1"));
}

#[test]
fn duplicates_and_parse_errors() {
    let f = run(
        &format!("{GOOD_V3}tableName = a\ntableName = b\nx = \\u00zz\n"),
        v3(),
    );
    assert!(has(&warnings(&f), "set again (first on line 7)"));
    assert!(has(&errors(&f), "malformed"));
}

#[test]
fn arn_shapes() {
    assert!(stream_arn_ok(
        "arn:aws:kinesis:us-east-1:123456789012:stream/a"
    ));
    assert!(stream_arn_ok(
        "arn:aws-cn:kinesis:cn-north-1:123456789012:stream/a:b"
    ));
    assert!(!stream_arn_ok("arn:aws:kinesis:us-east-1:12345:stream/a"));
    assert!(!stream_arn_ok(
        "arn:aws:sqs:us-east-1:123456789012:stream/a"
    ));
    assert!(!stream_arn_ok("arn:aws:kinesis::123456789012:stream/a"));
    assert!(!stream_arn_ok(
        "arn:aws:kinesis:us-east-1:123456789012:stream/"
    ));
}
