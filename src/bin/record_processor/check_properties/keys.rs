//! The property names the MultiLangDaemon reads, for KCL 2.x and 3.x, and the "did you mean"
//! suggestions for the ones it does not.
//!
//! Source: the bean properties of `MultiLangDaemonConfiguration` and of the beans it delegates
//! to (polling, graceful lease handoff, worker utilization, worker-metrics and coordinator-state
//! tables), read at the KCL tags v2.5.8, v2.6.x, v2.7.x, v3.0.0 … v3.5.1, plus the daemon's own
//! keys read by `MultiLangDaemonConfig`. The daemon hands every entry to commons-beanutils, which
//! matches names case-sensitively and ignores unknown ones without a word.

use super::version::KclVersion;

/// Where a key comes from, which decides whether the detected KCL reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// Every KCL 2.x and 3.x.
    Any,
    /// This version and later (2.x and 3.x alike).
    Version(u32, u32, u32),
    /// KCL 3.x from this version on (not 2.x).
    V3(u32, u32, u32),
}

impl Since {
    /// Whether a KCL of this version reads the key.
    pub fn covers(self, v: KclVersion) -> bool {
        match self {
            Since::Any => true,
            Since::Version(a, b, c) => v.at_least(a, b, c),
            Since::V3(a, b, c) => v.major >= 3 && v.at_least(a, b, c),
        }
    }

    /// "KCL 3.1.1" — for messages.
    pub fn describe(self) -> String {
        match self {
            Since::Any => "every KCL 2.x/3.x".to_owned(),
            Since::Version(a, b, c) | Since::V3(a, b, c) => format!("KCL {a}.{b}.{c}"),
        }
    }
}

