//! Database connection.
