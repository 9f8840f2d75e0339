//! Read side of Masar.
pub mod database;
#[cfg(feature = "testing")]
pub mod testing;
