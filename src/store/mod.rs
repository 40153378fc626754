//! Everything that writes results to disk: atomic writes, run folders, the event stream.

mod atomic;
pub mod events;
pub mod faults;
pub mod run_dir;
pub mod runs;
pub mod schema;
pub mod status;

pub use atomic::write_atomic;
pub use events::{EventSink, TrainEvent, VecSink};
pub use run_dir::RunDir;
