//! The portable base64 decoder: the `base64` crate's `STANDARD` engine, which accepts
//! exactly what `base64_simd::STANDARD` accepts (padding to a multiple of four, one or two
//! `=` only at the end, no set bits after the last byte) and decodes it to the same bytes;
//! the differential tests check both.
//!
//! It is the reference the AVX-512 VBMI decoder is tested against, and what the dispatch
//! takes under `force-portable`. It is not the production path anywhere: `base64_simd`,
//! with its own AVX2 and NEON code, is faster on x86_64 without VBMI and on arm64 (see
//! [`crate::simd::base64`]).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Appends the decoding of standard, padded base64 `src` to `dst`; on error `dst` is as
/// it was.
pub(crate) fn decode_append(src: &[u8], dst: &mut Vec<u8>) -> Result<(), base64::DecodeError> {
    let len = dst.len();
    // `decode_vec` appends, but leaves its zeroed room behind when it fails.
    STANDARD
        .decode_vec(src, dst)
        .inspect_err(|_| dst.truncate(len))
}
