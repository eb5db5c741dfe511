//! The base64 decoder with AVX-512 VBMI, where [`crate::simd::cpu`] found it.
//!
//! Decoding is the largest single cost of a large record (a fifth of the CPU of a 1 MB
//! record with `base64-simd`'s AVX2 code). With VBMI, one byte permute translates 64
//! characters and one more packs them, so whole 64-character blocks go about twice as fast.
//! The end of the data (the last, partial block) goes through the same code with masked
//! loads and stores: handing it to `base64-simd` cost a call through its dispatch and its
//! scalar loop for every record, a few per cent of the process's CPU with 200-byte
//! records, and records under 96 bytes never reached the VBMI code at all.
//!
//! It accepts only what `base64-simd`'s `STANDARD` (and so the portable decoder) accepts:
//! padded to a multiple of four, one or two `=` only at the end, no stray bits after the
//! last byte; and decodes it to the same bytes. What it does not accept, the dispatch
//! hands whole to the other decoder, so that errors are that decoder's, not a second
//! opinion.

use std::arch::x86_64::{
    __m512i, _mm512_add_epi8, _mm512_loadu_si512, _mm512_madd_epi16, _mm512_maddubs_epi16,
    _mm512_mask_storeu_epi8, _mm512_mask_test_epi8_mask, _mm512_maskz_loadu_epi8,
    _mm512_maskz_permutex2var_epi8, _mm512_movepi8_mask, _mm512_or_si512, _mm512_permutexvar_epi8,
    _mm512_set1_epi32, _mm512_set1_epi8, _mm512_setzero_si512, _mm512_storeu_si512,
};
use std::mem::MaybeUninit;

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

/// The three 64-byte constants a block needs, loaded once per call.
#[derive(Clone, Copy)]
struct Tables {
    low: __m512i,
    high: __m512i,
    pack: __m512i,
}

/// Decodes up to 64 characters, those of `live` (the rest of `chars` zero), into the
/// first 48 bytes of the result; `None` if a live character is not in the alphabet.
/// Dead lanes decode as `A`, so a short last quantum leaves its unused bits, and
/// nothing else, in the bytes after its output.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn block(t: Tables, chars: __m512i, live: u64) -> Option<__m512i> {
    let values = _mm512_maskz_permutex2var_epi8(live, t.low, chars, t.high);
    // A high bit in the character (not ASCII) or in its value (not base64); dead
    // lanes are zero in both.
    if _mm512_movepi8_mask(_mm512_or_si512(chars, values)) != 0 {
        return None;
    }
    // Pairs of 6-bit values into 12 bits, then pairs of those into 24.
    let pairs = _mm512_maddubs_epi16(values, _mm512_set1_epi32(0x0140_0140));
    let quads = _mm512_madd_epi16(pairs, _mm512_set1_epi32(0x0001_1000));
    Some(_mm512_permutexvar_epi8(t.pack, quads))
}

/// Lane numbers, to rotate a vector with.
static IOTA: [u8; 64] = {
    let mut iota = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        iota[i] = i as u8;
        i += 1;
    }
    iota
};

/// How many bytes from `p` to the end of its (4 KiB) page, if a 64-byte access at `p`
/// would not fit. A masked load or store whose masked-off lanes fall in a page that
/// is not mapped in does not fault, but takes a microcode assist, and maps nothing
/// in, so it takes it again next time: 200-340 ns a decode, where a whole 200-byte
/// record otherwise takes 20-40, when a string ended 4 bytes before an untouched
/// page of its allocation, or the decoded bytes did. Memory after the input is
/// anybody's, and room in `dst` past the furthest any decode has written is often
/// untouched, so each masked access is kept to the pages its own bytes are in.
fn page_left(p: *const i8) -> Option<usize> {
    let left = 4096 - p as usize % 4096;
    (left < 64).then_some(left)
}

/// `src`, under 64 bytes, zero-extended to a vector.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn load_short(src: &[u8]) -> __m512i {
    let p = src.as_ptr().cast::<i8>();
    let live = (1u64 << src.len()) - 1;
    let Some(left) = page_left(p) else {
        // SAFETY: the lanes read are `src`'s.
        return unsafe { _mm512_maskz_loadu_epi8(live, p) };
    };
    // What is in this page, from the 64 bytes that end it, and the rest from the
    // start of the next.
    let page_end = p.wrapping_add(left);
    // SAFETY: the lanes read are `src`'s; the addresses are only used masked.
    let (here, next) = unsafe {
        let here = _mm512_maskz_loadu_epi8(live << (64 - left), page_end.wrapping_sub(64));
        let next = if src.len() > left {
            _mm512_maskz_loadu_epi8(live >> left, page_end)
        } else {
            _mm512_setzero_si512()
        };
        (here, next)
    };
    // Lane `i` is byte `i - left` of `next`, or `64 - left + i` of `here`.
    let at = _mm512_add_epi8(iota(), _mm512_set1_epi8((64 - left) as i8));
    _mm512_maskz_permutex2var_epi8(live, here, at, next)
}

