//! Pure journey rules of Masar.
