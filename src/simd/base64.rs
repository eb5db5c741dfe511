//! The base64 kernel's dispatch: decoding record data.
//!
//! - x86_64 with AVX-512 VBMI ([`super::cpu`]): the VBMI decoder, for inputs of two
//!   quanta or more; what it does not accept goes whole to `base64_simd`, which gives the
//!   error.
//! - Otherwise (x86_64 without VBMI, arm64, short inputs): `base64_simd::STANDARD`, whose
//!   own runtime dispatch picks AVX2 or NEON code. The portable decoder is deliberately
//!   not used here: it is slower, and `base64_simd` is what production has always run.
//! - Under `force-portable`: the portable decoder ([`super::portable::base64`]) alone,
//!   which accepts and decodes exactly the same; only the wording of an error differs.

use thiserror::Error;

/// Why data is not standard, padded base64. Its text is the `reason` a
/// [`crate::error::ProtocolError::InvalidBase64`] gives.
#[derive(Debug, Error)]
pub(crate) enum DecodeError {
    /// From `base64_simd` (which does not say more than that).
    #[error(transparent)]
    Simd(#[from] base64_simd::Error),
    /// From the portable decoder, under `force-portable`. Boxed, so that the error is one
    /// pointer and the `Result` of every decode comes back in registers.
    #[error(transparent)]
    Portable(Box<base64::DecodeError>),
}

/// A single quantum decodes no faster with VBMI than with base64-simd's scalar code (the
/// two were within the noise of a shared machine, 10-18 ns); from two on, VBMI was level
/// or ahead, and twice as fast by 24 characters.
#[cfg(target_arch = "x86_64")]
const MIN_VBMI: usize = 8;

/// Appends the decoding of standard, padded base64 `src` to `dst`; on error `dst` is as it
/// was.
pub(crate) fn decode_append(src: &[u8], dst: &mut Vec<u8>) -> Result<(), DecodeError> {
    if !super::SIMD {
        return super::portable::base64::decode_append(src, dst)
            .map_err(|e| DecodeError::Portable(Box::new(e)));
    }
    #[cfg(target_arch = "x86_64")]
    if src.len() >= MIN_VBMI && super::cpu().avx512_vbmi {
        // SAFETY: `cpu` found AVX-512F, AVX-512BW and AVX-512 VBMI.
        if unsafe { super::x86_64::avx512::base64::decode_append(src, dst) } {
            return Ok(());
        }
    }
    Ok(base64_simd::STANDARD.decode_append(src, dst)?)
}
