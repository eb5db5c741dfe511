//! The x86_64 variants, one directory per instruction set. SSE2 is baseline on x86_64 and
//! needs no detection; the others are only called where [`super::cpu`] found them.

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod sse2;
