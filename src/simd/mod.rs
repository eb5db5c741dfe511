//! The crate's SIMD kernels, in the layout of `memchr`'s `src/arch/`.
//!
//! Each kernel has a portable implementation in [`portable`], built on every target, and
//! x86_64 variants in [`x86_64`], one directory per instruction set and one file per kernel
//! inside it. The file named after the kernel at this level (`text.rs`, `fields.rs`,
//! `base64.rs`) is its only dispatch: it picks a variant from [`cpu`], the one place the
//! CPU's features are detected, and the rest of the crate calls only that.
//!
//! Building with the `force-portable` feature makes every dispatch take the portable
//! implementation, so that the paths an arm64 (Graviton) machine runs are tested on x86_64
//! too: `.ci/run` runs the unit and process tests both ways. The variants themselves are
//! still compiled there, and the differential tests (`tests`) run each one the machine can
//! run against the portable implementation, whichever way the crate is built.

pub(crate) mod base64;
pub(crate) mod fields;
pub(crate) mod portable;
pub(crate) mod text;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

/// Whether the dispatches may use a SIMD variant at all: `false` under `force-portable`.
/// A constant, so the portable build carries no check and SSE2 (baseline on x86_64) none.
pub(crate) const SIMD: bool = cfg!(not(feature = "force-portable"));

/// The instruction-set extensions the x86_64 variants need, detected once per process.
/// Every field is `false` on other targets and under `force-portable`.
// Only x86_64 has variants to pick between; elsewhere the tests alone ask.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cpu {
    /// AVX2: the wide text scan.
    pub(crate) avx2: bool,
    /// AVX-512F, AVX-512BW and BMI1: the 64-byte text scan and escaping copy.
    pub(crate) avx512_text: bool,
    /// AVX-512F, AVX-512BW and AVX-512 VBMI: the base64 decoder.
    pub(crate) avx512_vbmi: bool,
}

/// The CPU's extensions, as [`Cpu`] describes them.
// Only x86_64 has variants to pick between; elsewhere the tests alone ask.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline]
pub(crate) fn cpu() -> Cpu {
    if SIMD {
        detected()
    } else {
        Cpu::default()
    }
}

/// What the CPU has, whatever `force-portable` says: the differential tests run every
/// variant the machine can run, in both builds.
// Only x86_64 has variants to pick between; elsewhere the tests alone ask.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline]
pub(crate) fn detected() -> Cpu {
    // Read per record by the base64 dispatch: a load and a test once inlined, with the
    // detection itself out of line.
    let mut bits = CPU_BITS.load(Ordering::Relaxed);
    if bits == 0 {
        bits = detect_once();
    }
    Cpu {
        avx2: bits & 1 != 0,
        avx512_text: bits & 2 != 0,
        avx512_vbmi: bits & 4 != 0,
    }
}

use std::sync::atomic::{AtomicU8, Ordering};

/// Bit 7: detected; bits 0-2: the three fields of [`Cpu`]. Relaxed is enough: every thread
/// that races to fill it computes the same value.
static CPU_BITS: AtomicU8 = AtomicU8::new(0);

#[cold]
#[inline(never)]
fn detect_once() -> u8 {
    let bits = 0x80 | detect_bits();
    CPU_BITS.store(bits, Ordering::Relaxed);
    bits
}

#[cfg(target_arch = "x86_64")]
fn detect_bits() -> u8 {
    use std::is_x86_feature_detected as has;
    let avx2 = has!("avx2");
    let avx512_text = has!("avx512f") && has!("avx512bw") && has!("bmi1");
    let avx512_vbmi = has!("avx512f") && has!("avx512bw") && has!("avx512vbmi");
    u8::from(avx2) | u8::from(avx512_text) << 1 | u8::from(avx512_vbmi) << 2
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(dead_code)]
fn detect_bits() -> u8 {
    0
}
