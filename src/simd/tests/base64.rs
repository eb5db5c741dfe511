//! Differential tests of the base64 kernel: the portable decoder against `base64_simd`
//! (what production runs without VBMI) and against the dispatch as this build compiles
//! it, and the AVX-512 VBMI decoder, where the CPU has it, against the portable decoder:
//! the same bytes for what they accept, and an error for exactly the same inputs.

use crate::simd::portable::base64 as portable;
use crate::simd::testing::{all_strings, run_or_skip, GuardPage, Rng};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// What a decoder made of an input: its bytes, or that it refused it.
type Outcome = Result<Vec<u8>, ()>;

/// What was in the output buffer before each decode: appending must keep it, and an error
/// must leave it alone.
const KEPT: &[u8] = b"kept";

/// Runs an appending decoder on `src` and checks it appended nothing where it failed.
fn appended(src: &[u8], decode: impl FnOnce(&[u8], &mut Vec<u8>) -> bool) -> Outcome {
    let mut v = KEPT.to_vec();
    if decode(src, &mut v) {
        assert_eq!(&v[..KEPT.len()], KEPT, "the output's start was overwritten");
        Ok(v.split_off(KEPT.len()))
    } else {
        assert_eq!(
            v,
            KEPT,
            "something was appended on error: {:?}",
            src.escape_ascii()
        );
        Err(())
    }
}

fn portable(src: &[u8]) -> Outcome {
    appended(src, |s, v| portable::decode_append(s, v).is_ok())
}

fn base64_simd(src: &[u8]) -> Outcome {
    appended(src, |s, v| {
        base64_simd::STANDARD.decode_append(s, v).is_ok()
    })
}

fn dispatch(src: &[u8]) -> Outcome {
    appended(src, |s, v| crate::simd::base64::decode_append(s, v).is_ok())
}

/// The VBMI decoder alone, without the fallback that would hide its refusing good input.
/// Only to be called where [`crate::simd::detected`] found VBMI.
#[cfg(target_arch = "x86_64")]
fn vbmi(src: &[u8]) -> Outcome {
    assert!(crate::simd::detected().avx512_vbmi);
    // SAFETY: the CPU has the features (asserted above).
    appended(src, |s, v| unsafe {
        crate::simd::x86_64::avx512::base64::decode_append(s, v)
    })
}

