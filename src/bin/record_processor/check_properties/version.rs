//! The KCL version of the jars the daemon will run, and what it means for the credentials
//! properties.
//!
//! KCL up to 2.6.x reads `AWSCredentialsProvider` (exactly so spelt) with AWS SDK **v1** class
//! names looked up in `com.amazonaws.auth.`. KCL 2.7.0 ("Remove SDK v1 from KCL v2") and every
//! 3.x read `AwsCredentialsProvider` — matched case-insensitively — with SDK **v2** class names
//! looked up in `software.amazon.awssdk.auth.credentials.` and
//! `software.amazon.kinesis.multilang.auth.`.

use std::fmt;
use std::path::Path;

/// A KCL release number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KclVersion {
    /// Major version (2 or 3 here).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl KclVersion {
    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Parses `3.5.3` (a missing patch counts as 0; a suffix such as `-SNAPSHOT` is ignored).
    pub fn parse(s: &str) -> Option<Self> {
        let core = s.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(str::parse::<u32>);
        let major = parts.next()?.ok()?;
        let minor = parts.next()?.ok()?;
        let patch = match parts.next() {
            Some(p) => p.ok()?,
            None => 0,
        };
        Some(Self::new(major, minor, patch))
    }

    /// Whether this version is at least `major.minor.patch`.
    pub fn at_least(self, major: u32, minor: u32, patch: u32) -> bool {
        self >= Self::new(major, minor, patch)
    }

    /// Which credentials properties this version reads.
    pub fn credentials(self) -> Credentials {
        if self.at_least(2, 7, 0) {
            Credentials::SdkV2
        } else {
            Credentials::SdkV1
        }
    }
}

impl fmt::Display for KclVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The two generations of credentials properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// KCL ≤ 2.6: key `AWSCredentialsProvider` (case-sensitive), SDK v1 class names.
    SdkV1,
    /// KCL ≥ 2.7 and 3.x: key `AwsCredentialsProvider` (any case), SDK v2 class names.
    SdkV2,
}

/// What was found in the jars directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detected {
    /// One version of `amazon-kinesis-client-multilang-<version>.jar`.
    Version(KclVersion),
    /// No directory given.
    NotAsked,
    /// Nothing usable; the text says why (for the report).
    Unknown(String),
}

/// The file name prefix of the daemon's jar.
const JAR_PREFIX: &str = "amazon-kinesis-client-multilang-";

