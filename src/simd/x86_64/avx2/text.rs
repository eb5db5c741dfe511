//! The text scan with AVX2, 32 bytes a step: the clean start of a long line, before the
//! SSE2 scan finds the byte itself.

use std::arch::x86_64::{
    __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8,
    _mm256_or_si256, _mm256_set1_epi8,
};

/// How many leading bytes of `b`, in whole 32-byte blocks, hold nothing below 0x20 or
/// equal to one of `also`: the block where it stops (if any) holds the first such byte.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn clean_prefix(b: &[u8], also: [u8; 2]) -> usize {
    let top = _mm256_set1_epi8(0x1f);
    let one = _mm256_set1_epi8(also[0] as i8);
    let two = _mm256_set1_epi8(also[1] as i8);
    let mut i = 0;
    while i + 32 <= b.len() {
        // SAFETY: the load reads the 32 bytes of `b` from `i`.
        let x = unsafe { _mm256_loadu_si256(b.as_ptr().add(i).cast::<__m256i>()) };
        let low = _mm256_cmpeq_epi8(_mm256_min_epu8(x, top), x);
        let equal = _mm256_or_si256(_mm256_cmpeq_epi8(x, one), _mm256_cmpeq_epi8(x, two));
        if _mm256_movemask_epi8(_mm256_or_si256(low, equal)) != 0 {
            break;
        }
        i += 32;
    }
    i
}
