mod config;
mod metrics;
mod micro_batches;
mod optimizer;
pub(crate) mod runs;
