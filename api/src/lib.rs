#![doc = include_str!("../README.md")]

pub mod batch;
pub mod cli;
pub mod record;
pub mod server;
pub mod write;
