//! The differential tests: every variant the machine can run, checked against the portable
//! implementation of its kernel on exhaustive small inputs, random large ones, and inputs
//! that end at the last byte before an unmapped page. A variant whose instruction set this
//! CPU lacks is reported as skipped (see [`super::testing::run_or_skip`]), never passed
//! silently.

mod base64;
mod fields;
mod text;
