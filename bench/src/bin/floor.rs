//! I/O floor: the least a MultiLangDaemon child can do. It streams stdin in
//! 64 KiB reads without buffering whole lines, takes the action name from the
//! first bytes of each line (Jackson writes `"action"` first), answers the
//! status when the line ends, and at `shardEnded` sends a null checkpoint and
//! waits for the reply line before the status. No JSON parsing, no base64, no
//! logging, memory independent of line length. Exits on stdin EOF.

use std::io::{self, Read, Write};

const KEY: &[u8] = b"\"action\":\"";
const HEAD: usize = 96;

fn action(head: &[u8]) -> &[u8] {
    let Some(p) = head.windows(KEY.len()).position(|w| w == KEY) else {
        return b"";
    };
    let rest = &head[p + KEY.len()..];
    let end = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
    &rest[..end]
}

fn main() -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut out = io::stdout().lock();
    let mut buf = vec![0u8; 1 << 16];
    let mut head: Vec<u8> = Vec::with_capacity(HEAD);
    let mut awaiting_checkpoint_reply = false;
    loop {
        let n = stdin.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            let nl = memchr::memchr(b'\n', chunk);
            let upto = nl.unwrap_or(chunk.len());
            if head.len() < HEAD {
                let take = (HEAD - head.len()).min(upto);
                head.extend_from_slice(&chunk[..take]);
            }
            let Some(nl) = nl else { break };
            chunk = &chunk[nl + 1..];
            let act = action(&head).to_vec();
            head.clear();
            if act.is_empty() {
                continue;
            }
            if awaiting_checkpoint_reply {
                awaiting_checkpoint_reply = false;
                out.write_all(b"{\"action\":\"status\",\"responseFor\":\"shardEnded\"}\n")?;
                out.flush()?;
                continue;
            }
            if act == b"shardEnded" {
                out.write_all(b"{\"action\":\"checkpoint\",\"sequenceNumber\":null,\"subSequenceNumber\":null}\n")?;
                out.flush()?;
                awaiting_checkpoint_reply = true;
                continue;
            }
            let mut msg = Vec::with_capacity(64);
            msg.extend_from_slice(b"{\"action\":\"status\",\"responseFor\":\"");
            msg.extend_from_slice(&act);
            msg.extend_from_slice(b"\"}\n");
            out.write_all(&msg)?;
            out.flush()?;
        }
    }
}