/// Stores the first `n` (under 64) of `bytes` at `out`.
///
/// # Safety
/// `out` must have room for `n` bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn store_short(out: *mut i8, bytes: __m512i, n: usize) {
    let kept = (1u64 << n) - 1;
    // SAFETY: the caller gives `out` room for the lanes written; the addresses are
    // only used masked.
    unsafe {
        let Some(left) = page_left(out) else {
            _mm512_mask_storeu_epi8(out, kept, bytes);
            return;
        };
        // Rotated by `left`, the bytes for this page end a vector that ends it, and
        // the rest start one that starts the next.
        let rotated =
            _mm512_permutexvar_epi8(_mm512_add_epi8(iota(), _mm512_set1_epi8(left as i8)), bytes);
        let page_end = out.wrapping_add(left);
        _mm512_mask_storeu_epi8(page_end.wrapping_sub(64), kept << (64 - left), rotated);
        if n > left {
            _mm512_mask_storeu_epi8(page_end, kept >> left, rotated);
        }
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn iota() -> __m512i {
    // SAFETY: `IOTA` is 64 bytes.
    unsafe { _mm512_loadu_si512(IOTA.as_ptr().cast::<__m512i>()) }
}

/// Decodes `src` (its padding taken off) to `out` and returns how many bytes it wrote,
/// `src.len() * 3 / 4`. `None`, with nothing in `out` to use, where base64-simd would not
/// decode `src`: a character not in the alphabet, a length of one more than a multiple of
/// four, or set bits after the last byte (base64-simd rejects "QR==", which would decode
/// as "QQ==" does).
///
/// # Safety
/// The CPU must have AVX-512F, AVX-512BW and AVX-512 VBMI, and `out` must be valid for
/// writes of `src.len() * 3 / 4` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn decode(src: &[u8], out: *mut MaybeUninit<u8>) -> Option<usize> {
    let tail = src.len() % 64;
    // Not left by taking padding off a multiple of four; here it would drop the last
    // character unchecked.
    if tail % 4 == 1 {
        return None;
    }
    let room = src.len() * 3 / 4;
    // SAFETY: the tables are 64-byte halves of statics.
    let t = unsafe {
        Tables {
            low: _mm512_loadu_si512(TABLE.as_ptr().cast::<__m512i>()),
            high: _mm512_loadu_si512(TABLE.as_ptr().add(64).cast::<__m512i>()),
            pack: _mm512_loadu_si512(PACK.as_ptr().cast::<__m512i>()),
        }
    };
    let out = out.cast::<i8>();
    let mut written = 0;
    let blocks = src.chunks_exact(64);
    let rest = blocks.remainder();
    for chars in blocks {
        // SAFETY: `chars` is 64 bytes.
        let chars = unsafe { _mm512_loadu_si512(chars.as_ptr().cast::<__m512i>()) };
        let bytes = block(t, chars, !0)?;
        // SAFETY: `out` has room for 48 bytes a block, and what the whole vector puts
        // past them is inside `room`, to be written over by the next block or the
        // tail.
        unsafe {
            if written + 64 <= room {
                _mm512_storeu_si512(out.add(written).cast::<__m512i>(), bytes);
            } else {
                store_short(out.add(written), bytes, 48);
            }
        }
        written += 48;
    }
    if tail != 0 {
        let bytes = block(t, load_short(rest), (1 << tail) - 1)?;
        let len = tail * 3 / 4;
        // The leftover bits of a short last quantum are in the bytes after `len`.
        let unused = ((1 << 48) - 1) & !((1 << len) - 1);
        if _mm512_mask_test_epi8_mask(unused, bytes, bytes) != 0 {
            return None;
        }
        // SAFETY: `len` more bytes is what `room` has left.
        unsafe { store_short(out.add(written), bytes, len) };
        written += len;
    }
    Some(written)
}

/// Appends the decoding of standard, padded base64 `src` to `dst` and returns `true`, or
/// returns `false` with `dst` as it was where [`crate::simd::portable::base64`] would give
/// an error.
///
/// # Safety
/// The CPU must have AVX-512F, AVX-512BW and AVX-512 VBMI.
#[inline]
pub(crate) unsafe fn decode_append(src: &[u8], dst: &mut Vec<u8>) -> bool {
    // A length that is not a multiple of four is the other decoder's error to give.
    if !src.len().is_multiple_of(4) {
        return false;
    }
    let data = unpadded(src);
    dst.reserve(data.len() * 3 / 4);
    // SAFETY: the caller vouches for the CPU, and `dst` has the room `decode` asks for
    // past its length.
    let Some(n) = (unsafe { decode(data, dst.spare_capacity_mut().as_mut_ptr()) }) else {
        return false;
    };
    // SAFETY: `decode` initialised the `n` bytes after the length, inside the capacity.
    unsafe { dst.set_len(dst.len() + n) };
    true
}

/// `src` without its padding, as base64-simd counts it: from the last two characters only.
/// An `=` anywhere else is a bad character to the decoder, and so is a third `=`.
pub(crate) fn unpadded(src: &[u8]) -> &[u8] {
    match src {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] => rest,
        _ => src,
    }
}