/// Reads the KCL version from the name of the multilang jar in `dir`.
pub fn detect(dir: &Path) -> Detected {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return Detected::Unknown(format!("cannot read {}: {err}", dir.display())),
    };
    let mut found: Vec<KclVersion> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_prefix(JAR_PREFIX)?.strip_suffix(".jar")?;
            KclVersion::parse(version)
        })
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [one] => Detected::Version(*one),
        [] => Detected::Unknown(format!("no {JAR_PREFIX}<version>.jar in {}", dir.display())),
        several => Detected::Unknown(format!(
            "{} holds several multilang jars ({})",
            dir.display(),
            several
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Which SDK generation a credentials provider class name belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    /// Resolves with either generation (the same short name exists in both SDKs).
    Both,
    /// An SDK v1 name (`com.amazonaws…`, or a short name only SDK v1 has).
    V1,
    /// An SDK v2 name (`software.amazon.awssdk…`, or a short name only SDK v2 / KCL 3.x has).
    V2,
    /// A short name this checker does not know (it may still resolve).
    UnknownShort,
    /// A fully qualified custom class (cannot be checked here).
    Custom,
}

/// Short names found in `com.amazonaws.auth` (aws-java-sdk-core and -sts 1.12) and in KCL 2.x's
/// `software.amazon.kinesis.multilang.auth`.
const V1_ONLY: &[&str] = &[
    "DefaultAWSCredentialsProviderChain",
    "AWSCredentialsProviderChain",
    "AWSStaticCredentialsProvider",
    "ClasspathPropertiesFileCredentialsProvider",
    "PropertiesFileCredentialsProvider",
    "EC2ContainerCredentialsProviderWrapper",
    "SystemPropertiesCredentialsProvider",
    "WebIdentityTokenCredentialsProvider",
    "STSAssumeRoleSessionCredentialsProvider",
    "STSAssumeRoleWithWebIdentitySessionCredentialsProvider",
    "STSSessionCredentialsProvider",
    "WebIdentityFederationSessionCredentialsProvider",
    "KclSTSAssumeRoleSessionCredentialsProvider",
];

/// Short names found in `software.amazon.awssdk.auth.credentials` (SDK v2) and KCL 3.x's
/// `software.amazon.kinesis.multilang.auth` (`StsAssumeRoleCredentialsProvider` is mapped to
/// the KCL's own class). `ProfileCredentialsProvider` is here because SDK v1 keeps its class in
/// `com.amazonaws.auth.profile`, which KCL 2.x's short-name lookup does not search.
const V2_ONLY: &[&str] = &[
    "DefaultCredentialsProvider",
    "AwsCredentialsProviderChain",
    "StaticCredentialsProvider",
    "AnonymousCredentialsProvider",
    "SystemPropertyCredentialsProvider",
    "WebIdentityTokenFileCredentialsProvider",
    "ProfileCredentialsProvider",
    "StsAssumeRoleCredentialsProvider",
    "KclStsAssumeRoleCredentialsProvider",
];

/// Short names both SDKs have in the searched packages.
const BOTH: &[&str] = &[
    "EnvironmentVariableCredentialsProvider",
    "InstanceProfileCredentialsProvider",
    "ContainerCredentialsProvider",
    "ProcessCredentialsProvider",
];

/// Classifies one provider class name (without its `|` arguments).
pub fn provider_kind(name: &str) -> ProviderKind {
    if name.starts_with("com.amazonaws.") {
        ProviderKind::V1
    } else if name.starts_with("software.amazon.awssdk.") {
        ProviderKind::V2
    } else if name.contains('.') {
        ProviderKind::Custom
    } else if BOTH.contains(&name) {
        ProviderKind::Both
    } else if V1_ONLY.contains(&name) {
        ProviderKind::V1
    } else if V2_ONLY.contains(&name) {
        ProviderKind::V2
    } else {
        ProviderKind::UnknownShort
    }
}

/// The class names of a credentials value: `,` separates providers, `|` their arguments.
pub fn provider_names(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.split('|').next().unwrap_or(p).trim())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(KclVersion::parse("3.5.3"), Some(KclVersion::new(3, 5, 3)));
        assert_eq!(KclVersion::parse("2.5.8"), Some(KclVersion::new(2, 5, 8)));
        assert_eq!(KclVersion::parse("3.1"), Some(KclVersion::new(3, 1, 0)));
        assert_eq!(
            KclVersion::parse("3.0.0-SNAPSHOT"),
            Some(KclVersion::new(3, 0, 0))
        );
        assert_eq!(KclVersion::parse("x.1"), None);
        assert_eq!(KclVersion::parse("3"), None);
    }

    #[test]
    fn credentials_generation() {
        assert_eq!(KclVersion::new(2, 5, 8).credentials(), Credentials::SdkV1);
        assert_eq!(KclVersion::new(2, 6, 1).credentials(), Credentials::SdkV1);
        assert_eq!(KclVersion::new(2, 7, 0).credentials(), Credentials::SdkV2);
        assert_eq!(KclVersion::new(3, 5, 3).credentials(), Credentials::SdkV2);
    }

    #[test]
    fn detects_from_jar_names() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(detect(dir.path()), Detected::Unknown(_)));
        std::fs::write(dir.path().join("amazon-kinesis-client-3.5.3.jar"), "").unwrap();
        assert!(matches!(detect(dir.path()), Detected::Unknown(_)));
        std::fs::write(
            dir.path().join("amazon-kinesis-client-multilang-3.5.3.jar"),
            "",
        )
        .unwrap();
        assert_eq!(
            detect(dir.path()),
            Detected::Version(KclVersion::new(3, 5, 3))
        );
        std::fs::write(
            dir.path().join("amazon-kinesis-client-multilang-2.5.8.jar"),
            "",
        )
        .unwrap();
        assert!(matches!(detect(dir.path()), Detected::Unknown(m) if m.contains("2.5.8, 3.5.3")));
        assert!(matches!(
            detect(&dir.path().join("nope")),
            Detected::Unknown(_)
        ));
    }

    #[test]
    fn provider_classes() {
        assert_eq!(
            provider_kind("DefaultCredentialsProvider"),
            ProviderKind::V2
        );
        assert_eq!(
            provider_kind("DefaultAWSCredentialsProviderChain"),
            ProviderKind::V1
        );
        assert_eq!(
            provider_kind("EnvironmentVariableCredentialsProvider"),
            ProviderKind::Both
        );
        assert_eq!(
            provider_kind("com.amazonaws.auth.profile.ProfileCredentialsProvider"),
            ProviderKind::V1
        );
        assert_eq!(
            provider_kind("software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"),
            ProviderKind::V2
        );
        assert_eq!(provider_kind("org.example.Mine"), ProviderKind::Custom);
        assert_eq!(provider_kind("Mine"), ProviderKind::UnknownShort);
        assert_eq!(
            provider_names(
                " StsAssumeRoleCredentialsProvider|arn:x|s , DefaultCredentialsProvider,"
            ),
            vec![
                "StsAssumeRoleCredentialsProvider",
                "DefaultCredentialsProvider"
            ]
        );
    }
}
