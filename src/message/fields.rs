//! How the general (`serde_json`) path reads the fields whose form the daemon varies:
//! strings borrowed from the line where they have no escapes, sequence numbers sent as
//! strings or numbers, integers by the crate's one rule.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::excerpt;

/// Borrows a string from the line when it has no escapes (serde's own `Cow` support does
/// not borrow inside an `Option`, which would cost three allocations per record).
pub(super) fn borrowed_str<'de: 'a, 'a, D>(d: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct CowStr<'a>(Cow<'a, str>);
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = CowStr<'de>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(CowStr(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(CowStr(Cow::Owned(v.to_string())))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(CowStr(Cow::Owned(v)))
        }
    }
    impl<'de> Deserialize<'de> for CowStr<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(Visitor)
        }
    }
    Ok(Option::<CowStr<'de>>::deserialize(d)?.map(|c| c.0))
}

/// [`borrowed_str`]'s bytes.
pub(super) fn borrowed_bytes<'de: 'a, 'a, D>(d: D) -> Result<Option<Cow<'a, [u8]>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(borrowed_str(d)?.map(|s| match s {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }))
}

/// Jackson writes sequence numbers as strings, but coerces numbers; accept both.
///
/// A number is kept as the digits it was written with, never through a float (a 56-digit
/// sequence number is not an `f64`): its raw text is taken, and it must be a non-negative
/// integer. Any other number (`-5`, `1.5`, `4.9e55`) is refused: it cannot be a position,
/// and a string made of it would only be logged or echoed as something the daemon never
/// meant. The raw text comes from `serde_json`'s `RawValue` rather than its
/// `arbitrary_precision` feature, which would change how every number in the crate is
/// parsed.
pub(super) fn string_or_number<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let Some(raw) = Option::<&'de RawValue>::deserialize(d)? else {
        return Ok(None);
    };
    let text = raw.get();
    if text.starts_with('"') {
        // A string: unescaped by serde_json, as any other string is.
        return serde_json::from_str::<String>(text)
            .map(Some)
            .map_err(D::Error::custom);
    }
    if crate::sequence::is_numeric(text) {
        return Ok(Some(text.to_string()));
    }
    Err(D::Error::custom(format_args!(
        "sequenceNumber {}: a sequence number sent as a JSON number must be a non-negative integer",
        excerpt(text.as_bytes())
    )))
}

/// An integer field, read by the rule the fast path uses too ([`crate::number::integer`]):
/// from the number's raw text, so that `serde_json`'s own reading of numbers (`-0` as a
/// float, say) cannot make the two paths disagree.
pub(super) fn integer_field<'de, D, T>(d: D, field: &str) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i128>,
{
    use serde::de::Error as _;
    let Some(raw) = Option::<&'de RawValue>::deserialize(d)? else {
        return Ok(None);
    };
    crate::number::integer(raw.get().as_bytes())
        .map(Some)
        .map_err(|err| {
            D::Error::custom(format_args!(
                "{field} {}: {err}",
                excerpt(raw.get().as_bytes())
            ))
        })
}

pub(super) fn sub_sequence_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    integer_field(d, "subSequenceNumber")
}

pub(super) fn arrival_timestamp<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    integer_field(d, "approximateArrivalTimestamp")
}

pub(super) fn millis_behind_latest<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    integer_field(d, "millisBehindLatest")
}