/// Checks every decoder against the portable one on `src`; the VBMI one too if `with_vbmi`.
fn check(src: &[u8], with_vbmi: bool) {
    let want = portable(src);
    let at = || format!("{} chars: {:?}", src.len(), String::from_utf8_lossy(src));
    assert_eq!(base64_simd(src), want, "base64_simd, {}", at());
    assert_eq!(dispatch(src), want, "the dispatch, {}", at());
    #[cfg(target_arch = "x86_64")]
    if with_vbmi {
        assert_eq!(vbmi(src), want, "VBMI, {}", at());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = with_vbmi;
}

/// Random data of each length in `lens`, and its standard encoding.
fn encodings(seed: u64, lens: impl IntoIterator<Item = usize>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    lens.into_iter()
        .map(|len| {
            let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let text = base64_simd::STANDARD.encode_to_string(&data).into_bytes();
            (data, text)
        })
        .collect()
}

/// Every input the tests decode, each handed to `f`: encodings of random data of 0 to 200
/// bytes and some large ones, each as it is, with one character changed at the start, the
/// middle and all through its end, with set bits after its last byte, cut short, and with
/// padding too long or out of place; and every short string over a small alphabet, alone
/// and after one and after fifteen whole quanta.
fn for_each_case(mut f: impl FnMut(&[u8])) {
    let lens = (0..=200).chain([767, 768, 769, 4095, 4096, 65_536]);
    for (data, text) in encodings(0x0b64_5eed, lens) {
        let n = text.len();
        f(&text);
        let mut changed = |at: usize, bad: u8| {
            let mut t = text.clone();
            t[at] = bad;
            f(&t);
        };
        // Every byte value at the start, the middle, and in the last quantum, and a few
        // all through the last block, the quantum before it and spread over the rest:
        // fewer in most encodings, which are slow to decode in a debug build.
        let thorough = data.len() % 8 == 0 && data.len() <= 200;
        let mut everywhere = vec![n.saturating_sub(1)];
        if data.len() <= 200 {
            everywhere.extend([
                0,
                n.saturating_sub(4),
                n.saturating_sub(3),
                n.saturating_sub(2),
            ]);
        }
        if thorough {
            everywhere.push(n / 2);
        }
        for &at in everywhere.iter().filter(|&&at| at < n) {
            (0..=u8::MAX).for_each(|bad| changed(at, bad));
        }
        let bad: &[u8] = if thorough {
            b"=!\0-_.@[{\n\\\x80\xbd\xc1\xff"
        } else {
            b"=!\x80"
        };
        let spread = (0..n).step_by((n / if thorough { 50 } else { 8 }).max(1));
        for at in (n.saturating_sub(68)..n).chain(spread) {
            for &b in bad {
                changed(at, b);
            }
        }
        // Set bits after the last byte of a short last quantum, one bit at a time.
        let pad = text.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 0 {
            let last = n - pad - 1;
            let value = ALPHABET.iter().position(|&c| c == text[last]).unwrap();
            for bit in 0..2 * pad {
                let mut t = text.clone();
                t[last] = ALPHABET[value | 1 << bit];
                f(&t);
            }
        }
        // Cut short, too long, and padding too long or where none is due.
        for extra in [
            &b"="[..],
            b"==",
            b"====",
            b"AA==",
            b"A===",
            b"=AAA",
            b"AA=A",
            b"A",
        ] {
            f(&[&text[..], extra].concat());
        }
        for k in 1..4.min(n + 1) {
            f(&text[..n - k]);
        }
        if n >= 4 && pad == 0 {
            for end in [&b"===="[..], b"A===", b"AA==", b"AAA="] {
                f(&[&text[..n - 4], end].concat());
            }
            f(&[&text[..n - 1], b"="].concat());
            f(&[&text[..n - 2], b"=="].concat());
        }
    }
    for prefix in [0, 4, 60] {
        let filler = vec![b'A'; prefix];
        let short = all_strings(b"AQgw/=!\x80", 4)
            .into_iter()
            .chain(all_strings(b"Qg=", 8));
        for s in short {
            f(&[&filler[..], &s].concat());
        }
    }
}

#[test]
fn portable_matches_base64_simd_and_the_dispatch() {
    for_each_case(|src| check(src, false));
}

#[test]
fn portable_decodes_what_it_should_and_refuses_the_rest() {
    assert_eq!(portable(b""), Ok(vec![]));
    assert_eq!(portable(b"aGVsbG8="), Ok(b"hello".to_vec()));
    assert_eq!(portable(b"AP8KDQ=="), Ok(vec![0, 0xff, b'\n', b'\r']));
    for bad in [
        &b"QR=="[..],
        b"QUJ",
        b"QQ",
        b"Q===",
        b"QQ=A",
        b"QUJD=",
        b"QU=D",
        b" QUJD",
    ] {
        assert_eq!(portable(bad), Err(()), "{:?}", bad.escape_ascii());
    }
    let mut v = Vec::new();
    let e = portable::decode_append(b"QR==", &mut v).unwrap_err();
    assert!(
        !e.to_string().is_empty(),
        "a clear error under force-portable"
    );
}

#[test]
fn every_decoder_stays_inside_inputs_that_end_at_an_unmapped_page() {
    let mut guard = GuardPage::new();
    let vbmi = crate::simd::detected().avx512_vbmi;
    for len in 0..=130 {
        let (_, text) = encodings(len as u64, [len]).remove(0);
        // The encoding and every cut of it, so that the input ends at every character of
        // a quantum and every length of a last block.
        for end in 0..=text.len().min(130) {
            check(guard.tail(&text[..end]), vbmi);
        }
    }
}

/// Unpadded inputs of one more than a multiple of four characters, up to 269: never valid
/// (the last character would carry under a byte).
fn one_past_a_quantum() -> Vec<Vec<u8>> {
    encodings(7, 0..=200)
        .into_iter()
        .map(|(_, text)| {
            let pad = text.iter().rev().take_while(|&&c| c == b'=').count();
            let text = &text[..text.len() - pad];
            let whole = text.len() - text.len() % 4;
            [&text[..whole], b"A"].concat()
        })
        .collect()
}

#[test]
fn avx512_vbmi_matches_portable_or_skipped() {
    // Only lengths of the form 4k+1 are invalid whatever the characters: two or three
    // characters after the last whole quantum are valid unpadded input. The portable
    // decoder, which runs on every CPU, confirms the inputs are what the name says.
    let refused = one_past_a_quantum();
    for src in &refused {
        assert_eq!(src.len() % 4, 1);
        assert_eq!(portable(src), Err(()), "{} chars", src.len());
    }
    let cpu = crate::simd::detected();
    run_or_skip("avx512-vbmi base64", cpu.avx512_vbmi, || {
        for_each_case(|src| check(src, true));
        #[cfg(target_arch = "x86_64")]
        {
            use crate::simd::x86_64::avx512::base64::decode;
            // The dispatch never hands `decode` such a length (padding comes off a
            // multiple of four); asked anyway, it refuses rather than drop a character.
            for src in &refused {
                let mut out = Vec::<u8>::with_capacity(src.len() * 3 / 4);
                // SAFETY: the CPU has the features (run_or_skip), and `out` the room.
                let n = unsafe { decode(src, out.spare_capacity_mut().as_mut_ptr()) };
                assert_eq!(n, None, "{} chars", src.len());
            }
        }
    });
}

/// Reads stay inside the input and writes inside the output, ending anywhere up to 64
/// bytes before a page that faults if touched, or up to 64 bytes either side of the
/// boundary of two that do not, so that the tail is in one page or across two. The bytes
/// around the input are bad characters, so that reading one would show, and those around
/// the output are checked unwritten.
#[test]
fn avx512_vbmi_stays_inside_its_input_and_output_or_skipped() {
    let cpu = crate::simd::detected();
    run_or_skip("avx512-vbmi base64", cpu.avx512_vbmi, || {
        #[cfg(target_arch = "x86_64")]
        vbmi_stays_inside_its_input_and_output();
    });
}

#[cfg(target_arch = "x86_64")]
fn vbmi_stays_inside_its_input_and_output() {
    use crate::simd::x86_64::avx512::base64::{decode, unpadded};
    // SAFETY: a fresh private mapping of two readable and writable pages and one
    // inaccessible, for the input, and the same for the output; every pointer below stays
    // inside it, and it is unmapped at the end. The CPU has VBMI (the caller's
    // run_or_skip), and each output range has the room `decode` asks for.
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
        for (data, text) in encodings(0x9e37_79b9, 0..=240) {
            let text = unpadded(&text);
            let placements = gaps().map(|gap| (gap, 0)).chain(gaps().map(|gap| (0, gap)));
            for (src_gap, out_gap) in placements {
                std::ptr::write_bytes(base, b'!', 2 * page);
                std::ptr::write_bytes(base.add(3 * page), 0xaa, 2 * page);
                let src = src_end.sub(src_gap + text.len());
                std::ptr::copy_nonoverlapping(text.as_ptr(), src, text.len());
                let src = std::slice::from_raw_parts(src, text.len());
                let out = out_end.sub(out_gap + data.len());
                let n = decode(src, out.cast());
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
