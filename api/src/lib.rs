//! Masar server.
