//! The timestamps of a line's head.

use super::super::bytes::Bytes;
use super::super::clock::{civil_from_days, write_clock, write_rfc3339};

#[test]
fn dates() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(19_683), (2023, 11, 22));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    let mut v = Vec::new();
    write_rfc3339(&mut Bytes(&mut v), 1_700_000_000, 123);
    assert_eq!(v, b"2023-11-14T22:13:20.123Z");
    v.clear();
    write_clock(&mut Bytes(&mut v), 86_399, 9);
    assert_eq!(v, b"23:59:59.009");
    v.clear();
    write_clock(&mut Bytes(&mut v), 86_400 * 5 + 3600 + 61, 450);
    assert_eq!(v, b"01:01:01.450");
}
