#![doc = include_str!("../README.md")]

pub mod database;
pub mod event_log;
#[cfg(feature = "testing")]
pub mod testing;
