//! A reader for the `java.util.Properties` file format, as `Properties.load(InputStream)` reads
//! it — the daemon's own reader — but keeping the line each entry starts on, for the report.
//!
//! The format, in short: the file is ISO-8859-1 (each byte is one character, non-Latin-1 text
//! must be written `\uXXXX`); a line whose first non-blank character is `#` or `!` is a comment;
//! a line ending in an odd number of backslashes continues on the next one (whose leading
//! blanks are dropped); the key ends at the first unescaped `=`, `:` or blank, and the value
//! starts after blanks and at most one `=` or `:`; `\t \n \r \f \uXXXX` are escapes and any
//! other escaped character stands for itself. Trailing blanks belong to the value.

/// One `key = value` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The physical line (1-based) on which the entry starts.
    pub line: usize,
    /// The key, unescaped.
    pub key: String,
    /// The value, unescaped.
    pub value: String,
    /// Whether the entry's text held bytes above 0x7F, which the daemon reads as ISO-8859-1
    /// characters, not as UTF-8.
    pub non_ascii: bool,
}

/// A problem that makes `Properties.load` throw, so the daemon would not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The physical line (1-based) of the entry.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The file's entries in file order (duplicates kept: the last one wins in the daemon), and
/// the errors met on the way.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Every entry, in order.
    pub entries: Vec<Entry>,
    /// Entries the daemon cannot load (a malformed `\uXXXX`).
    pub errors: Vec<ParseError>,
}

/// Blanks as `Properties` sees them: space, tab and form feed (not newlines).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Parses the bytes of a properties file.
pub fn parse(bytes: &[u8]) -> Parsed {
    // ISO-8859-1: every byte is the character with the same code.
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    let lines = natural_lines(&text);
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < lines.len() {
        let (start, first) = lines[i];
        i += 1;
        let first = first.trim_start_matches(is_blank);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_owned();
        while trailing_backslashes(&logical) % 2 == 1 {
            logical.pop();
            // A continued last line just loses its backslash, as in Properties.
            let Some(&(_, next)) = lines.get(i) else {
                break;
            };
            i += 1;
            let next = next.trim_start_matches(is_blank);
            // Properties ends the logical line at an empty (or all-blank) continuation line.
            if next.is_empty() {
                break;
            }
            logical.push_str(next);
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let non_ascii = !logical.is_ascii();
        match (unescape(raw_key), unescape(raw_value)) {
            (Ok(key), Ok(value)) => parsed.entries.push(Entry {
                line: start,
                key,
                value,
                non_ascii,
            }),
            (Err(message), _) | (_, Err(message)) => {
                parsed.errors.push(ParseError {
                    line: start,
                    message,
                });
            }
        }
    }
    parsed
}

/// Splits text into (1-based line number, line) at `\n`, `\r\n` or a lone `\r`.
fn natural_lines(text: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut rest = text;
    let mut number = 1;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(end) => {
                lines.push((number, &rest[..end]));
                let skip = if rest[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = &rest[end + skip..];
                number += 1;
            }
            None => {
                lines.push((number, rest));
                rest = "";
            }
        }
    }
    lines
}

fn trailing_backslashes(s: &str) -> usize {
    s.chars().rev().take_while(|&c| c == '\\').count()
}

/// Splits a logical line into the still-escaped key and value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut has_separator = false;
    for (i, c) in line.char_indices() {
        if !escaped && (c == '=' || c == ':') {
            key_end = i;
            value_start = i + 1;
            has_separator = true;
            break;
        }
        if !escaped && is_blank(c) {
            key_end = i;
            value_start = i + 1;
            break;
        }
        escaped = c == '\\' && !escaped;
    }
    let mut value = &line[value_start..];
    // After blanks, one `=` or `:` may still follow a blank-terminated key ("key = value").
    loop {
        value = value.trim_start_matches(is_blank);
        match value.chars().next() {
            Some('=' | ':') if !has_separator => {
                has_separator = true;
                value = &value[1..];
            }
            _ => break,
        }
    }
    (&line[..key_end], value)
}

/// Resolves backslash escapes. A malformed `\uXXXX` is an error, as in `Properties.load`.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut pending_high: Option<u16> = None;
    while let Some(c) = chars.next() {
        let c = if c == '\\' {
            match chars.next() {
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = (hex.len() == 4)
                        .then(|| u16::from_str_radix(&hex, 16).ok())
                        .flatten()
                        .filter(|_| hex.chars().all(|h| h.is_ascii_hexdigit()))
                        .ok_or_else(|| {
                            format!("malformed \\uXXXX escape \"\\u{hex}\": the daemon cannot load the file")
                        })?;
                    // Java strings are UTF-16: a surrogate pair arrives as two escapes.
                    if (0xD800..0xDC00).contains(&unit) {
                        flush_lone(&mut out, pending_high.replace(unit));
                        continue;
                    }
                    if (0xDC00..0xE000).contains(&unit) {
                        if let Some(high) = pending_high.take() {
                            let code = 0x10000
                                + ((u32::from(high) - 0xD800) << 10)
                                + (u32::from(unit) - 0xDC00);
                            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                        } else {
                            out.push('\u{FFFD}');
                        }
                        continue;
                    }
                    char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}')
                }
                Some('t') => '\t',
                Some('n') => '\n',
                Some('r') => '\r',
                Some('f') => '\u{c}',
                Some(other) => other,
                // A lone trailing backslash (only possible at the end of the file) is dropped.
                None => break,
            }
        } else {
            c
        };
        flush_lone(&mut out, pending_high.take());
        out.push(c);
    }
    flush_lone(&mut out, pending_high);
    Ok(out)
}

