#![doc = include_str!("../README.md")]

pub mod admin;
pub mod auth;
pub mod batch;
pub mod cli;
pub mod demo;
pub mod graphql;
pub mod indicator_updates;
pub mod notices;
pub mod privacy;
pub mod private_file;
pub mod record;
pub mod seal_key;
pub mod server;
pub mod write;
