#![doc = include_str!("../README.md")]

pub mod auth;
pub mod batch;
pub mod cli;
pub mod graphql;
pub mod privacy;
pub mod record;
pub mod server;
pub mod write;
