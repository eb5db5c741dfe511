//! Base64 decoding of record data: an AVX-512 VBMI decoder where the CPU has one, and
//! `base64-simd` otherwise and for anything the VBMI decoder does not accept.
//!
//! Decoding is the largest single cost of a large record (a fifth of the CPU of a 1 MB
//! record with `base64-simd`'s AVX2 code). With VBMI, one byte permute translates 64
//! characters and one more packs them, so whole 64-character blocks go about twice as fast.
//! The end of the data (the last, partial block) goes through the same code with masked
//! loads and stores: handing it to `base64-simd` cost a call through its dispatch and its
//! scalar loop for every record, a few per cent of the process's CPU with 200-byte
//! records, and records under 96 bytes never reached the VBMI code at all.
//!
//! The VBMI decoder accepts only what `base64-simd`'s `STANDARD` accepts (padded to a
//! multiple of four, one or two `=` only at the end, no stray bits after the last byte),
//! and decodes it to the same bytes; whatever it does not accept is handed whole to
//! `base64-simd`, so that errors are `base64-simd`'s errors, not a second opinion.

/// Appends the decoding of standard, padded base64 `src` to `dst`; on error `dst` is as it
/// was.
pub(crate) fn decode_append(src: &[u8], dst: &mut Vec<u8>) -> Result<(), base64_simd::Error> {
    // A length that is not a multiple of four is base64-simd's error to give.
    #[cfg(target_arch = "x86_64")]
    if src.len() >= MIN_VBMI && src.len().is_multiple_of(4) && vbmi::available() {
        let data = unpadded(src);
        dst.reserve(data.len() * 3 / 4);
        // SAFETY: the CPU has the features `vbmi::decode` needs, and `dst` has the room it
        // asks for past its length; the bytes it reports written are initialised.
        if let Some(n) = unsafe { vbmi::decode(data, dst.spare_capacity_mut().as_mut_ptr()) } {
            unsafe { dst.set_len(dst.len() + n) };
            return Ok(());
        }
    }
    base64_simd::STANDARD.decode_append(src, dst)
}

/// A single quantum decodes no faster with VBMI than with base64-simd's scalar code (the
/// two were within the noise of a shared machine, 10-18 ns); from two on, VBMI was level
/// or ahead, and twice as fast by 24 characters.
#[cfg(target_arch = "x86_64")]
const MIN_VBMI: usize = 8;

/// `src` without its padding, as base64-simd counts it: from the last two characters only.
/// An `=` anywhere else is a bad character to the decoder, and so is a third `=`.
#[cfg(target_arch = "x86_64")]
fn unpadded(src: &[u8]) -> &[u8] {
    match src {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] => rest,
        _ => src,
    }
}

