//! Everything that writes results to disk. For now: atomic file writes.

mod atomic;

pub use atomic::write_atomic;
