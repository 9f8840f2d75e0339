#![doc = include_str!("../README.md")]

pub mod activities;
pub mod beneficiaries;
pub mod copy;
pub mod database;
pub mod event_log;
pub mod feed;
pub mod indicators;
pub mod rebuild;
#[cfg(feature = "testing")]
pub mod testing;
pub mod verify;