#[cfg(target_arch = "x86_64")]
mod vbmi {
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi8, _mm512_loadu_si512, _mm512_madd_epi16, _mm512_maddubs_epi16,
        _mm512_mask_storeu_epi8, _mm512_mask_test_epi8_mask, _mm512_maskz_loadu_epi8,
        _mm512_maskz_permutex2var_epi8, _mm512_movepi8_mask, _mm512_or_si512,
        _mm512_permutexvar_epi8, _mm512_set1_epi32, _mm512_set1_epi8, _mm512_setzero_si512,
        _mm512_storeu_si512,
    };
    use std::mem::MaybeUninit;

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
            let rotated = _mm512_permutexvar_epi8(
                _mm512_add_epi8(iota(), _mm512_set1_epi8(left as i8)),
                bytes,
            );
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

    /// Decodes `src` (its padding taken off) to `out`, which must have room for
    /// `src.len() * 3 / 4` bytes, and returns that length. `None`, with nothing in `out`
    /// to use, where base64-simd would not decode `src`: a character not in the alphabet,
    /// a length of one more than a multiple of four, or set bits after the last byte
    /// (base64-simd rejects "QR==", which would decode as "QQ==" does).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(super) unsafe fn decode(src: &[u8], out: *mut MaybeUninit<u8>) -> Option<usize> {
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

    /// Random data of 0 to 240 bytes: encodings ending in a partial block of every length
    /// (with the padding that length takes) after none to four whole blocks.
    fn encodings() -> impl Iterator<Item = (Vec<u8>, String)> {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        (0..=240).map(move |len| {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let text = base64_simd::STANDARD.encode_to_string(&data);
            (data, text)
        })
    }

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    #[test]
    fn the_end_of_the_data_agrees_with_base64_simd() {
        for (data, text) in encodings() {
            let text = text.into_bytes();
            let n = text.len();
            assert_eq!(
                ours(&text),
                Ok([b"kept".to_vec(), data.clone()].concat()),
                "{n}"
            );
            // A bad character, or `=` out of place, anywhere in the last block and the
            // quantum before it.
            for at in n.saturating_sub(68)..n {
                for bad in [
                    b'=', b'!', b'\0', b'-', b'_', b'.', b'@', b'[', b'{', 0x80, 0xbd, 0xff,
                ] {
                    let mut t = text.clone();
                    t[at] = bad;
                    assert_eq!(ours(&t), reference(&t), "{n} at {at} {bad:#x}");
                }
            }
            // Every byte value, in the first block and in the last quantum.
            for at in [0, n.saturating_sub(3)].into_iter().filter(|_| n > 0) {
                for bad in 0..=255 {
                    let mut t = text.clone();
                    t[at] = bad;
                    assert_eq!(ours(&t), reference(&t), "{n} at {at} {bad:#x}");
                }
            }
            // Unused bits set in a short last quantum, one bit at a time.
            let pad = text.iter().rev().take_while(|&&c| c == b'=').count();
            if pad > 0 {
                let last = n - pad - 1;
                let value = ALPHABET.iter().position(|&c| c == text[last]).unwrap();
                for bit in 0..2 * pad {
                    let mut t = text.clone();
                    t[last] = ALPHABET[value | 1 << bit];
                    assert!(reference(&t).is_err(), "{n} bit {bit}");
                    assert_eq!(ours(&t), reference(&t), "{n} bit {bit}");
                }
            }
            // Cut short, too long, and padding too long or where no padding is due.
            let mut variants = vec![
                [&text[..], b"="].concat(),
                [&text[..], b"=="].concat(),
                [&text[..], b"===="].concat(),
                [&text[..], b"AA=="].concat(),
                [&text[..], b"A==="].concat(),
                [&text[..], b"=AAA"].concat(),
                [&text[..], b"AA=A"].concat(),
            ];
            variants.extend((1..4.min(n + 1)).map(|k| text[..n - k].to_vec()));
            if n >= 4 && pad == 0 {
                variants.push([&text[..n - 4], b"===="].concat());
                variants.push([&text[..n - 4], b"A==="].concat());
                variants.push([&text[..n - 1], b"="].concat());
                variants.push([&text[..n - 2], b"=="].concat());
            }
            for t in variants {
                assert_eq!(ours(&t), reference(&t), "{:?}", String::from_utf8_lossy(&t));
            }
        }
    }

    /// The fallback would hide a fast path that turns down good input, and a wrong
    /// answer from the fast path could be mistaken for base64-simd's: this asks the fast
    /// path alone.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_vbmi_decoder_takes_all_good_input_and_no_bad() {
        if !vbmi::available() {
            eprintln!("note: no AVX-512 VBMI here; not tested");
            return;
        }
        let fast = |src: &[u8]| {
            let mut out = Vec::with_capacity(src.len() * 3 / 4);
            // SAFETY: the CPU has the features, and `out` the room.
            let n = unsafe { vbmi::decode(src, out.spare_capacity_mut().as_mut_ptr()) }?;
            unsafe { out.set_len(n) };
            Some(out)
        };
        for (data, text) in encodings() {
            let text = unpadded(text.as_bytes());
            assert_eq!(fast(text).as_ref(), Some(&data), "{}", text.len());
            for at in text.len().saturating_sub(68)..text.len() {
                let mut t = text.to_vec();
                t[at] = b'=';
                assert_eq!(fast(&t), None, "{} at {at}", text.len());
            }
            if !text.len().is_multiple_of(4) {
                let mut t = text.to_vec();
                let last = t.last_mut().unwrap();
                *last = ALPHABET[ALPHABET.iter().position(|c| c == last).unwrap() | 1];
                assert_eq!(fast(&t), None, "{} unused bits", text.len());
            }
            if text.len().is_multiple_of(4) {
                assert_eq!(
                    fast(&[text, b"A"].concat()),
                    None,
                    "{} plus one",
                    text.len()
                );
            }
        }
    }

    /// Reads stay inside the input and writes inside the output, ending anywhere up to 64
    /// bytes before a page that faults if touched, or up to 64 bytes either side of the
    /// boundary of two that do not, so that the tail is in one page or across two. The
    /// bytes around the input are bad characters, so that reading one would show, and
    /// those around the output are checked unwritten.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_vbmi_decoder_stays_inside_its_input_and_output() {
        if !vbmi::available() {
            eprintln!("note: no AVX-512 VBMI here; not tested");
            return;
        }
        // SAFETY: a fresh private mapping of two readable and writable pages and one
        // inaccessible, for the input, and the same for the output; unmapped at the end.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
            let map = libc::mmap(
                std::ptr::null_mut(),
                6 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            let base = map.cast::<u8>();
            for guard in [2 * page, 5 * page] {
                let guard = base.add(guard).cast();
                assert_eq!(libc::mprotect(guard, page, libc::PROT_NONE), 0);
            }
            let (src_end, out_end) = (base.add(2 * page), base.add(5 * page));
            let gaps = || (0..=64).chain(page - 64..=page + 64);
            for (data, text) in encodings() {
                let text = unpadded(text.as_bytes());
                let placements = gaps().map(|gap| (gap, 0)).chain(gaps().map(|gap| (0, gap)));
                for (src_gap, out_gap) in placements {
                    std::ptr::write_bytes(base, b'!', 2 * page);
                    std::ptr::write_bytes(base.add(3 * page), 0xaa, 2 * page);
                    let src = src_end.sub(src_gap + text.len());
                    std::ptr::copy_nonoverlapping(text.as_ptr(), src, text.len());
                    let src = std::slice::from_raw_parts(src, text.len());
                    let out = out_end.sub(out_gap + data.len());
                    let n = vbmi::decode(src, out.cast());
                    let at = format!("{} chars, gaps {src_gap} {out_gap}", text.len());
                    assert_eq!(n, Some(data.len()), "{at}");
                    let written = std::slice::from_raw_parts(out, data.len());
                    assert_eq!(written, &data[..], "{at}");
                    let before = std::slice::from_raw_parts(out.sub(64), 64);
                    let after = std::slice::from_raw_parts(out.add(data.len()), 64.min(out_gap));
                    assert!(before.iter().chain(after).all(|&b| b == 0xaa), "{at}");
                }
            }
            assert_eq!(libc::munmap(map, 6 * page), 0);
        }
    }
}
