//! Differential tests of the base64 kernel.
