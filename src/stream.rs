//! Streaming a `processRecords` line: each record is parsed, decoded and handed over while
//! the rest of the line is still in the pipe.
//!
//! A 10 000-record batch is a line of several megabytes; holding it, its decoded data and
//! a record vector is what made a child's memory grow with the batch. Streamed, the child
//! holds a read window and one decoded record, whatever the batch size, and each record is
//! still in the CPU's caches when the processor sees it.
//!
//! Only the `records` array is streamed. The line must start as Jackson writes it (the
//! run loop checks [`HEADER`] before coming here); a record that is not in the fast path's
//! shape is cut out by a JSON-aware scan and parsed by serde; what follows the array is
//! parsed by serde as well, so unknown keys there are ignored as on the batch path.

use std::io::Read;

use crate::error::{excerpt, ProtocolError, RunError};
use crate::fast::{self, Stop, HEADER};
use crate::lines::{LineBuf, LineReader};
use crate::message::{
    check_sequence_number, decode_append, parse_message, record_with, Message, WireRecord,
};
use crate::record::Record;
use crate::sequence::RunningMax;

/// What a streamed batch added up to.
#[derive(Debug, Default)]
pub(crate) struct Streamed {
    /// Records handed over.
    pub(crate) count: u64,
    /// Their decoded data, in bytes.
    pub(crate) bytes: u64,
    /// The largest position among them.
    pub(crate) largest: RunningMax,
    /// `millisBehindLatest` from the end of the line.
    pub(crate) millis_behind_latest: Option<u64>,
}

/// How a streamed line ended.
#[derive(Debug)]
pub(crate) enum StreamEnd {
    /// The whole line was read.
    Done(Streamed),
    /// The input ended inside the line: the daemon is gone.
    Eof {
        /// Records handed over before it did.
        count: u64,
    },
}

/// The least a read asks for while a record is incomplete: small records never wait for a
/// second read, and a large one is read in pipe-sized steps.
const MIN_READ_AHEAD: usize = 64 << 10;

