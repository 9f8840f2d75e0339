//! End-to-end tests: the real `masar` binary, started as a separate process against real
//! PostgreSQL, driven over HTTP only — as an operator or a partner NGO's client would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../api/tests/common/mod.rs"]
mod common;
mod fixtures;
mod helpers;

mod auditor_recompute;
mod cli;
mod cost;
mod demo_serve;
mod erase_cli;
mod export_cli;
mod graphiql;
mod graphql;
mod health;
mod indicators_reference;
mod privacy_api;
mod roles;
mod startup;
mod subscription;
mod text_input;
mod token_cli;
mod upgrade;
mod verify_cli;
mod verify_projections_cli;
