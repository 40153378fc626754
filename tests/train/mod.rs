mod config;
mod crash;
mod device;
mod faults;
mod metrics;
mod micro_batches;
mod optimizer;
pub(crate) mod runs;