/// Reads the rest of a `processRecords` line that `window` starts with [`HEADER`], calling
/// `each` for every record in order. `arena` holds the current record's decoded data.
///
/// A record that cannot be decoded, or a line that turns out to be malformed, is an error
/// after the records before it were handed over: they were not acknowledged, so the daemon
/// delivers them again; nothing is lost.
pub(crate) fn stream_records<R: Read>(
    input: &mut LineReader<R>,
    window: &mut LineBuf,
    arena: &mut Vec<u8>,
    mut each: impl FnMut(&Record<'_>) -> Result<(), RunError>,
) -> Result<StreamEnd, RunError> {
    debug_assert!(window.line().starts_with(HEADER));
    let mut out = Streamed::default();
    // Per record: whether it needs the exact parser, and how far its data is searched.
    let mut exact = false;
    let mut data_scanned = 0;
    let mut piecewise = false;
    let mut at = HEADER.len();
    let mut first = true;
    loop {
        if piecewise {
            // `at` is inside a large record's data; what came before is decoded in `arena`.
            let rest = &window.line()[at..];
            let from = data_scanned.min(rest.len());
            let Some(quote) = memchr::memchr(b'"', &rest[from..]).map(|i| from + i) else {
                // Decode what is here in whole groups of four and drop it from the window.
                let whole = rest.len() / 4 * 4;
                // Padding can only end the data: inside it, let the exact path report it.
                if !decode_piece(&rest[..whole], arena) {
                    unpiece(window, &mut at, arena);
                    (piecewise, exact, data_scanned) = (false, true, 0);
                    continue;
                }
                at += whole;
                data_scanned = rest.len() - whole;
                if !refill(input, window, &mut at, MIN_READ_AHEAD)? {
                    return Ok(StreamEnd::Eof { count: out.count });
                }
                continue;
            };
            // The rest of the record must be here before the last piece is decoded, so that
            // a retry never decodes a piece twice.
            match fast::fields_at(&rest[quote..]) {
                Ok((wire, used))
                    if crate::simd::base64::decode_append(&rest[..quote], arena).is_ok() =>
                {
                    deliver(&wire, arena, &mut out, &mut each)?;
                    at += quote + used;
                    (piecewise, first, data_scanned) = (false, false, 0);
                }
                Err(Stop::More) => {
                    data_scanned = quote;
                    if !refill(input, window, &mut at, MIN_READ_AHEAD)? {
                        return Ok(StreamEnd::Eof { count: out.count });
                    }
                }
                _ => {
                    unpiece(window, &mut at, arena);
                    (piecewise, exact, data_scanned) = (false, true, 0);
                }
            }
            continue;
        }
        // Between records: skip blanks, then expect a separator (or the array's end).
        let bytes = window.line();
        while at < bytes.len() && matches!(bytes[at], b' ' | b'\t' | b'\r') {
            at += 1;
        }
        let Some(&next) = bytes.get(at) else {
            if !refill(input, window, &mut at, 1)? {
                return Ok(StreamEnd::Eof { count: out.count });
            }
            continue;
        };
        match next {
            b']' => break,
            b',' if !first => {
                at += 1;
                first = true;
                continue;
            }
            b'{' if first => {}
            _ => {
                return Err(
                    malformed(&bytes[at..], "expected a record, ',' or ']' in \"records\"").into(),
                )
            }
        }
        // One record: the fast path, or a JSON-aware scan to its end and serde.
        let bytes = window.line();
        let mut parsed = None;
        if !exact {
            match fast::record_at(&bytes[at..], &mut data_scanned) {
                Ok((wire, used)) => {
                    arena.clear();
                    // The fast path takes data up to the first quote: an escape there (or
                    // bad base64) shows as data that does not decode. Serde decides.
                    match decode_append(&wire, arena) {
                        Ok(()) => parsed = Some((wire, used)),
                        Err(_) => exact = true,
                    }
                }
                // A large record: decode its data as it arrives instead of growing the
                // window to hold it all.
                Err(Stop::More)
                    if data_scanned >= PIECEWISE_FROM && bytes[at..].starts_with(DATA_KEY) =>
                {
                    arena.clear();
                    at += DATA_KEY.len();
                    piecewise = true;
                    continue;
                }
                Err(Stop::More) => {}
                Err(Stop::Other) => exact = true,
            }
        }
        if exact {
            if let Some(used) = object_end(&bytes[at..])? {
                let object = &bytes[at..at + used];
                let wire = parse_record(object)?;
                // Before decoding, as the batch path refuses the line before decoding any.
                check_sequence_number(&wire, object)?;
                arena.clear();
                decode_append(&wire, arena)?;
                parsed = Some((wire, used));
            }
        }
        let Some((wire, used)) = parsed else {
            // Ask for twice what is held, so a large record is re-parsed O(1) times.
            let have = window.line().len() - at;
            if !refill(input, window, &mut at, (have + 1).max(MIN_READ_AHEAD))? {
                return Ok(StreamEnd::Eof { count: out.count });
            }
            continue;
        };
        exact = false;
        data_scanned = 0;
        deliver(&wire, arena, &mut out, &mut each)?;
        at += used;
        first = false;
    }
    // The rest of the line is short: read it whole and let serde parse it after the
    // header, so it means what it would mean on the batch path.
    let mut scanned = 0;
    let end = loop {
        let line = window.line();
        if let Some(i) = memchr::memchr(b'\n', &line[at + scanned..]) {
            break at + scanned + i + 1;
        }
        scanned = line.len() - at;
        if !refill(input, window, &mut at, 1)? {
            return Ok(StreamEnd::Eof { count: out.count });
        }
    };
    let mut tail = Vec::with_capacity(HEADER.len() + end - at);
    tail.extend_from_slice(HEADER);
    tail.extend_from_slice(&window.line()[at..end]);
    match parse_message(&tail) {
        Ok(Message::ProcessRecords {
            records,
            millis_behind_latest,
        }) if records.is_empty() => out.millis_behind_latest = millis_behind_latest,
        Ok(_) => return Err(malformed(&tail, "unexpected keys after \"records\"").into()),
        Err(err) => return Err(err.into()),
    }
    input.unread(&window.line()[end..]);
    window.clear();
    Ok(StreamEnd::Done(out))
}

/// Hands one record (its data decoded in `arena`) to `each`, and counts it.
fn deliver(
    wire: &WireRecord<'_>,
    arena: &[u8],
    out: &mut Streamed,
    each: &mut impl FnMut(&Record<'_>) -> Result<(), RunError>,
) -> Result<(), RunError> {
    let record = record_with(wire, arena);
    out.count += 1;
    out.bytes += record.data.len() as u64;
    let (seq, sub) = record.position_parts();
    out.largest.offer(seq, sub);
    each(&record)
}

/// Decodes a piece of a large record's data (whole groups of four, not its end) onto
/// `arena`; `false` if it does not decode, or ends in padding, which only the end of the
/// data may have: decoded piece by piece, `QQ==QUFB` would pass where the whole is invalid.
fn decode_piece(piece: &[u8], arena: &mut Vec<u8>) -> bool {
    if piece.last() == Some(&b'=') {
        return false;
    }
    // Room grows by doubling, not by each piece's exact size.
    arena.reserve(piece.len() / 4 * 3);
    crate::simd::base64::decode_append(piece, arena).is_ok()
}

/// Puts a large record back together as it came (its decoded pieces encoded again, which
/// gives back the same text: only valid, canonical base64 was decoded), for the exact
/// parser to take it from the start.
fn unpiece(window: &mut LineBuf, at: &mut usize, arena: &[u8]) {
    let rest = &window.line()[*at..];
    let mut text = Vec::with_capacity(DATA_KEY.len() + arena.len() / 3 * 4 + 4 + rest.len());
    text.extend_from_slice(DATA_KEY);
    base64_simd::STANDARD.encode_append(arena, &mut text);
    text.extend_from_slice(rest);
    window.replace(&text);
    *at = 0;
}

/// How a Jackson-shaped record starts.
const DATA_KEY: &[u8] = br#"{"data":""#;

/// A record whose data has this much in the window without its end is decoded piece by
/// piece: the window then stays the size of a read, not of the record, and no part of the
/// record is moved or searched twice.
const PIECEWISE_FROM: usize = 256 << 10;

/// Reads until at least `more` bytes follow `at` (or a line ends). Returns `false` if the
/// input ended first.
///
/// What is parsed (before `at`) is dropped by moving the rest to the front, but only when
/// that is cheap or the room is needed: after a large record, the next one's first
/// megabyte may already be in the window, and moving it for every record would be one
/// more pass over every byte.
fn refill<R: Read>(
    input: &mut LineReader<R>,
    window: &mut LineBuf,
    at: &mut usize,
    more: usize,
) -> Result<bool, RunError> {
    let len = window.line().len();
    if *at > 0 && (len - *at <= CHEAP_MOVE || window.room() < len + more) {
        window.consume(*at);
        *at = 0;
    }
    Ok(input.fill_to(window, window.line().len() + more)?)
}

/// Moving this much to the front of the window costs less than a read.
const CHEAP_MOVE: usize = 4 << 10;

/// Parses one record object with serde, repairing bytes that are not UTF-8 as the batch
/// path does.
fn parse_record(object: &[u8]) -> Result<WireRecord<'_>, ProtocolError> {
    match serde_json::from_slice::<WireRecord<'_>>(object) {
        Ok(wire) => Ok(wire),
        Err(err) if std::str::from_utf8(object).is_err() => {
            let repaired = String::from_utf8_lossy(object).into_owned();
            serde_json::from_str::<WireRecord<'_>>(&repaired)
                .map(WireRecord::into_owned)
                .map_err(|_| malformed(object, err.to_string()))
        }
        Err(err) => Err(malformed(object, err.to_string())),
    }
}

