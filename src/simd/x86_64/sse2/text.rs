//! The text scan with SSE2, 16 bytes a step: what x86_64 runs for every line, and after
//! the AVX2 prefix scan for the rest of a long one.

use std::arch::x86_64::{
    __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
    _mm_set1_epi8,
};

/// The index of the first byte of `b` below 0x20 or equal to one of `also`, searching from
/// `from` (`<= b.len()`): the bytes before it are known to hold none.
///
/// Safe: SSE2 is part of x86_64. Inlined, so that the caller's `also` is a constant here.
#[inline(always)]
pub(crate) fn first_special(b: &[u8], from: usize, also: [u8; 2]) -> Option<usize> {
    let mut i = from;
    // SAFETY: SSE2 is part of x86_64, so its intrinsics can always run; each load reads 16
    // bytes inside `b`, as said at each.
    unsafe {
        let top = _mm_set1_epi8(0x1f);
        let one = _mm_set1_epi8(also[0] as i8);
        let two = _mm_set1_epi8(also[1] as i8);
        // The bytes of `x` below 0x20 or equal to `one` or `two`, one bit each.
        let special = |x: __m128i| {
            let low = _mm_cmpeq_epi8(_mm_min_epu8(x, top), x);
            let equal = _mm_or_si128(_mm_cmpeq_epi8(x, one), _mm_cmpeq_epi8(x, two));
            _mm_movemask_epi8(_mm_or_si128(low, equal))
        };
        while i + 16 <= b.len() {
            // The 16 bytes of `b` from `i`.
            let x = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
            let mask = special(x);
            if mask != 0 {
                return Some(i + mask.trailing_zeros() as usize);
            }
            i += 16;
        }
        // The last few bytes: one more load that ends at the end of `b`, with the bytes
        // already checked masked off, instead of a byte loop.
        if i < b.len() && b.len() >= 16 {
            let at = b.len() - 16;
            // The last 16 bytes of `b`.
            let x = _mm_loadu_si128(b.as_ptr().add(at).cast::<__m128i>());
            let mask = special(x) >> (i - at);
            return (mask != 0).then(|| i + mask.trailing_zeros() as usize);
        }
    }
    b[i..]
        .iter()
        .position(|&c| c < 0x20 || c == also[0] || c == also[1])
        .map(|p| p + i)
}