/// Top-level keys (credentials keys are handled apart: their spelling depends on the version).
pub const KEYS: &[(&str, Since)] = &[
    // Read by the daemon itself (MultiLangDaemonConfig), not by the bean.
    ("executableName", Since::Any),
    ("processingLanguage", Since::Any),
    ("maxActiveThreads", Since::Any),
    // Identity and stream.
    ("applicationName", Since::Any),
    ("streamName", Since::Any),
    ("streamArn", Since::Any),
    ("tableName", Since::Any),
    ("workerId", Since::Any),
    ("workerIdentifier", Since::Any),
    // Clients.
    ("regionName", Since::Any),
    ("kinesisEndpoint", Since::Any),
    ("dynamoDBEndpoint", Since::Any),
    // Leases.
    ("failoverTimeMillis", Since::Any),
    ("shardSyncIntervalMillis", Since::Any),
    ("cleanupLeasesUponShardCompletion", Since::Any),
    ("ignoreUnexpectedChildShards", Since::Any),
    ("maxLeasesForWorker", Since::Any),
    ("maxLeasesToStealAtOneTime", Since::Any),
    ("initialLeaseTableReadCapacity", Since::Any),
    ("initialLeaseTableWriteCapacity", Since::Any),
    ("maxLeaseRenewalThreads", Since::Any),
    ("listShardsBackoffTimeInMillis", Since::Any),
    ("maxListShardsRetryAttempts", Since::Any),
    ("enablePriorityLeaseAssignment", Since::Version(2, 6, 0)),
    (
        "leaseTableDeletionProtectionEnabled",
        Since::Version(2, 6, 1),
    ),
    ("leaseTablePitrEnabled", Since::Version(2, 6, 1)),
    ("leaseAssignmentIntervalMillis", Since::V3(3, 1, 1)),
    ("leaseTableScanTotalSegments", Since::V3(3, 5, 0)),
    // Position.
    ("initialPositionInStream", Since::Any),
    ("initialPositionInStreamExtended", Since::Any),
    // Coordinator, lifecycle, processor.
    ("parentShardPollIntervalMillis", Since::Any),
    ("shardPrioritization", Since::Any),
    (
        "skipShardSyncAtWorkerInitializationIfLeasesExist",
        Since::Any,
    ),
    ("schedulerInitializationBackoffTimeMillis", Since::Any),
    ("taskBackoffTimeMillis", Since::Any),
    ("logWarningForTaskAfterMillis", Since::Any),
    ("callProcessRecordsEvenForEmptyRecordList", Since::Any),
    ("validateSequenceNumberBeforeCheckpointing", Since::Any),
    ("shutdownGraceMillis", Since::Any),
    ("timeoutInSeconds", Since::Any),
    // Metrics.
    ("metricsBufferTimeMillis", Since::Any),
    ("metricsMaxQueueSize", Since::Any),
    ("metricsLevel", Since::Any),
    ("metricsEnabledDimensions", Since::Any),
    // Retrieval (the polling keys are in POLLING_KEYS).
    ("retrievalMode", Since::Any),
    // KCL 3.x.
    ("clientVersionConfig", Since::V3(3, 0, 0)),
    ("migrateAllEntitiesToLeaseTable", Since::V3(3, 5, 0)),
    ("tableMigrationCompleteBakeTimeSeconds", Since::V3(3, 5, 0)),
    ("gracefulLeaseHandoffTimeoutMillis", Since::V3(3, 0, 0)),
    ("isGracefulLeaseHandoffEnabled", Since::V3(3, 0, 0)),
    (
        "inMemoryWorkerMetricsCaptureFrequencyMillis",
        Since::V3(3, 0, 0),
    ),
    ("workerMetricsReporterFreqInMillis", Since::V3(3, 0, 0)),
    ("noOfPersistedMetricsPerWorkerMetrics", Since::V3(3, 0, 0)),
    ("disableWorkerMetrics", Since::V3(3, 0, 0)),
    ("maxThroughputPerHostKBps", Since::V3(3, 0, 0)),
    ("dampeningPercentage", Since::V3(3, 0, 0)),
    ("reBalanceThresholdPercentage", Since::V3(3, 0, 0)),
    ("allowThroughputOvershoot", Since::V3(3, 0, 0)),
    ("varianceBalancingFrequency", Since::V3(3, 0, 0)),
    ("workerMetricsEMAAlpha", Since::V3(3, 0, 0)),
    ("staleWorkerMetricsEntryCleanupDuration", Since::V3(3, 0, 0)),
    ("workerMetricsTableName", Since::V3(3, 0, 0)),
    ("workerMetricsBillingMode", Since::V3(3, 0, 0)),
    ("workerMetricsReadCapacity", Since::V3(3, 0, 0)),
    ("workerMetricsWriteCapacity", Since::V3(3, 0, 0)),
    (
        "workerMetricsPointInTimeRecoveryEnabled",
        Since::V3(3, 0, 0),
    ),
    ("workerMetricsDeletionProtectionEnabled", Since::V3(3, 0, 0)),
    ("workerMetricsTags", Since::V3(3, 0, 0)),
    ("coordinatorStateTableName", Since::V3(3, 0, 0)),
    ("coordinatorStateBillingMode", Since::V3(3, 0, 0)),
    ("coordinatorStateReadCapacity", Since::V3(3, 0, 0)),
    ("coordinatorStateWriteCapacity", Since::V3(3, 0, 0)),
    (
        "coordinatorStatePointInTimeRecoveryEnabled",
        Since::V3(3, 0, 0),
    ),
    (
        "coordinatorStateDeletionProtectionEnabled",
        Since::V3(3, 0, 0),
    ),
    ("coordinatorStateTags", Since::V3(3, 0, 0)),
];

/// The polling keys: setting any of them makes `retrievalMode = DEFAULT` mean POLLING, and
/// `retrievalMode = FANOUT` ignores them. Also accepted with the prefix `pollingConfig.`.
pub const POLLING_KEYS: &[(&str, Since)] = &[
    ("maxRecords", Since::Any),
    ("idleTimeBetweenReadsInMillis", Since::Any),
    ("retryGetRecordsInSeconds", Since::Any),
    ("maxGetRecordsThreadPool", Since::Any),
    (
        "millisBehindLatestThresholdForReducedTps",
        Since::V3(3, 1, 1),
    ),
];

