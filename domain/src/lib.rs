#![doc = include_str!("../README.md")]

pub mod beneficiary;
pub mod directory;
pub mod disclosure;
pub mod error_code;
pub mod ids;
pub mod journey;
pub mod organisation;
pub mod programme;
pub mod values;

#[cfg(test)]
mod test_support;

pub use error_code::ErrorCode;

/// How far in the future a client's `occurred_at` may lie, compared with the server's `now`,
/// before the event is refused as dated in the future: field devices' clocks drift.
pub const MAX_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