/// A high surrogate not followed by a low one cannot be a Rust `char`: show a replacement.
fn flush_lone(out: &mut String, high: Option<u16>) {
    if high.is_some() {
        out.push('\u{FFFD}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(usize, String, String)> {
        let parsed = parse(text.as_bytes());
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        parsed
            .entries
            .into_iter()
            .map(|e| (e.line, e.key, e.value))
            .collect()
    }

    fn one(text: &str) -> (String, String) {
        let mut all = pairs(text);
        assert_eq!(all.len(), 1, "{all:?}");
        let (_, k, v) = all.remove(0);
        (k, v)
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn separators() {
        assert_eq!(one("a=b"), kv("a", "b"));
        assert_eq!(one("a = b"), kv("a", "b"));
        assert_eq!(one("a:b"), kv("a", "b"));
        assert_eq!(one("a : b"), kv("a", "b"));
        assert_eq!(one("a b"), kv("a", "b"));
        assert_eq!(one("a\t\u{c} b"), kv("a", "b"));
        assert_eq!(one("a = = b"), kv("a", "= b"));
        assert_eq!(one("a b = c"), kv("a", "b = c"));
        assert_eq!(one("a==b"), kv("a", "=b"));
        assert_eq!(one("a"), kv("a", ""));
        assert_eq!(one("a ="), kv("a", ""));
        assert_eq!(one("=b"), kv("", "b"));
    }

    #[test]
    fn blanks_and_comments() {
        assert_eq!(
            pairs("# c = d\n  ! e = f\n\n   \n  a = b  \n"),
            vec![(5, "a".into(), "b  ".into())]
        );
        // A comment does not continue, even with a trailing backslash.
        assert_eq!(pairs("# x \\\na = b"), vec![(2, "a".into(), "b".into())]);
        // `#` inside a key or value is ordinary.
        assert_eq!(one("a#b = c#d"), kv("a#b", "c#d"));
    }

    #[test]
    fn continuation_lines() {
        assert_eq!(
            pairs("a = one \\\n     two \\\n\tthree\nb = 2"),
            vec![
                (1, "a".into(), "one two three".into()),
                (4, "b".into(), "2".into())
            ]
        );
        // An even number of backslashes does not continue.
        assert_eq!(pairs("a = x\\\\\nb = y").len(), 2);
        // A `#` at the start of a continuation line is not a comment.
        assert_eq!(one("a = x\\\n  #y"), kv("a", "x#y"));
        // An empty continuation line ends the entry; the next line is a new entry.
        assert_eq!(
            pairs("a = x\\\n\nb = y"),
            vec![(1, "a".into(), "x".into()), (3, "b".into(), "y".into())]
        );
        // At the end of the file the backslash is dropped.
        assert_eq!(one("a = x\\"), kv("a", "x"));
        // The key itself may continue.
        assert_eq!(one("ke\\\n  y = v"), kv("key", "v"));
    }

    #[test]
    fn line_endings() {
        assert_eq!(
            pairs("a=1\r\nb=2\rc=3\n\rd=4"),
            vec![
                (1, "a".into(), "1".into()),
                (2, "b".into(), "2".into()),
                (3, "c".into(), "3".into()),
                (5, "d".into(), "4".into()),
            ]
        );
        assert_eq!(one("a = x\\\r\n y"), kv("a", "xy"));
    }

    #[test]
    fn escapes() {
        assert_eq!(one(r"a\ b\=c\:d = v"), kv("a b=c:d", "v"));
        assert_eq!(one(r"k = \ lead"), kv("k", " lead"));
        assert_eq!(one(r"k = a\tb\nc\rd\fe"), kv("k", "a\tb\nc\rd\u{c}e"));
        assert_eq!(one(r"k = \q\\\#"), kv("k", "q\\#"));
        assert_eq!(one(r"k = C:\\dir"), kv("k", "C:\\dir"));
        assert_eq!(one(r"k = C:\dir"), kv("k", "C:dir"));
        assert_eq!(one(r"k = \u0041\u00e9\u65E5"), kv("k", "Aé日"));
        assert_eq!(one(r"k = \uD83D\uDE00!"), kv("k", "😀!"));
        assert_eq!(one(r"\u006By = v"), kv("ky", "v"));
    }

    #[test]
    fn malformed_unicode_escape_is_an_error() {
        let parsed = parse(b"a = 1\nb = \\u12G4\nc = \\u12");
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.errors.len(), 2);
        assert_eq!(parsed.errors[0].line, 2);
        assert_eq!(parsed.errors[1].line, 3);
        assert!(parsed.errors[0].message.contains("\\u12G4"));
    }

    #[test]
    fn bytes_are_latin1() {
        let parsed = parse("k = é".as_bytes());
        let entry = &parsed.entries[0];
        // UTF-8 é (C3 A9) is two ISO-8859-1 characters to the daemon.
        assert_eq!(entry.value, "\u{c3}\u{a9}");
        assert!(entry.non_ascii);
        assert!(!parse(b"k = \\u00e9").entries[0].non_ascii);
    }

    #[test]
    fn duplicates_are_kept_in_order() {
        assert_eq!(
            pairs("a = 1\na = 2"),
            vec![(1, "a".into(), "1".into()), (2, "a".into(), "2".into())]
        );
    }
}
