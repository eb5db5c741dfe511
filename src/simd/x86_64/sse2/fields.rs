//! The fields kernel sixteen bytes at a time with SSE2, which every x86_64 target has: no
//! runtime detection, so these inline into the parser. The last few bytes of an input go
//! to the portable (SWAR) kernel.
//!
//! Built only where SSE2 is enabled at compile time (every x86_64 target but the
//! soft-float ones), which is what makes calling its intrinsics sound.
#![cfg(target_feature = "sse2")]

use std::arch::x86_64::{
    __m128i, _mm_add_epi8, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128,
    _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
};

use crate::simd::portable::fields as portable;

/// [`portable::printable_until_quote`], sixteen bytes a step.
#[inline(always)]
pub(crate) fn printable_until_quote(b: &[u8]) -> Option<usize> {
    let mut rest = b;
    while let Some((block, tail)) = rest.split_first_chunk::<16>() {
        let stops = stops(block);
        if stops != 0 {
            let at = stops.trailing_zeros() as usize;
            return (block[at] == b'"').then_some(b.len() - rest.len() + at);
        }
        rest = tail;
    }
    portable::printable_until_quote(rest).map(|at| b.len() - rest.len() + at)
}

/// [`portable::leading_digits`], sixteen bytes a step.
#[inline(always)]
pub(crate) fn leading_digits(b: &[u8]) -> usize {
    let mut rest = b;
    while let Some((block, tail)) = rest.split_first_chunk::<16>() {
        let stops = non_digits(block);
        if stops != 0 {
            return b.len() - rest.len() + stops.trailing_zeros() as usize;
        }
        rest = tail;
    }
    b.len() - rest.len() + portable::leading_digits(rest)
}

/// [`portable::digits_in_block`] in one step.
#[inline(always)]
pub(crate) fn digits_in_block(block: &[u8; 16]) -> usize {
    // The bit above the mask's sixteen stops the count at 16.
    (non_digits(block) | 1 << 16).trailing_zeros() as usize
}

#[inline(always)]
fn load(b: &[u8; 16]) -> __m128i {
    // SAFETY: SSE2 is enabled (the module's `cfg`); the unaligned load reads exactly the
    // sixteen bytes `b` borrows.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// The bytes that are not ASCII digits, bit `i` for byte `i`. Adding 0x50 takes
/// `'0'..='9'` to the ten lowest signed byte values, -128 to -119, and every other byte
/// above them (wrapping), so one signed compare finds the rest.
#[inline(always)]
fn non_digits(b: &[u8; 16]) -> u32 {
    let x = load(b);
    // SAFETY: SSE2 is enabled (the module's `cfg`); no memory is touched.
    let mask = unsafe {
        let shifted = _mm_add_epi8(x, _mm_set1_epi8(0x50));
        _mm_movemask_epi8(_mm_cmpgt_epi8(shifted, _mm_set1_epi8(-119)))
    };
    mask as u32
}

/// The bytes [`printable_until_quote`] stops at, bit `i` for byte `i`: a quote, a
/// backslash, a control character, or (signed, so negative) a byte from 0x80.
#[inline(always)]
fn stops(b: &[u8; 16]) -> u32 {
    let x = load(b);
    // SAFETY: SSE2 is enabled (the module's `cfg`); no memory is touched.
    let mask = unsafe {
        let low = _mm_cmplt_epi8(x, _mm_set1_epi8(0x20));
        let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
        _mm_movemask_epi8(_mm_or_si128(low, _mm_or_si128(quote, backslash)))
    };
    mask as u32
}
