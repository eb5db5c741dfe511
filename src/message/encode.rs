//! This side's messages: ASCII-only JSON with exactly the keys the daemon accepts.

/// Appends `s` as a JSON string literal using only ASCII (non-ASCII as `\u` escapes), so
/// the daemon reads it back intact whatever the JVM's default charset.
pub(super) fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || (c as u32) >= 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
                }
            }
            c => out.push(c as u8),
        }
    }
    out.push(b'"');
}

/// Appends the status that ends an action: exactly `action` and `responseFor`.
pub(crate) fn encode_status(out: &mut Vec<u8>, response_for: &str) {
    out.extend_from_slice(b"{\"action\":\"status\",\"responseFor\":");
    push_json_string(out, response_for);
    out.push(b'}');
}

/// Appends a checkpoint request. `None` for the sequence number means "everything
/// delivered so far" (or SHARD_END during `shardEnded`).
pub(crate) fn encode_checkpoint(
    out: &mut Vec<u8>,
    sequence_number: Option<&str>,
    sub: Option<u64>,
) {
    out.extend_from_slice(b"{\"action\":\"checkpoint\",\"sequenceNumber\":");
    match sequence_number {
        Some(seq) => push_json_string(out, seq),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"subSequenceNumber\":");
    match sub {
        Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}