/// Enhanced fan-out keys, only with the prefix `fanoutConfig.`.
pub const FANOUT_KEYS: &[&str] = &[
    "consumerName",
    "consumerArn",
    "maxDescribeStreamSummaryRetries",
    "maxDescribeStreamConsumerRetries",
    "registerStreamConsumerRetries",
    "retryBackoffMillis",
];

/// Prefixes that reach an AWS SDK client builder (`kinesisClient.endpointOverride`,
/// `dynamoDbClient.region`, …). What follows the dot is a builder property of the SDK, which
/// this list does not know: any name is accepted.
pub const CLIENT_PREFIXES: &[&str] = &["kinesisClient", "dynamoDbClient", "cloudWatchClient"];

/// What the checker knows about a key (credentials keys excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// A plain key, read by the KCL versions `Since` says.
    Key(Since),
    /// A polling key (possibly as `pollingConfig.<key>`).
    Polling(Since),
    /// `fanoutConfig.<key>`.
    Fanout,
    /// `<client>.<anything>`.
    Client,
    /// Not a key of any KCL 2.x/3.x daemon.
    Unknown,
}

/// Looks a key up (exact, case-sensitive, as beanutils does).
pub fn lookup(key: &str) -> Known {
    if let Some(&(_, since)) = KEYS.iter().find(|(name, _)| *name == key) {
        return Known::Key(since);
    }
    let polling = key.strip_prefix("pollingConfig.").unwrap_or(key);
    if let Some(&(_, since)) = POLLING_KEYS.iter().find(|(name, _)| *name == polling) {
        return Known::Polling(since);
    }
    if let Some(rest) = key.strip_prefix("fanoutConfig.") {
        if FANOUT_KEYS.contains(&rest) {
            return Known::Fanout;
        }
    }
    if let Some((prefix, rest)) = key.split_once('.') {
        if CLIENT_PREFIXES.contains(&prefix) && !rest.is_empty() {
            return Known::Client;
        }
    }
    Known::Unknown
}

/// Keys that are known mistakes, with the key meant and why it matters. Checked before the
/// edit-distance suggestion because the right name is not always the closest one.
pub fn special_mapping(key: &str) -> Option<(&'static str, &'static str)> {
    match key {
        "RetrievalMode" => Some((
            "retrievalMode",
            "the daemon's own warning names \"RetrievalMode\", but only the lower-camel key is read",
        )),
        "cloudWatchEndpoint" => Some((
            "cloudWatchClient.endpointOverride",
            "there is no cloudWatchEndpoint property",
        )),
        "consumerName" => Some((
            "fanoutConfig.consumerName",
            "enhanced fan-out settings need the fanoutConfig. prefix",
        )),
        "consumerArn" => Some((
            "fanoutConfig.consumerArn",
            "enhanced fan-out settings need the fanoutConfig. prefix",
        )),
        _ => None,
    }
}

/// Every full key name a user could have meant (client keys excluded: they are open-ended).
fn candidates() -> impl Iterator<Item = String> {
    let plain = KEYS.iter().map(|(k, _)| (*k).to_owned());
    let polling = POLLING_KEYS
        .iter()
        .flat_map(|(k, _)| [(*k).to_owned(), format!("pollingConfig.{k}")]);
    let fanout = FANOUT_KEYS.iter().map(|k| format!("fanoutConfig.{k}"));
    let credentials = [
        "AwsCredentialsProvider",
        "AwsCredentialsProviderDynamoDB",
        "AwsCredentialsProviderCloudWatch",
    ]
    .into_iter()
    .map(str::to_owned);
    plain.chain(polling).chain(fanout).chain(credentials)
}

