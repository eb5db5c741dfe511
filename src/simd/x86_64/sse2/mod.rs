//! SSE2 (baseline on x86_64: no detection needed).

pub(crate) mod fields;
pub(crate) mod text;
