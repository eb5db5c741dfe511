//! Record data decoding (`decode_append`: an AVX-512 VBMI decoder where the CPU has one,
//! base64-simd otherwise) against the `base64` crate's STANDARD engine, written
//! independently: the same bytes, or both refuse. On success the bytes are appended after
//! what the buffer held; on error the buffer is as it was.
#![no_main]

use base64::Engine as _;
use kcl_multilang::fuzz_api::decode_base64_append;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|src: &[u8]| {
    let reference = base64::engine::general_purpose::STANDARD.decode(src);
    let before = b"held".to_vec();
    let mut dst = before.clone();
    let ours = decode_base64_append(src, &mut dst);
    match (&ours, &reference) {
        (Ok(()), Ok(want)) => {
            assert_eq!(
                &dst[..before.len()],
                &before[..],
                "what the buffer held changed"
            );
            assert_eq!(
                &dst[before.len()..],
                &want[..],
                "decoded differently: {:?}",
                src.escape_ascii().to_string()
            );
        }
        (Err(_), Err(_)) => assert_eq!(dst, before, "appended on error"),
        _ => panic!(
            "accepted by one decoder only: {:?}\nours: {ours:?}\nbase64: {reference:?}",
            src.escape_ascii().to_string()
        ),
    }
});
