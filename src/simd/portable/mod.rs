//! The portable implementation of every kernel: plain Rust (word-at-a-time where that
//! pays), built on every target. It is what arm64 runs, what `force-portable` selects, and
//! the reference every other variant is tested against.

pub(crate) mod base64;
pub(crate) mod fields;
pub(crate) mod text;
