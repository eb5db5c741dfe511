//! The text kernels' one dispatch: the search for the first byte to escape, and where the
//! CPU makes one pass pay, the search and the escaping copy that also stop at the first
//! byte that is not ASCII (so that checking UTF-8 rides on them).
//!
//! The kernels know nothing of escaping rules: a caller passes `also`, the two bytes that
//! are special besides those below 0x20, and for the copy how each special byte is spelled.

use super::portable;
#[cfg(target_arch = "x86_64")]
use super::x86_64::{avx2, avx512, sse2};
#[cfg(target_arch = "x86_64")]
use super::{cpu, SIMD};

/// Below this many bytes the AVX2 prefix scan does not pay for its feature check.
#[cfg(target_arch = "x86_64")]
const AVX2_FROM: usize = 1024;

/// The index of the first byte of `b` below 0x20 or equal to one of `also`: the first
/// byte to escape. Inlined, so that a caller's constant `also` is folded into the loop.
#[inline(always)]
pub(crate) fn first_special(b: &[u8], also: [u8; 2]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if SIMD {
        // A large record's text: twice the bytes per step where the CPU has AVX2. Short
        // lines stay on the SSE2 loop, which needs no feature check.
        let mut from = 0;
        if b.len() >= AVX2_FROM && cpu().avx2 {
            // SAFETY: AVX2 was detected. The SSE2 scan goes on from its clean prefix.
            from = unsafe { avx2::text::clean_prefix(b, also) };
        }
        return sse2::text::first_special(b, from, also);
    }
    portable::text::first_special_swar(b, also)
}

/// The kernels that stop at the first byte that is not ASCII as well as at a byte to
/// escape, on a CPU where they run a step wide enough to pay (AVX-512BW): with them one
/// pass over ASCII text both escapes it and checks it is UTF-8, where otherwise the text
/// is checked first and escaped after. Holding one is the proof that the CPU has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AsciiKernels(Proof);

#[cfg(target_arch = "x86_64")]
type Proof = ();

/// No value: no other architecture has these kernels.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proof {}

impl AsciiKernels {
    /// The kernels, if the CPU has what they need (never under `force-portable`). Cheap,
    /// but a caller that runs them per line keeps the answer.
    #[inline]
    pub(crate) fn detect() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        if SIMD && cpu().avx512_text {
            return Some(Self(()));
        }
        None
    }
}

#[cfg(target_arch = "x86_64")]
impl AsciiKernels {
    /// The index of the first byte of `s` below 0x20, equal to one of `also`, or not ASCII.
    #[inline]
    pub(crate) fn first_stop(self, s: &[u8], also: [u8; 2]) -> Option<usize> {
        // SAFETY: `self` exists only where `detect` found AVX-512F, AVX-512BW and BMI1.
        unsafe { avx512::text::first_stop(s, also) }
    }

    /// Copies `s` onto `out` while it is ASCII, each byte below 0x20 or equal to one of
    /// `also` as `spell` spells it. Returns how far it got: `s.len()`, or the index of the
    /// first byte that is not ASCII (everything before it is copied).
    #[inline]
    pub(crate) fn copy_ascii_escaped(
        self,
        out: &mut Vec<u8>,
        s: &[u8],
        also: [u8; 2],
        spell: impl Fn(u8) -> &'static [u8],
    ) -> usize {
        // SAFETY: `self` exists only where `detect` found AVX-512F, AVX-512BW and BMI1.
        unsafe { avx512::text::copy_ascii_escaped(out, s, also, spell) }
    }
}

/// Never called: there is no value to call them on (see [`Proof`]).
#[cfg(not(target_arch = "x86_64"))]
impl AsciiKernels {
    pub(crate) fn first_stop(self, _: &[u8], _: [u8; 2]) -> Option<usize> {
        match self.0 {}
    }

    pub(crate) fn copy_ascii_escaped(
        self,
        _: &mut Vec<u8>,
        _: &[u8],
        _: [u8; 2],
        _: impl Fn(u8) -> &'static [u8],
    ) -> usize {
        match self.0 {}
    }
}
