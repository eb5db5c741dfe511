//! AVX2, where [`crate::simd::cpu`] found it.

pub(crate) mod text;
