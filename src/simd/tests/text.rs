//! Differential tests of the text kernel.
