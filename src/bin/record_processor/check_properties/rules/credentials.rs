//! The credentials provider keys, as each KCL generation reads them.

use super::super::keys;
use super::super::parse::Entry;
use super::super::version::{self, Credentials, KclVersion, ProviderKind};
use super::{is_credentials_key, Report};

/// The credentials key and class names the detected KCL reads.
pub(super) fn check_credentials(
    entries: &[Entry],
    version: Option<KclVersion>,
    report: &mut Report,
) {
    let family: Vec<&Entry> = entries
        .iter()
        .filter(|e| is_credentials_key(&e.key))
        .collect();
    let generation = version.map(KclVersion::credentials);
    let certain = generation.is_some();
    let which = version.map_or_else(|| "unknown KCL version".to_owned(), |v| format!("KCL {v}"));

    if family.is_empty() {
        report.error(
            None,
            format!(
                "no credentials provider: the daemon requires {} (\"A basic set of AWS credentials must be provided\")",
                match generation {
                    Some(Credentials::SdkV1) => "AWSCredentialsProvider = DefaultAWSCredentialsProviderChain",
                    Some(Credentials::SdkV2) => "AwsCredentialsProvider = DefaultCredentialsProvider",
                    None => "AwsCredentialsProvider = DefaultCredentialsProvider (KCL ≥ 2.7, 3.x) or AWSCredentialsProvider = DefaultAWSCredentialsProviderChain (KCL ≤ 2.6)",
                }
            ),
        );
        return;
    }

    let generations: &[Credentials] = match generation {
        Some(g) => match g {
            Credentials::SdkV1 => &[Credentials::SdkV1],
            Credentials::SdkV2 => &[Credentials::SdkV2],
        },
        None => &[Credentials::SdkV1, Credentials::SdkV2],
    };
    let mut has_main = false;
    // A main key of the other generation is reported on its own line; no second error then.
    let mut misspelt_main = false;
    for entry in &family {
        let line = Some(entry.line);
        let key = entry.key.as_str();
        let slot_v1 = credentials_slot(key, Credentials::SdkV1);
        let slot_v2 = credentials_slot(key, Credentials::SdkV2);
        let fits = |g: Credentials| match g {
            Credentials::SdkV1 => slot_v1.is_some(),
            Credentials::SdkV2 => slot_v2.is_some(),
        };
        if !generations.iter().any(|&g| fits(g)) {
            if slot_v1.is_none() && slot_v2.is_none() {
                let meant = keys::suggest(key).unwrap_or_else(|| "AwsCredentialsProvider".into());
                report.warn(
                    line,
                    format!("unknown key {key} is silently ignored: did you mean {meant}?"),
                );
            } else {
                misspelt_main |= slot_v1 == Some("") || slot_v2 == Some("");
                let (want, names) = match generation {
                    Some(Credentials::SdkV1) => (
                        "AWSCredentialsProvider (exactly so spelt)",
                        "SDK v1 class names such as DefaultAWSCredentialsProviderChain",
                    ),
                    _ => (
                        "AwsCredentialsProvider",
                        "SDK v2 class names such as DefaultCredentialsProvider",
                    ),
                };
                report.by_certainty(
                    certain,
                    line,
                    format!("{key} is ignored by {which}, which reads {want} with {names}"),
                );
            }
            continue;
        }
        // The generations that read this key; the value is judged against those.
        let key_generations: Vec<Credentials> =
            generations.iter().copied().filter(|&g| fits(g)).collect();
        if key_generations
            .iter()
            .any(|&g| credentials_slot(key, g) == Some(""))
        {
            has_main = true;
        }
        let readers = match version {
            Some(v) => format!("KCL {v}"),
            None => describe_generations(&key_generations),
        };
        check_provider_value(entry, &key_generations, &readers, certain, report);
    }
    if !has_main && !misspelt_main && certain {
        report.error(
            None,
            format!(
                "no main credentials provider for {which}: the daemon requires {} (\"A basic set of AWS credentials must be provided\")",
                match generation {
                    Some(Credentials::SdkV1) => "AWSCredentialsProvider",
                    _ => "AwsCredentialsProvider",
                }
            ),
        );
    }
}

