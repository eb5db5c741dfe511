//! The text kernels with AVX-512BW, 64 bytes a step: a scan and an escaping copy that stop
//! at any byte that is not ASCII as well, so that one pass over ASCII text both checks its
//! UTF-8 and escapes it.

use std::arch::x86_64::{
    __m512i, _mm512_cmpeq_epi8_mask, _mm512_cmple_epu8_mask, _mm512_loadu_si512,
    _mm512_mask_storeu_epi8, _mm512_maskz_loadu_epi8, _mm512_movepi8_mask, _mm512_set1_epi8,
};

/// Where a search or copy of text stops, 64 bytes at a time: at a byte below 0x20 or equal
/// to one of `also`, or (its sign bit) one that is not ASCII.
#[derive(Clone, Copy)]
struct Stops {
    top: __m512i,
    one: __m512i,
    two: __m512i,
}

impl Stops {
    #[target_feature(enable = "avx512f,avx512bw")]
    fn new(also: [u8; 2]) -> Self {
        Self {
            top: _mm512_set1_epi8(0x1f),
            one: _mm512_set1_epi8(also[0] as i8),
            two: _mm512_set1_epi8(also[1] as i8),
        }
    }

    /// The stops among the 64 bytes of `x`, as a bit mask.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn of(self, x: __m512i) -> u64 {
        _mm512_cmple_epu8_mask(x, self.top)
            | _mm512_cmpeq_epi8_mask(x, self.one)
            | _mm512_cmpeq_epi8_mask(x, self.two)
            | _mm512_movepi8_mask(x)
    }
}

/// The index of the first byte of `s` below 0x20, equal to one of `also`, or not ASCII.
///
/// # Safety
/// The CPU must have AVX-512F, AVX-512BW and BMI1.
#[target_feature(enable = "avx512f,avx512bw,bmi1")]
pub(crate) unsafe fn first_stop(s: &[u8], also: [u8; 2]) -> Option<usize> {
    let stops = Stops::new(also);
    let mut i = 0;
    while i + 64 <= s.len() {
        // SAFETY: the load reads the 64 bytes of `s` from `i`.
        let x = unsafe { _mm512_loadu_si512(s.as_ptr().add(i).cast()) };
        let hit = stops.of(x);
        if hit != 0 {
            return Some(i + hit.trailing_zeros() as usize);
        }
        i += 64;
    }
    let here = (1u64 << (s.len() - i)) - 1;
    // SAFETY: the mask limits the load to the bytes of `s` from `i`; masked-off bytes are
    // not read, so none past the end of `s` can fault.
    let x = unsafe { _mm512_maskz_loadu_epi8(here, s.as_ptr().add(i).cast::<i8>()) };
    let hit = stops.of(x) & here;
    (hit != 0).then(|| i + hit.trailing_zeros() as usize)
}

/// Copies `s` onto `out` while it is ASCII, each byte below 0x20 or equal to one of `also`
/// as `spell` spells it, 64 bytes a step: a step with nothing to escape is one load, four
/// compares into mask registers and one store, and the last step's masked load and store
/// need no scalar tail. Returns how far it got: `s.len()`, or the index of the first byte
/// that is not ASCII (everything before it is copied).
///
/// # Safety
/// The CPU must have AVX-512F, AVX-512BW and BMI1.
#[target_feature(enable = "avx512f,avx512bw,bmi1")]
pub(crate) unsafe fn copy_ascii_escaped(
    out: &mut Vec<u8>,
    s: &[u8],
    also: [u8; 2],
    spell: impl Fn(u8) -> &'static [u8],
) -> usize {
    let stops = Stops::new(also);
    // Room for the rest of `s` copied as it is; only an escape, which is longer than the byte
    // it stands for, can need more.
    out.reserve(s.len());
    let mut written = out.len();
    let mut i = 0;
    while i < s.len() {
        let left = s.len() - i;
        let here = if left >= 64 {
            u64::MAX
        } else {
            (1 << left) - 1
        };
        // SAFETY: the mask limits the load to the `left` bytes of `s` from `i`.
        let x = unsafe { _mm512_maskz_loadu_epi8(here, s.as_ptr().add(i).cast::<i8>()) };
        let stop = stops.of(x) & here;
        // Everything before the first stop, or the whole step if there is none.
        let clean = here & stop.wrapping_sub(1) & !stop;
        // SAFETY: `out` has room for what is left of `s` after `written` (kept below), and
        // the store writes at most that many bytes.
        unsafe {
            _mm512_mask_storeu_epi8(out.as_mut_ptr().add(written).cast::<i8>(), clean, x);
        }
        // Not `clean.count_ones()`: without `popcnt` enabled that is a dozen instructions.
        let n = if stop == 0 {
            left.min(64)
        } else {
            stop.trailing_zeros() as usize
        };
        written += n;
        i += n;
        if stop == 0 {
            continue;
        }
        let c = s[i];
        if c >= 0x80 {
            break;
        }
        let spelling = spell(c);
        // SAFETY: the bytes up to `written` were stored above or before.
        unsafe { out.set_len(written) };
        out.reserve(spelling.len() + (s.len() - i - 1));
        out.extend_from_slice(spelling);
        written = out.len();
        i += 1;
    }
    // SAFETY: as above.
    unsafe { out.set_len(written) };
    i
}
