//! The pieces of the indicator reference test: the seeded scenario and the independent
//! computation of INDICATORS.md.

pub mod compute;
pub mod scenario;