/// The length of the JSON object `bytes` starts with, or `None` if `bytes` ends inside it.
/// A raw newline is an error: the line ended inside a record.
fn object_end(bytes: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip the string: to the next quote that no backslash escapes.
                i += 1;
                loop {
                    let Some(j) = memchr::memchr3(b'"', b'\\', b'\n', &bytes[i..]) else {
                        return Ok(None);
                    };
                    i += j;
                    match bytes[i] {
                        b'"' => break,
                        b'\\' => i += 2,
                        _ => return Err(malformed(bytes, "the line ends inside a string")),
                    }
                    if i >= bytes.len() {
                        return Ok(None);
                    }
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(Some(i + 1));
                }
            }
            b'\n' => return Err(malformed(bytes, "the line ends inside a record")),
            _ => {}
        }
        i += 1;
    }
    Ok(None)
}

fn malformed(bytes: &[u8], reason: impl Into<String>) -> ProtocolError {
    ProtocolError::Malformed {
        reason: reason.into(),
        line: excerpt(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_decode_onto_what_came_before_and_padding_cannot_end_one() {
        let mut arena = b"ab".to_vec();
        assert!(decode_piece(b"", &mut arena));
        assert!(decode_piece(b"QUJD", &mut arena));
        assert!(decode_piece(b"REVG", &mut arena));
        assert_eq!(arena, b"abABCDEF");
        for bad in [&b"QQ=="[..], b"QUI=", b"QU!D", b"QUJDQ===", b"Q=JD"] {
            assert!(!decode_piece(bad, &mut arena), "{bad:?}");
            assert_eq!(arena, b"abABCDEF", "nothing appended for {bad:?}");
        }
    }
}