/// The closest known key, compared case-insensitively, if it is close enough to be a typo.
pub fn suggest(key: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    let mut best: Option<(usize, String)> = None;
    let mut consider = |name: String| {
        let d = levenshtein(&lower, &name.to_ascii_lowercase());
        if best.as_ref().is_none_or(|(bd, _)| d < *bd) {
            best = Some((d, name));
        }
    };
    for name in candidates() {
        consider(name);
    }
    // A misspelt client prefix: compare the prefix, keep what follows.
    if let Some((prefix, rest)) = key.split_once('.') {
        for client in CLIENT_PREFIXES {
            let d = levenshtein(&prefix.to_ascii_lowercase(), &client.to_ascii_lowercase());
            if d <= 3 {
                consider(format!("{client}.{rest}"));
            }
        }
    }
    // Close enough: a third of the length, at least 2 edits, so that short unrelated keys do
    // not get far-fetched suggestions.
    let limit = (key.chars().count() / 3).max(2);
    best.filter(|(d, _)| *d <= limit).map(|(_, name)| name)
}

/// Edit distance (insertions, deletions, substitutions), on characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("abc", ""), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("streamname", "streamname"), 0);
        assert_eq!(levenshtein("flaw", "lawn"), 2);
    }

    #[test]
    fn lookups() {
        assert_eq!(lookup("streamName"), Known::Key(Since::Any));
        assert_eq!(lookup("StreamName"), Known::Unknown);
        assert_eq!(lookup("maxRecords"), Known::Polling(Since::Any));
        assert_eq!(
            lookup("pollingConfig.maxRecords"),
            Known::Polling(Since::Any)
        );
        assert_eq!(lookup("fanoutConfig.consumerName"), Known::Fanout);
        assert_eq!(lookup("fanoutConfig.consumername"), Known::Unknown);
        assert_eq!(lookup("consumerName"), Known::Unknown);
        assert_eq!(lookup("cloudWatchClient.endpointOverride"), Known::Client);
        assert_eq!(lookup("cloudWatchClient."), Known::Unknown);
        assert_eq!(
            lookup("clientVersionConfig"),
            Known::Key(Since::V3(3, 0, 0))
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("StreamName").as_deref(), Some("streamName"));
        assert_eq!(suggest("streamname").as_deref(), Some("streamName"));
        assert_eq!(
            suggest("aplicationName").as_deref(),
            Some("applicationName")
        );
        assert_eq!(
            suggest("shutdownGraceMilis").as_deref(),
            Some("shutdownGraceMillis")
        );
        assert_eq!(
            suggest("dynamoDbEndpoint").as_deref(),
            Some("dynamoDBEndpoint")
        );
        assert_eq!(
            suggest("fanoutConfig.consumername").as_deref(),
            Some("fanoutConfig.consumerName")
        );
        assert_eq!(
            suggest("kinesisclient.endpointOverride").as_deref(),
            Some("kinesisClient.endpointOverride")
        );
        assert_eq!(suggest("totallyUnrelated"), None);
        assert_eq!(suggest("foo"), None);
    }

    #[test]
    fn special_mappings() {
        assert_eq!(special_mapping("RetrievalMode").unwrap().0, "retrievalMode");
        assert_eq!(
            special_mapping("cloudWatchEndpoint").unwrap().0,
            "cloudWatchClient.endpointOverride"
        );
        assert_eq!(
            special_mapping("consumerName").unwrap().0,
            "fanoutConfig.consumerName"
        );
        assert_eq!(special_mapping("retrievalMode"), None);
    }

    #[test]
    fn since_covers() {
        let v = |a, b, c| KclVersion::new(a, b, c);
        assert!(Since::Any.covers(v(2, 5, 8)));
        assert!(!Since::Version(2, 6, 1).covers(v(2, 5, 8)));
        assert!(Since::Version(2, 6, 1).covers(v(3, 0, 0)));
        assert!(!Since::V3(3, 0, 0).covers(v(2, 7, 3)));
        assert!(!Since::V3(3, 1, 1).covers(v(3, 0, 3)));
        assert!(Since::V3(3, 1, 1).covers(v(3, 5, 3)));
    }
}
