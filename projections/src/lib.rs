#![doc = include_str!("../README.md")]

pub mod activities;
pub mod beneficiaries;
pub mod compare;
pub mod copy;
pub mod database;
pub mod event_log;
pub mod export;
pub mod feed;
pub mod indicators;
pub mod milestone_counts;
pub mod rebuild;
pub mod seal;
#[cfg(feature = "testing")]
pub mod testing;
pub mod updates;
pub mod verify;
