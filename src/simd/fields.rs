//! (to be filled: see simd/mod.rs)