/// Which credentials property `key` sets for a generation: `""` (Kinesis and the default),
/// `"DynamoDB"` or `"CloudWatch"`; `None` if that generation ignores the key.
pub(super) fn credentials_slot(key: &str, generation: Credentials) -> Option<&'static str> {
    const PREFIX: &str = "awscredentialsprovider";
    match generation {
        // KCL ≤ 2.6: bean properties AWSCredentialsProvider…, matched case-sensitively.
        Credentials::SdkV1 => match key {
            "AWSCredentialsProvider" => Some(""),
            "AWSCredentialsProviderDynamoDB" => Some("DynamoDB"),
            "AWSCredentialsProviderCloudWatch" => Some("CloudWatch"),
            _ => None,
        },
        // KCL ≥ 2.7: the prefix is rewritten to awsCredentialsProvider whatever its case; the
        // rest must then match the bean property exactly.
        Credentials::SdkV2 => {
            if !key.is_char_boundary(PREFIX.len())
                || !key[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
            {
                return None;
            }
            match &key[PREFIX.len()..] {
                "" => Some(""),
                "DynamoDB" => Some("DynamoDB"),
                "CloudWatch" => Some("CloudWatch"),
                _ => None,
            }
        }
    }
}

/// "KCL ≤ 2.6" / "KCL ≥ 2.7 and 3.x" — who reads a key when the version is unknown.
pub(super) fn describe_generations(generations: &[Credentials]) -> String {
    match generations {
        [Credentials::SdkV1] => "KCL ≤ 2.6 (the jars' version is unknown)".to_owned(),
        [Credentials::SdkV2] => "KCL ≥ 2.7 and 3.x (the jars' version is unknown)".to_owned(),
        _ => "the KCL (its version is unknown)".to_owned(),
    }
}

pub(super) fn check_provider_value(
    entry: &Entry,
    generations: &[Credentials],
    which: &str,
    certain: bool,
    report: &mut Report,
) {
    let line = Some(entry.line);
    let key = &entry.key;
    let names = version::provider_names(&entry.value);
    if names.is_empty() {
        report.error(line, format!("{key} is empty: no credentials provider"));
        return;
    }
    // A name is wrong only if every generation in question rejects it.
    let wrong = |name: &str| {
        let kind = version::provider_kind(name);
        generations.iter().all(|g| match g {
            Credentials::SdkV1 => kind == ProviderKind::V2,
            Credentials::SdkV2 => kind == ProviderKind::V1,
        })
    };
    let bad: Vec<&str> = names.iter().copied().filter(|n| wrong(n)).collect();
    let hint = match generations {
        [Credentials::SdkV1] => "SDK v1 class names (e.g. DefaultAWSCredentialsProviderChain)",
        [Credentials::SdkV2] => "SDK v2 class names (e.g. DefaultCredentialsProvider)",
        _ => "SDK v2 names such as DefaultCredentialsProvider (KCL ≥ 2.7, 3.x) or SDK v1 names such as DefaultAWSCredentialsProviderChain (KCL ≤ 2.6)",
    };
    for name in &bad {
        let all_bad = bad.len() == names.len();
        let message = format!(
            "{key}: {name} is {} class name, which {which} cannot load; it needs {hint}{}",
            match version::provider_kind(name) {
                ProviderKind::V1 => "an AWS SDK v1",
                _ => "an AWS SDK v2",
            },
            if all_bad {
                ""
            } else {
                " (the other providers in the list still work)"
            }
        );
        if all_bad {
            report.by_certainty(certain, line, message);
        } else {
            report.warn(line, message);
        }
    }
    for name in names {
        if version::provider_kind(name) == ProviderKind::UnknownShort {
            report.warn(
                line,
                format!(
                    "{key}: {name} is not a credentials provider this check knows; the daemon skips names it cannot load ({hint})"
                ),
            );
        }
    }
}
