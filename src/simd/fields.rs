//! The fields kernel's dispatch: the scans the `processRecords` fast path
//! ([`crate::fast`]) makes over partition keys, sequence numbers and numbers.
//!
//! SSE2 on x86_64, the portable (SWAR) kernel elsewhere and under `force-portable`. The
//! choice is a constant ([`super::SIMD`] and `cfg`), not a runtime check: these run a few
//! times a record and inline into the parser, so the dispatch folds away.

use super::portable::fields as portable;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use super::x86_64::sse2::fields as sse2;

/// For a short string (a partition key, a sequence number) whose opening quote is
/// consumed: the length of its printable-ASCII content if its closing quote comes before
/// any other byte that needs a look (a backslash, a control character, a non-ASCII byte,
/// the end of `b`). `None` sends the caller to the exact checks, so this only decides
/// speed.
#[inline(always)]
pub(crate) fn printable_until_quote(b: &[u8]) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if super::SIMD {
        return sse2::printable_until_quote(b);
    }
    portable::printable_until_quote(b)
}

/// How many ASCII digits `b` starts with.
#[inline(always)]
pub(crate) fn leading_digits(b: &[u8]) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if super::SIMD {
        return sse2::leading_digits(b);
    }
    portable::leading_digits(b)
}

/// How many ASCII digits (0 to 16) `block` starts with.
#[inline(always)]
pub(crate) fn digits_in_block(block: &[u8; 16]) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if super::SIMD {
        return sse2::digits_in_block(block);
    }
    portable::digits_in_block(block)
}
