//! AVX-512 (F, BW, and BMI1 or VBMI as each kernel says), where [`crate::simd::cpu`] found it.

pub(crate) mod base64;
pub(crate) mod text;
