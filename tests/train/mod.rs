mod config;
mod crash;
mod metrics;
mod micro_batches;
mod optimizer;
pub(crate) mod runs;
