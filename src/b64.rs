//! Base64 decoding of record data: `base64-simd`, with an AVX-512 VBMI loop in front of it
//! where the CPU has one.
//!
//! Decoding is the largest single cost of a large record (a fifth of the CPU of a 1 MB
//! record with `base64-simd`'s AVX2 code). With VBMI, one byte permute translates 64
//! characters and one more packs them, so whole 64-character blocks go about twice as fast.
//! The blocks are plain 4-to-3 quanta, so decoding them here and the rest (the last quantum,
//! with any padding, and whatever is shorter than a block) with `base64-simd` gives the
//! same bytes as `base64-simd` alone; anything the loop does not accept is handed whole to
//! `base64-simd`, so errors are its errors too.

/// Appends the decoding of standard, padded base64 `src` to `dst`; on error `dst` is as it
/// was.
pub(crate) fn decode_append(src: &[u8], dst: &mut Vec<u8>) -> Result<(), base64_simd::Error> {
    #[cfg(target_arch = "x86_64")]
    if src.len() >= MIN_VBMI && vbmi::available() {
        let before = dst.len();
        // Keep at least one quantum back: the last one may hold padding, which base64-simd
        // checks.
        let blocks = (src.len() - 4) / 64;
        dst.reserve(blocks * 48 + (src.len() - blocks * 64) / 4 * 3);
        // SAFETY: the CPU has the features `vbmi::blocks` needs, and `dst` has room for
        // 48 bytes per block.
        if unsafe { vbmi::blocks(&src[..blocks * 64], dst) } {
            let tail = base64_simd::STANDARD.decode_append(&src[blocks * 64..], dst);
            if tail.is_ok() {
                return tail;
            }
        }
        dst.truncate(before);
    }
    base64_simd::STANDARD.decode_append(src, dst)
}

/// Below this, the set-up is not worth it.
const MIN_VBMI: usize = 128;

#[cfg(target_arch = "x86_64")]
mod vbmi {
    use std::arch::x86_64::{
        __m512i, _mm512_loadu_si512, _mm512_madd_epi16, _mm512_maddubs_epi16,
        _mm512_mask_storeu_epi8, _mm512_movepi8_mask, _mm512_or_si512, _mm512_permutex2var_epi8,
        _mm512_permutexvar_epi8, _mm512_set1_epi32,
    };

    pub(super) fn available() -> bool {
        std::is_x86_feature_detected!("avx512vbmi") && std::is_x86_feature_detected!("avx512bw")
    }

    /// Each character's 6-bit value, or 0x80 where it is not in the standard alphabet:
    /// indexed by the character's low seven bits (a set high bit is caught separately).
    const fn table() -> [u8; 128] {
        let mut t = [0x80u8; 128];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut i = 0;
        while i < 64 {
            t[alphabet[i] as usize] = i as u8;
            i += 1;
        }
        t
    }

    static TABLE: [u8; 128] = table();

    /// Where output byte `j` of a block comes from in the packed lanes: lane `j / 3` holds
    /// its three bytes little-endian, most significant first in the output.
    const fn pack_order() -> [u8; 64] {
        let mut order = [0u8; 64];
        let mut j = 0;
        while j < 48 {
            order[j] = ((j / 3) * 4 + (2 - j % 3)) as u8;
            j += 1;
        }
        order
    }

    static PACK: [u8; 64] = pack_order();

    /// Decodes `src` (whole 64-character blocks, no padding) onto the end of `dst`, which
    /// must have room for 48 bytes per block. Returns `false`, leaving `dst`'s length as it
    /// was, if a character is not in the alphabet.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(super) unsafe fn blocks(src: &[u8], dst: &mut Vec<u8>) -> bool {
        debug_assert!(src.len().is_multiple_of(64));
        debug_assert!(dst.capacity() - dst.len() >= src.len() / 64 * 48);
        // SAFETY (all loads and stores below): the tables are 64-byte halves of statics,
        // each block load reads 64 bytes inside `src`, and each masked store writes 48
        // bytes inside `dst`'s reserved room.
        let (low, high, pack) = unsafe {
            (
                _mm512_loadu_si512(TABLE.as_ptr().cast::<__m512i>()),
                _mm512_loadu_si512(TABLE.as_ptr().add(64).cast::<__m512i>()),
                _mm512_loadu_si512(PACK.as_ptr().cast::<__m512i>()),
            )
        };
        // Pairs of 6-bit values into 12 bits, then pairs of those into 24.
        let pairs = _mm512_set1_epi32(0x0140_0140);
        let quads = _mm512_set1_epi32(0x0001_1000);
        let out = dst.as_mut_ptr();
        let mut written = dst.len();
        for block in src.chunks_exact(64) {
            let chars = unsafe { _mm512_loadu_si512(block.as_ptr().cast::<__m512i>()) };
            let values = _mm512_permutex2var_epi8(low, chars, high);
            // A high bit in the character (not ASCII) or in its value (not base64).
            if _mm512_movepi8_mask(_mm512_or_si512(chars, values)) != 0 {
                return false;
            }
            let merged = _mm512_madd_epi16(_mm512_maddubs_epi16(values, pairs), quads);
            let bytes = _mm512_permutexvar_epi8(pack, merged);
            unsafe {
                _mm512_mask_storeu_epi8(out.add(written).cast::<i8>(), (1 << 48) - 1, bytes);
            }
            written += 48;
        }
        // SAFETY: every byte up to `written` was just stored.
        unsafe { dst.set_len(written) };
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(src: &[u8]) -> Result<Vec<u8>, String> {
        let mut v = b"kept".to_vec();
        base64_simd::STANDARD
            .decode_append(src, &mut v)
            .map(|()| v)
            .map_err(|e| e.to_string())
    }

    fn ours(src: &[u8]) -> Result<Vec<u8>, String> {
        let mut v = b"kept".to_vec();
        match decode_append(src, &mut v) {
            Ok(()) => Ok(v),
            Err(e) => {
                assert_eq!(v, b"kept", "nothing appended on error");
                Err(e.to_string())
            }
        }
    }

    #[test]
    fn agrees_with_base64_simd_on_valid_and_invalid_input() {
        #[cfg(target_arch = "x86_64")]
        if !vbmi::available() {
            eprintln!("note: no AVX-512 VBMI here; only the fallback is exercised");
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut byte = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        };
        for len in (0..700).chain([4095, 4096, 100_000]) {
            let data: Vec<u8> = (0..len).map(|_| byte()).collect();
            let text = base64_simd::STANDARD.encode_to_string(&data);
            assert_eq!(ours(text.as_bytes()), Ok([b"kept".to_vec(), data].concat()));
            // One bad character anywhere, and padding in the middle.
            if text.len() >= 8 && len % 7 == 0 {
                for at in (0..text.len()).step_by((text.len() / 50).max(1)) {
                    for bad in [b'!', b'=', b'\n', b'\\', 0x80, 0xff, 0xc1, 0xab, b'-', b'_'] {
                        let mut t = text.clone().into_bytes();
                        t[at] = bad;
                        assert_eq!(ours(&t), reference(&t), "len {len} at {at} {bad:#x}");
                    }
                }
            }
        }
        // Not a multiple of four, and non-canonical last bits.
        for text in [&b"QUJD"[..], b"QUJ", b"QUI=", b"QUJ=", b"QR==", b"QQ=="] {
            let long = [vec![b'A'; 256], text.to_vec()].concat();
            assert_eq!(ours(&long), reference(&long), "{text:?}");
        }
    }
}
