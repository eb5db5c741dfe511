//! Differential tests of the fields kernel.
